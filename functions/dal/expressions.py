"""Update expressions built from plain field maps (every name aliased: no reserved-word traps)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Update:
    """``SET``/``ADD``/``REMOVE`` clauses plus the names and values they use."""

    set_fields: dict[str, Any] = field(default_factory=dict)
    add_fields: dict[str, Any] = field(default_factory=dict)
    remove_fields: list[str] = field(default_factory=list)

    def set(self, **fields: Any) -> Update:
        for name, value in fields.items():
            if value is None:
                self.remove_fields.append(name)
            else:
                self.set_fields[name] = value
        return self

    def add(self, **fields: Any) -> Update:
        self.add_fields.update(fields)
        return self

    def remove(self, *names: str) -> Update:
        self.remove_fields.extend(names)
        return self

    @property
    def expression(self) -> str:
        clauses = []
        if self.set_fields:
            clauses.append("SET " + ", ".join(f"#{n} = :{n}" for n in self.set_fields))
        if self.add_fields:
            clauses.append("ADD " + ", ".join(f"#{n} :{n}" for n in self.add_fields))
        if self.remove_fields:
            clauses.append("REMOVE " + ", ".join(f"#{n}" for n in self.remove_fields))
        if not clauses:
            raise ValueError("an update needs at least one clause")
        return " ".join(clauses)

    def names(self, extra: Iterable[str] = ()) -> dict[str, str]:
        every = [*self.set_fields, *self.add_fields, *self.remove_fields, *extra]
        return {f"#{n}": n for n in every}

    def values(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        merged = {**self.set_fields, **self.add_fields}
        if extra:
            clash = set(extra) & set(merged)
            if clash:
                raise ValueError(f"condition values clash with update values: {clash}")
            merged.update(extra)
        return merged


_NAME = re.compile(r"#\w+")
_VALUE = re.compile(r":\w+")


def used_only(
    names: Mapping[str, str] | None,
    values: Mapping[str, Any] | None,
    *expressions: str | None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """Drop the names and values no expression uses (DynamoDB rejects unused ones).

    ``values`` are keyed without the leading colon, as ``codec.values`` expects.
    """
    text = " ".join(e for e in expressions if e)
    used_names = set(_NAME.findall(text))
    used_values = {v[1:] for v in _VALUE.findall(text)}
    return (
        {k: v for k, v in (names or {}).items() if k in used_names},
        {k: v for k, v in (values or {}).items() if k in used_values},
    )
