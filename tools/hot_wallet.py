"""``xenblocks hot-wallet resync``: after a nonce mismatch alarm, once the operator knows
why the chain counts more of the hot wallet's transactions than the platform sent.

It fails the payouts whose nonce another transaction used (their amounts return to the
balances, ``release:<id>``) and moves the wallet's next nonce to the chain's, so the
payouts job sends again. Without ``--apply`` it prints what it would do. Payouts mined
under their own transaction are left to the job, which settles them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from functions.logic.deposits import ChainDataError, ChainRpcError
from tools.reconcile import operator_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    resync = actions.add_parser(
        "resync",
        help="after a nonce mismatch: fail payouts whose nonce another transaction used and "
        "move the next nonce to the chain's (prints the plan; --apply does it)",
    )
    resync.add_argument("--apply", action="store_true", help="do it (default: only say)")
    resync.add_argument("--local-json", type=Path, help="a local stack's description")
    resync.add_argument("--rpc-url", help="the chain's JSON-RPC URL (default: the settings')")
    resync.add_argument(
        "--hot-wallet",
        metavar="ADDRESS",
        help="the hot wallet (default: the one the payouts job last looked at)",
    )


def run(args: argparse.Namespace) -> int:
    from functions.dal.payouts import PayoutRepository
    from functions.dal.tables import Tables
    from functions.logic.payout_resync import resync
    from functions.ports.chain import Web3Chain

    try:
        settings = operator_settings(args.local_json)
    except (OSError, ValueError, KeyError) as error:
        print(f"xenblocks hot-wallet: cannot read the settings: {error}", file=sys.stderr)
        return 2
    url = args.rpc_url or settings.deposit_rpc_url
    if url is None or settings.deposit_chain_id is None:
        print("xenblocks hot-wallet: no chain (the chain id and --rpc-url)", file=sys.stderr)
        return 2
    payouts = PayoutRepository(Tables(settings))
    address = args.hot_wallet
    if address is None:
        last = payouts.last_wallet(settings.deposit_chain_id)
        if last is None:
            print("xenblocks hot-wallet: no hot wallet on record", file=sys.stderr)
            return 2
        address = last.address
    try:
        found = resync(
            settings,
            payouts,
            Web3Chain(url, timeout=settings.deposit_rpc_timeout_seconds),
            address,
            now=int(time.time()),
            apply=args.apply,
        )
    except (ChainDataError, ChainRpcError, OSError, ValueError) as error:
        print(f"xenblocks hot-wallet: {error}", file=sys.stderr)
        return 2
    verb = "did" if found.applied else "would"
    print(
        f"Hot wallet {found.hot_wallet}: the chain counts {found.chain_nonce} transactions, "
        f"the platform's next nonce is {found.next_nonce}"
    )
    for payout in found.displaced:
        print(
            f"  {verb} fail {payout.withdrawal_id} ({payout.amount} micro-credits to "
            f"{payout.address}, nonce {payout.nonce}): its nonce was used by another transaction"
        )
    for payout in found.mined:
        print(f"  leave {payout.withdrawal_id} (nonce {payout.nonce}): mined; the job settles it")
    if found.chain_nonce > found.next_nonce:
        print(f"  {verb} move the next nonce to {found.chain_nonce}")
    if not found.needed:
        print("Nothing to resync.")
    elif not found.applied:
        print("Run again with --apply to do it.")
    return 0
