"""``with`` for the miner's resources: a class with a ``close`` method inherits ``Closing``
and is closed at the end of the block (the outbox, the network client, NVML, the platform
API session)."""

from __future__ import annotations

from typing import Self


class Closing:
    """``with thing:`` hands back ``thing`` and calls ``thing.close()`` on the way out."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
