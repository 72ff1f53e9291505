"""``xenblocks reconcile``: the ledger against the chain (issue #24).

Every transfer of the stablecoin on chain that the platform should know of matches exactly
one ledger entry, and every on-chain ledger entry exactly one transfer, with the same
amount:

- a transfer **to a deposit address** ↔ the deposit entry ``chain:<chain>:<tx>:<log>``
  (micro-credits = the units converted exactly);
- a transfer **from a hot wallet** ↔ the withdrawal entry naming that transaction
  (``tx_hash``; one entry per transaction).

Only final blocks are compared (``--to-block``: by default the head less the deeper of the
deposit and withdrawal confirmation depths, plus one); an entry whose transfer lies outside
the range is not judged. A withdrawal mined and confirmed but not yet settled by the
payouts job, and a confirmed deposit the watcher has not credited yet, are listed as
*pending* (they settle on the jobs' next runs), not as differences. The exit status is 0
when there is no difference, 1 otherwise.

An operator's tool: it Scans the ledger and reads the chain's logs; it is not in any
Lambda's path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from functions.dal import codec
from functions.dal.deposits import DepositRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.payouts import PayoutRepository
from functions.dal.specs import LEDGER
from functions.dal.tables import Tables
from functions.logic.deposits import (
    ChainDataError,
    ChainReader,
    ChainRpcError,
    TransferLog,
    creditable_micro,
    parse_quantity,
    parse_transfer,
)
from functions.models.accounts import EntryKind, LedgerEntry, WithdrawalStatus
from functions.models.money import token_units_to_micro
from functions.settings import Settings

DEFAULT_LOCAL_JSON = Path(".xenblocks") / "local.json"


@dataclass(frozen=True)
class Difference:
    kind: str  # what does not match (see ``compare``)
    detail: str
    tx_hash: str | None = None
    entry_id: str | None = None


@dataclass
class Report:
    chain_id: int
    token_address: str
    first_block: int
    last_block: int
    hot_wallets: list[str]
    deposits_on_chain: int = 0
    withdrawals_on_chain: int = 0
    deposit_entries: int = 0
    withdrawal_entries: int = 0
    matched: int = 0
    corrected: int = 0  # of the matched: held deposits an operator credited, naming them
    outside_range: int = 0  # entries whose transfer is outside the blocks compared
    differences: list[Difference] = field(default_factory=list)
    pending: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class LedgerSide:
    """What the platform recorded: the on-chain entries and where their transfers are."""

    entries: list[LedgerEntry]
    # Entry id → the block of its transfer (None: the platform has no record of it).
    blocks: dict[str, int | None]
    # Transactions of payouts mined and confirmed, waiting for the payouts job to settle.
    settling: set[str]
    # Deposits confirmed but not credited: deposit id → its status (pending, held).
    uncredited: dict[str, str]
    # Held deposits an operator credited by hand, naming the transfer as the reference
    # (``POST /api/accounts/{owner}/deposit`` with ``reference=<tx hash>:<log index>``).
    corrections: dict[str, LedgerEntry] = field(default_factory=dict)


def compare(
    *,
    chain_id: int,
    token_address: str,
    decimals: int,
    first_block: int,
    last_block: int,
    transfers: Iterable[TransferLog],
    deposit_owners: dict[str, str],
    hot_wallets: set[str],
    ledger: LedgerSide,
) -> Report:
    """Match transfers and entries one to one (pure: the gathering is ``reconcile``)."""
    report = Report(chain_id, token_address, first_block, last_block, sorted(hot_wallets))
    deposits: dict[str, LedgerEntry] = {}
    withdrawals: dict[str, list[LedgerEntry]] = {}
    for entry in ledger.entries:
        if entry.kind is EntryKind.DEPOSIT:
            report.deposit_entries += 1
            deposits[entry.entry_id] = entry
        elif entry.kind is EntryKind.WITHDRAWAL and entry.tx_hash is not None:
            report.withdrawal_entries += 1
            withdrawals.setdefault(entry.tx_hash, []).append(entry)
    seen_entries: set[str] = set()
    for transfer in transfers:
        if not first_block <= transfer.block_number <= last_block:
            continue
        if transfer.to_address in deposit_owners:
            report.deposits_on_chain += 1
            _match_deposit(
                report, transfer, deposits, deposit_owners, ledger, chain_id, decimals, seen_entries
            )
        if transfer.from_address in hot_wallets:
            report.withdrawals_on_chain += 1
            _match_withdrawal(report, transfer, withdrawals, ledger, decimals, seen_entries)
    for entry in ledger.entries:
        if entry.entry_id in seen_entries or entry.kind not in (
            EntryKind.DEPOSIT,
            EntryKind.WITHDRAWAL,
        ):
            continue
        block = ledger.blocks.get(entry.entry_id)
        if block is not None and not first_block <= block <= last_block:
            report.outside_range += 1
            continue
        where = f"block {block}" if block is not None else "no record of its transfer"
        report.differences.append(
            Difference(
                "entry_without_transfer",
                f"{entry.kind} of {entry.amount} micro-credits ({where}): no such transfer "
                "of the token on chain",
                tx_hash=entry.tx_hash,
                entry_id=entry.entry_id,
            )
        )
    return report


def _match_deposit(
    report: Report,
    transfer: TransferLog,
    deposits: dict[str, LedgerEntry],
    deposit_owners: dict[str, str],
    ledger: LedgerSide,
    chain_id: int,
    decimals: int,
    seen: set[str],
) -> None:
    entry_id = f"chain:{chain_id}:{transfer.deposit_id}"
    entry = deposits.get(entry_id)
    owner = deposit_owners[transfer.to_address]
    correction = ledger.corrections.get(transfer.deposit_id)
    if entry is None and correction is not None and correction.to_party == owner:
        seen.add(correction.entry_id)
        report.matched += 1  # held, then credited by an operator who named it
        report.corrected += 1
        return
    if entry is None:
        status = ledger.uncredited.get(transfer.deposit_id)
        issue = Difference(
            "deposit_without_entry",
            f"{transfer.value} units to {transfer.to_address} in block "
            f"{transfer.block_number}: not credited ({status or 'never seen by the watcher'})",
            tx_hash=transfer.tx_hash,
            entry_id=entry_id,
        )
        (report.pending if status == "pending" else report.differences).append(issue)
        return
    seen.add(entry_id)
    expected = creditable_micro(transfer.value, decimals)
    if entry.amount != expected or entry.to_party != owner:
        report.differences.append(
            Difference(
                "deposit_amount",
                f"{transfer.value} units credit {expected} micro-credits to {owner}; the "
                f"ledger says {entry.amount} to {entry.to_party}",
                tx_hash=transfer.tx_hash,
                entry_id=entry_id,
            )
        )
        return
    report.matched += 1


def _match_withdrawal(
    report: Report,
    transfer: TransferLog,
    withdrawals: dict[str, list[LedgerEntry]],
    ledger: LedgerSide,
    decimals: int,
    seen: set[str],
) -> None:
    entries = withdrawals.get(transfer.tx_hash, [])
    if not entries:
        issue = Difference(
            "withdrawal_without_entry",
            f"{transfer.value} units from {transfer.from_address} to {transfer.to_address} "
            f"in block {transfer.block_number}: no ledger entry",
            tx_hash=transfer.tx_hash,
        )
        settling = transfer.tx_hash in ledger.settling
        (report.pending if settling else report.differences).append(issue)
        return
    seen.update(entry.entry_id for entry in entries)
    if len(entries) > 1:
        report.differences.append(
            Difference(
                "withdrawal_entered_twice",
                f"{len(entries)} ledger entries name this transaction",
                tx_hash=transfer.tx_hash,
                entry_id=", ".join(sorted(e.entry_id for e in entries)),
            )
        )
        return
    [entry] = entries
    paid = token_units_to_micro(transfer.value, decimals)
    if entry.amount != paid or entry.from_party != transfer.to_address:
        report.differences.append(
            Difference(
                "withdrawal_amount",
                f"{transfer.value} units to {transfer.to_address} are {paid} micro-credits; "
                f"the ledger says {entry.amount} from {entry.from_party}",
                tx_hash=transfer.tx_hash,
                entry_id=entry.entry_id,
            )
        )
        return
    report.matched += 1


# -- gathering ---------------------------------------------------------------------------------


def reconcile(
    settings: Settings,
    tables: Tables,
    chain: ChainReader,
    *,
    hot_wallets: Sequence[str] = (),
    first_block: int | None = None,
    last_block: int | None = None,
) -> Report:
    """Read the chain's transfers and the ledger's on-chain entries, and compare them."""
    if settings.deposit_chain_id is None or settings.deposit_token_address is None:
        raise ValueError("reconcile needs the chain and token (deposit_chain_id, token address)")
    chain_id, token = settings.deposit_chain_id, settings.deposit_token_address
    answered = parse_quantity(chain.chain_id(), "eth_chainId")
    if answered != chain_id:
        raise ChainDataError(f"the RPC node is on chain {answered}, the ledger on {chain_id}")
    head = parse_quantity(chain.head(), "eth_blockNumber")
    depth = max(settings.deposit_confirmations, settings.withdrawal_confirmations)
    first = settings.deposit_start_block if first_block is None else first_block
    last = head - depth + 1 if last_block is None else min(last_block, head)
    payouts = PayoutRepository(tables)
    wallets = set(hot_wallets)
    recorded = payouts.last_wallet(chain_id)
    if recorded is not None:
        wallets.add(recorded.address)
    transfers = list(_transfers(settings, chain, token, first, last))
    deposits = DepositRepository(tables)
    owners = deposits.owners_of([t.to_address for t in transfers])
    ledger = _ledger_side(settings, tables, chain_id, transfers, owners)
    return compare(
        chain_id=chain_id,
        token_address=token,
        decimals=settings.deposit_token_decimals,
        first_block=first,
        last_block=last,
        transfers=transfers,
        deposit_owners={address: found.owner for address, found in owners.items()},
        hot_wallets=wallets,
        ledger=ledger,
    )


def _transfers(
    settings: Settings, chain: ChainReader, token: str, first: int, last: int
) -> Iterable[TransferLog]:
    step = settings.deposit_max_blocks
    for start in range(first, last + 1, step):
        end = min(last, start + step - 1)
        answer = chain.transfer_logs(token, start, end)
        if not isinstance(answer, list):
            raise ChainDataError("eth_getLogs answers a list")
        for log in answer:
            transfer = parse_transfer(log, token)
            if transfer is not None:
                yield transfer


def chain_entries(tables: Tables, chain_id: int) -> Iterator[LedgerEntry]:
    """Every ledger entry that moved money on chain ``chain_id``: deposits credited from it
    (``chain:<chain id>:…``) and withdrawals paid on it. A paginated Scan: this operator's
    tool's alone (request paths never Scan)."""
    request: dict[str, Any] = {
        "TableName": tables.name(LEDGER),
        "FilterExpression": "begins_with(entry_id, :deposits) OR "
        "(#kind = :withdrawal AND chain_id = :chain_id)",
        "ExpressionAttributeNames": {"#kind": "kind"},
        "ExpressionAttributeValues": codec.values(
            deposits=f"chain:{chain_id}:",
            withdrawal=EntryKind.WITHDRAWAL.value,
            chain_id=chain_id,
        ),
    }
    while True:
        response = tables.client.scan(**request)
        for item in response.get("Items", []):
            yield LedgerEntry.model_validate(codec.from_item(item))
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _ledger_side(
    settings: Settings,
    tables: Tables,
    chain_id: int,
    transfers: list[TransferLog],
    owners: dict[str, Any],
) -> LedgerSide:
    deposits = DepositRepository(tables)
    payouts = PayoutRepository(tables)
    entries = list(chain_entries(tables, chain_id))
    blocks: dict[str, int | None] = {}
    for entry in entries:
        if entry.kind is EntryKind.DEPOSIT and entry.to_party is not None:
            deposit_id = entry.entry_id.split(":", 2)[2]
            found = deposits.get(entry.to_party, deposit_id)
            blocks[entry.entry_id] = found.block_number if found else None
        elif entry.from_party is not None:
            withdrawal_id = entry.entry_id.removeprefix("withdrawal:")
            payout = payouts.get(entry.from_party, withdrawal_id)
            blocks[entry.entry_id] = payout.block_number if payout else None
    settling = {
        payout.mined_tx_hash
        for payout in payouts.open_payouts()
        if payout.status is WithdrawalStatus.SENT and payout.mined_tx_hash is not None
    }
    uncredited: dict[str, str] = {}
    corrections: dict[str, LedgerEntry] = {}
    ledger = LedgerRepository(tables)
    for transfer in transfers:
        owner = owners.get(transfer.to_address)
        if owner is None:
            continue
        found = deposits.get(owner.owner, transfer.deposit_id)
        if found is not None and found.entry_id is None:
            uncredited[transfer.deposit_id] = str(found.status)
            # funds.credit's entry id for an admin's credit naming this transfer.
            named = ledger.get(f"deposit:{owner.owner}:ref:{transfer.deposit_id}")
            if named is not None:
                corrections[transfer.deposit_id] = named
    return LedgerSide(entries, blocks, settling, uncredited, corrections)


# -- the command -------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local-json",
        type=Path,
        default=None,
        help=f"a local stack's description (default: {DEFAULT_LOCAL_JSON} when it exists "
        "and XENBLOCKS_STAGE is not set; else the XENBLOCKS_* environment of a deployed "
        "stage)",
    )
    parser.add_argument("--rpc-url", help="the chain's JSON-RPC URL (default: the settings')")
    parser.add_argument(
        "--hot-wallet",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a hot wallet's address (repeatable; the payouts job's last one is always read)",
    )
    parser.add_argument("--from-block", type=int, help="first block (default: the start block)")
    parser.add_argument("--to-block", type=int, help="last block (default: the last final one)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def operator_settings(local_json: Path | None) -> Settings:
    """A local stack's (``--local-json``, or ./.xenblocks/local.json when the environment
    names no stage), else the deployed stage's ``XENBLOCKS_*`` environment."""
    deployed = "XENBLOCKS_STAGE" in os.environ
    default = DEFAULT_LOCAL_JSON if DEFAULT_LOCAL_JSON.is_file() and not deployed else None
    path = local_json or default
    if path is None:
        from functions.settings import load_settings

        return load_settings()
    local = json.loads(path.read_text())
    # The local stack's moto needs credentials, never real ones.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")
    return Settings(
        stage="local",
        aws_region=local.get("region", "us-east-1"),
        dynamodb_endpoint_url=local["dynamodb_endpoint_url"],
        table_prefix=local["table_prefix"],
        deposit_rpc_url=local.get("chain_rpc_url"),
        deposit_chain_id=local.get("chain_id"),
        deposit_token_address=local.get("token_address"),
        deposit_token_decimals=local.get("token_decimals") or 6,
        deposit_confirmations=local.get("deposit_confirmations") or 12,
        withdrawal_confirmations=local.get("withdrawal_confirmations") or 12,
    )


def run(args: argparse.Namespace) -> int:
    """The command: 0 without differences, 1 with some, 2 when it could not compare."""
    try:
        settings = operator_settings(args.local_json)
    except (OSError, ValueError, KeyError) as error:
        # ValueError covers bad JSON and settings pydantic refuses.
        print(f"xenblocks reconcile: cannot read the settings: {error}", file=sys.stderr)
        return 2
    url = args.rpc_url or settings.deposit_rpc_url
    if url is None or settings.deposit_chain_id is None or settings.deposit_token_address is None:
        print(
            "xenblocks reconcile: this stage has no chain to reconcile (the chain id, token "
            "and --rpc-url are needed)",
            file=sys.stderr,
        )
        return 2
    from functions.ports.chain import Web3ChainReader

    try:
        report = reconcile(
            settings,
            Tables(settings),
            Web3ChainReader(url, timeout=settings.deposit_rpc_timeout_seconds),
            hot_wallets=args.hot_wallet,
            first_block=args.from_block,
            last_block=args.to_block,
        )
    except (ChainDataError, ChainRpcError, OSError) as error:
        print(f"xenblocks reconcile: cannot read the chain at {url}: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(describe(report))
    return 0 if report.ok else 1


def describe(report: Report) -> str:
    lines = [
        f"Chain {report.chain_id}, token {report.token_address}, blocks "
        f"{report.first_block}..{report.last_block}, hot wallets: "
        f"{', '.join(report.hot_wallets) or 'none on record'}",
        f"  deposits on chain {report.deposits_on_chain}, in the ledger "
        f"{report.deposit_entries}; withdrawals on chain {report.withdrawals_on_chain}, "
        f"in the ledger {report.withdrawal_entries}; matched {report.matched} "
        f"({report.corrected} held and credited by an operator); "
        f"entries outside the range {report.outside_range}",
    ]
    for title, items in (("pending", report.pending), ("DIFFERENCE", report.differences)):
        for item in items:
            ids = " ".join(x for x in (item.tx_hash, item.entry_id) if x)
            lines.append(f"  {title}: {item.kind}: {item.detail} [{ids}]")
    lines.append(
        f"{len(report.differences)} differences" if report.differences else "0 differences"
    )
    return "\n".join(lines)
