"""The dashboard's ``config.json``: where it finds the platform (one shape, two writers).

The CDK app uploads it next to the built dashboard; ``xenblocks local`` serves it at the
API's origin. ``frontend/src/config.ts`` reads it at start.
"""

from __future__ import annotations

from typing import Any


def dashboard_config(
    *,
    api_url: str,
    ws_url: str,
    region: str,
    stage: str,
    chain_id: int,
    deposits: bool,
    withdrawals_on_chain: bool = False,
    withdrawal_auto_max: int | None = None,
) -> dict[str, Any]:
    """``deposits``: the deployment takes deposits on chain (the Account page then shows
    the account's deposit address; without them that endpoint answers 404).
    ``withdrawals_on_chain``: withdrawals are paid on chain by the payouts job, those up to
    ``withdrawal_auto_max`` micro-credits without an admin (the Account page says so; it
    is null where withdrawals are paid by hand)."""
    return {
        "api_url": api_url,
        "ws_url": ws_url,
        "region": region,
        "stage": stage,
        "chain_id": chain_id,
        "deposits": deposits,
        "withdrawals_on_chain": withdrawals_on_chain,
        "withdrawal_auto_max": withdrawal_auto_max if withdrawals_on_chain else None,
    }
