"""The base every stored domain object shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """An item as the domain sees it: typed, immutable, unknown attributes ignored.

    Index-only attributes (``open_market``, ``due_shard``…) live on the item but not on the
    record: the repository that owns the item derives them from the record's fields.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)
