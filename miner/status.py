"""What ``xenblocks-miner run`` shows: a live status line per device, or JSON for services.

On a terminal the lines are redrawn in place every second; written to a file or a pipe,
one summary line is printed every ``PLAIN_EVERY`` seconds instead. With ``--json`` every
log record and every status is one JSON object per line, for journald or a log shipper.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

PLAIN_EVERY = 30.0
_UNITS = ((1e9, "GH/s"), (1e6, "MH/s"), (1e3, "kH/s"))


def format_hashrate(hashes_per_second: float) -> str:
    for scale, unit in _UNITS:
        if hashes_per_second >= scale:
            return f"{hashes_per_second / scale:,.2f} {unit}"
    return f"{hashes_per_second:,.1f} H/s"


def format_duration(seconds: int) -> str:
    minutes, secs = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def status_lines(snapshot: dict[str, Any]) -> list[str]:
    """One line per device, then the rig's line."""
    lines = [
        f"  {name:<10} {format_hashrate(rate):>14}" for name, rate in snapshot["devices"].items()
    ]
    lease = snapshot.get("lease")
    lease_text = (
        f"lease {lease[:12]} {format_duration(snapshot.get('lease_seconds_left') or 0)} left"
        if lease
        else "no lease"
    )
    state = snapshot["state"] + (" (paused)" if snapshot.get("paused") else "")
    source = snapshot.get("difficulty_source")
    difficulty = f"diff {snapshot['difficulty']}" + (f" ({source})" if source else "")
    lines.append(
        f"  {snapshot['worker_id']}  {format_hashrate(snapshot['hashrate'])}  "
        f"{difficulty}  blocks {snapshot['blocks']}{_node_counts(snapshot)}  "
        f"shares {snapshot['shares']}  {lease_text}  {state}  "
        f"mqtt {snapshot['connection']}  outbox {snapshot['outbox']}"
    )
    return lines


def _node_counts(snapshot: dict[str, Any]) -> str:
    """What the XenBlocks node made of the blocks: " (node: 3 ok, 1 refused...)"."""
    if not snapshot.get("network"):
        return ""
    parts = [f"{snapshot.get('accepted', 0)} ok"]
    if snapshot.get("duplicates"):
        parts[0] += f" ({snapshot['duplicates']} dup)"
    parts.append(f"{snapshot.get('refused', 0)} refused")
    if snapshot.get("unreachable"):
        parts.append(f"{snapshot['unreachable']} unreachable")
    if snapshot.get("xuni_dropped"):
        parts.append(f"{snapshot['xuni_dropped']} XUNI late")
    return f" (node: {', '.join(parts)})"


class StatusDisplay:
    def __init__(self, *, json_mode: bool, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._json = json_mode
        self._live = not json_mode and self._stream.isatty()
        self._drawn = 0
        self._last_plain = 0.0

    def show(self, snapshot: dict[str, Any]) -> None:
        if self._json:
            self._stream.write(json.dumps({"event": "status", **snapshot}) + "\n")
        elif self._live:
            lines = status_lines(snapshot)
            up = f"\x1b[{self._drawn}F" if self._drawn else ""
            self._stream.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
            self._drawn = len(lines)
        else:
            now = time.monotonic()
            if now - self._last_plain < PLAIN_EVERY:
                return
            self._last_plain = now
            self._stream.write(status_lines(snapshot)[-1].strip() + "\n")
        self._stream.flush()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "event": "log",
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(*, json_mode: bool, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_mode:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("paho").setLevel(logging.WARNING)
