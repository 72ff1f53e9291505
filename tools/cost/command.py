"""``xenblocks cost``: the options, the run, the report (text or JSON)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import tools.cost as cost_package
from tools.cost.bill import Assumptions, Line, bill
from tools.cost.prices import PRICES
from tools.cost.sample import Measurement, Schedule, measure


def _sample_minutes(text: str) -> int:
    value = int(text)
    if value < 5:
        raise argparse.ArgumentTypeError("measure at least 5 simulated minutes")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# The schedule's timings and the assumptions a run cannot measure: a ``--flag`` each (the
# field's name with dashes), defaulting to the deployed schedule and to ``Assumptions()``.
_SCHEDULE_FLAGS: tuple[tuple[str, str], ...] = (
    ("heartbeat_seconds", "rig heartbeat interval"),
    ("write_seconds", "summary write slot"),
    ("history_seconds", "history point slot"),
)
_ASSUMPTION_FLAGS: tuple[tuple[str, Callable[[str], Any], str], ...] = (
    ("blocks_per_day", float, "blocks a rig reports a day (each is verified with Argon2id)"),
    (
        "difficulty_rises_per_day",
        float,
        "how often the network's difficulty rises (each is pushed to leased rigs)",
    ),
    ("leased_share", float, "share of the rigs under a lease (0..1)"),
    ("dashboard_share", float, "share of the time an owner watches a dashboard (0..1)"),
    (
        "workers_per_owner",
        _positive_int,
        "rigs per provider (the fleet job writes one series point per owner a minute)",
    ),
)


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``xenblocks cost`` options (the CLI wires them to ``run_cost``)."""
    parser.add_argument("--workers", type=_positive_int, required=True, help="fleet size")
    deployed = Schedule.deployed()
    for field, what in _SCHEDULE_FLAGS:
        value = getattr(deployed, field)
        parser.add_argument(
            _flag(field), type=_positive_int, default=value, help=f"{what} (deployed: {value})"
        )
    parser.add_argument(
        "--batch-seconds",
        type=int,
        choices=range(301),
        metavar="0..300",
        default=deployed.batch_seconds,
        help=f"heartbeat stream batching window (deployed: {deployed.batch_seconds})",
    )
    for field, kind, what in _ASSUMPTION_FLAGS:
        parser.add_argument(_flag(field), type=kind, default=getattr(Assumptions, field), help=what)
    parser.add_argument(
        "--sample-workers", type=_positive_int, default=20, help="rigs in the measured run"
    )
    parser.add_argument(
        "--sample-minutes",
        type=_sample_minutes,
        default=60,
        help="simulated minutes measured (at least 5: every job runs)",
    )
    parser.add_argument("--json", action="store_true", help="print the lines as JSON")


def run_cost(args: argparse.Namespace) -> int:
    """``xenblocks cost``: measure, price, print. Returns the exit status."""
    schedule = replace(
        Schedule.deployed(),
        batch_seconds=args.batch_seconds,
        **{field: getattr(args, field) for field, _ in _SCHEDULE_FLAGS},
    )
    assumptions = replace(
        Assumptions(), **{field: getattr(args, field) for field, _, _ in _ASSUMPTION_FLAGS}
    )
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "XenBlocks")
    try:
        import moto  # noqa: F401 (the measured run needs it)
    except ImportError:
        print(
            "xenblocks cost measures on moto: pip install 'xenblocks-platform[local]'",
            file=sys.stderr,
        )
        return 2
    measurement = measure(schedule, sample_workers=args.sample_workers, minutes=args.sample_minutes)
    lines = bill(measurement, args.workers, assumptions=assumptions)
    if args.json:
        print(json.dumps(report(measurement, lines, args.workers), indent=2))
    else:
        print(render(measurement, lines, args.workers))
    return 0


def report(measurement: Measurement, lines: list[Line], workers: int) -> dict[str, Any]:
    total = sum(line.monthly for line in lines)
    return {
        "prices_as_of": PRICES.as_of,
        "region": PRICES.region,
        "workers": workers,
        "heartbeat_seconds": measurement.schedule.heartbeat_seconds,
        "per_worker_month": round(total / workers, 5),
        "fleet_month": round(total, 2),
        "lines": [
            {
                "service": line.service,
                "item": line.item,
                "fleet_month": round(line.monthly, 4),
                "per_worker_month": round(line.per_worker(workers), 6),
                "basis": line.basis,
            }
            for line in lines
        ],
        "measured": {
            kind: {
                "invocations": u.invocations,
                "requests": dict(u.requests),
                "write_units_per_invocation": round(u.per_invocation(u.write_units), 4),
                "read_units_per_invocation": round(u.per_invocation(u.read_units), 4),
                "log_bytes_per_invocation": round(u.per_invocation(u.log_bytes), 1),
                "cpu_ms_per_invocation": round(1000 * u.per_invocation(u.cpu_seconds), 3),
            }
            for kind, u in sorted(measurement.usage.items())
        },
    }


def render(measurement: Measurement, lines: list[Line], workers: int) -> str:
    total = sum(line.monthly for line in lines)
    schedule = measurement.schedule
    out = [
        f"Monthly AWS cost for {workers:,} workers, heartbeats every "
        f"{schedule.heartbeat_seconds} s (summary {schedule.write_seconds} s, history "
        f"{schedule.history_seconds} s)",
        f"List prices: {PRICES.region}, as of {PRICES.as_of}. "
        f"Measured: {measurement.sample_workers} "
        f"rigs x {measurement.minutes} simulated minutes through the real handlers on moto "
        f"({measurement.wall_seconds:.0f} s).",
        "",
        f"{'service':<12} {'item':<42} {'fleet $/month':>14} {'$/worker-month':>15}",
    ]
    for line in lines:
        out.append(
            f"{line.service:<12} {line.item:<42} {line.monthly:>14,.2f} "
            f"{line.per_worker(workers):>15.5f}"
        )
    out.append(f"{'':<12} {'total':<42} {total:>14,.2f} {total / workers:>15.5f}")
    out.append("")
    out.append("basis:")
    out += [f"  {line.service} {line.item}: {line.basis}" for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover (the CLI wires run_cost)
    parser = argparse.ArgumentParser(prog="xenblocks cost", description=cost_package.__doc__)
    add_cost_arguments(parser)
    return run_cost(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
