"""A rig's baseline as compact JSON, so the baselines job can store it and ingest read it
back without recomputing (``StoredBaseline.baseline_json``)."""

from __future__ import annotations

import json
from typing import Any

from functions.logic.anomaly import GpuBaseline, RigBaseline
from functions.logic.robust import Linear, Spread

VERSION = 1


def encode(baseline: RigBaseline) -> str:
    data = {
        "v": VERSION,
        "points": baseline.points,
        "since": baseline.since,
        "until": baseline.until,
        "model": baseline.gpu_model,
        "work": _spread_out(baseline.work),
        "active": baseline.active_gpus,
        "gpus": [_gpu_out(g) for g in baseline.gpus.values()],
    }
    return json.dumps(data, separators=(",", ":"))


def decode(text: str) -> RigBaseline:
    """The baseline ``encode`` wrote; ValueError for anything else (a newer version, a
    damaged item)."""
    try:
        data = json.loads(text)
        if data.get("v") != VERSION:
            raise ValueError(f"baseline version {data.get('v')!r} is not {VERSION}")
        gpus = [_gpu_in(g) for g in data["gpus"]]
        return RigBaseline(
            points=int(data["points"]),
            since=int(data["since"]),
            until=int(data["until"]),
            gpu_model=data["model"],
            work=_spread_in(data["work"]),
            active_gpus=None if data["active"] is None else int(data["active"]),
            gpus={g.index: g for g in gpus},
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"malformed baseline: {error}") from error


def _spread_out(s: Spread | None) -> list[float] | None:
    return None if s is None else [s.center, s.scale]


def _spread_in(value: Any) -> Spread | None:
    if value is None:
        return None
    center, scale = value
    return Spread(float(center), float(scale))


def _linear_out(fit: Linear | None) -> dict[str, Any] | None:
    if fit is None:
        return None
    return {"i": fit.intercept, "s": list(fit.slopes), "r": _spread_out(fit.residual)}


def _linear_in(value: Any) -> Linear | None:
    if value is None:
        return None
    residual = _spread_in(value["r"])
    if residual is None:
        raise ValueError("a fit without its residual spread")
    return Linear(float(value["i"]), tuple(float(s) for s in value["s"]), residual)


def _gpu_out(g: GpuBaseline) -> dict[str, Any]:
    return {
        "i": g.index,
        "work": _spread_out(g.work),
        "power": _spread_out(g.power),
        "eff": _spread_out(g.efficiency),
        "temp": _spread_out(g.temperature),
        "heat": _linear_out(g.heat),
        "heat_power": g.heat_uses_power,
        "fan": _linear_out(g.fan_curve),
    }


def _gpu_in(value: Any) -> GpuBaseline:
    return GpuBaseline(
        index=int(value["i"]),
        work=_spread_in(value["work"]),
        power=_spread_in(value["power"]),
        efficiency=_spread_in(value["eff"]),
        temperature=_spread_in(value["temp"]),
        heat=_linear_in(value["heat"]),
        heat_uses_power=bool(value["heat_power"]),
        fan_curve=_linear_in(value["fan"]),
    )
