"""Per-rig limits on the reports that cost the platform work: registers, blocks, shares.

Two layers, so neither a flood nor a forger gets the platform to hash or write for free:

- **Rate**: a token bucket per rig and report kind, in the warm process's memory. A report
  over its bucket is refused before any read, write or hash (``rate_limited``). An honest
  rig sends a share about a minute and a block far more rarely, so the default budgets sit
  an order of magnitude above that. In AWS each warm Lambda instance keeps its own buckets,
  so a rig's real ceiling is the budget times the instances that see it (bounded by the
  function's concurrency, and by IoT Core's 100 publishes per second per connection).
- **Strikes**: a report refused for what only a forger or a broken rig sends (a hash that
  does not recompute, a key or account that is not the lease's) is a strike. ``strikes``
  strikes within ``strike_window_seconds`` suspend the rig's block and share reports for
  ``suspend_seconds``: written once on the worker, so every instance honours it, and
  refused there without hashing (``suspended``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# Refusals no honest rig produces; the rest (too old, outside the lease, a duplicate) can
# come from an honest rig replaying its outbox after an outage.
STRIKE_REASONS = frozenset(
    {"hash_mismatch", "wrong_account", "wrong_prefix", "bad_key", "no_share_pattern"}
)
# The outcomes of a report refused unheard by these limits.
LIMIT_REASONS = frozenset({"rate_limited", "suspended"})
# Rigs whose buckets a process remembers (about 200 bytes each); past it, forgetting a rig
# only refills its bucket.
_REMEMBERED = 100_000


@dataclass(frozen=True)
class Budget:
    """``burst`` reports at once, refilled at ``per_minute``."""

    burst: int
    per_minute: float


@dataclass(frozen=True)
class ReportPolicy:
    budgets: dict[str, Budget]
    strikes: int = 5
    strike_window_seconds: int = 600
    suspend_seconds: int = 900


DEFAULT_POLICY = ReportPolicy(
    budgets={
        "register": Budget(burst=10, per_minute=6),
        "block": Budget(burst=60, per_minute=60),
        "share": Budget(burst=60, per_minute=60),
    }
)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class ReportLimiter:
    def __init__(self, policy: ReportPolicy = DEFAULT_POLICY) -> None:
        self.policy = policy
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._strikes: dict[str, deque[float]] = {}

    def allow(self, worker_id: str, kind: str, now: float) -> bool:
        """Take one report of ``kind`` from the rig's bucket; False when it is empty."""
        budget = self.policy.budgets.get(kind)
        if budget is None:
            return True
        key = (worker_id, kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _REMEMBERED:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(tokens=budget.burst, updated=now)
        refill = max(now - bucket.updated, 0.0) * budget.per_minute / 60
        bucket.tokens = min(budget.burst, bucket.tokens + refill)
        bucket.updated = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def strike(self, worker_id: str, reason: str, now: float) -> bool:
        """Count a refusal; True when it is the strike that suspends the rig."""
        if reason not in STRIKE_REASONS:
            return False
        if worker_id not in self._strikes and len(self._strikes) >= _REMEMBERED:
            self._strikes.clear()
        recent = self._strikes.setdefault(worker_id, deque())
        recent.append(now)
        while recent and recent[0] <= now - self.policy.strike_window_seconds:
            recent.popleft()
        if len(recent) >= self.policy.strikes:
            recent.clear()
            return True
        return False
