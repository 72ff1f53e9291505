"""``xenblocks sweep``: move the stablecoin from the deposit addresses to one address (the
hot wallet, or cold storage), signed on this machine with keys derived from the seed.

The platform holds only the deposit wallet's extended public key; each account's deposits
stay on its own address, child ``i`` of ``m/44'/60'/0'/0``, until the seed's holder runs
this where the seed is. For each index asked about it reads the token and gas balances;
an address holding at least ``--min-units`` is swept: one ERC-20 transfer of its whole
balance (EIP-1559, twice the base fee plus the node's tip). An address without the gas for
it is first sent exactly what it lacks, plus a margin, from ``--gas-key-file``'s account;
without that key it is listed as needing gas and left.

Without ``--apply`` it prints the plan and sends nothing. With it: the gas top-ups, each
waited for; then the sweeps, each waited for (``--timeout``); then the balances. Keys
never leave this process: transactions are signed here (coincurve) and only the signed
bytes go to the node.

The ledger is not touched: the deposits were credited when confirmed, and
``xenblocks reconcile`` matches transfers *to* deposit addresses and *from* hot wallets; a
sweep into the hot wallet is neither.

Exit status: 0 when every address asked about that held ``--min-units`` or more was swept
(mined with status 1), or, without ``--apply``, when the plan was printed; 1 when one was
not (reverted, not mined in time, refused by the node, or left: needing gas, a pending
transaction, a failed gas estimate); 2 on bad input (a seed or key file, an address, the
chain id) or a chain that cannot be read, before anything is sent.

The keys, the survey of the chain and the plan are ``tools/sweep_plan.py``; sending and the
command are here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from functions.logic.deposits import ChainDataError, ChainRpcError, parse_quantity, parse_uint256
from functions.logic.evm_tx import (
    TokenTransferTx,
    ValueTransferTx,
    tx_hash,
)
from functions.logic.hd_keys import (
    DEPOSIT_CHAIN_PATH,
    ExtendedPublicKey,
)
from tools.sweep_plan import (
    DEFAULT_MARGIN_PERCENT,
    GUARD_INDEXES,
    MAX_INDEXES,
    TOP_UP_GAS,
    Action,
    BadInput,
    Fees,
    Key,
    Step,
    SweepChain,
    checksum_address,
    deposit_keys,
    market_fees,
    parse_indexes,
    plan_sweep,
    read_private_key,
    read_seed,
    survey,
    token_units,
)

DEFAULT_TIMEOUT_SECONDS = 300.0
POLL_SECONDS = 2.0
# What a node answers when it already holds this very transaction: sent, then.
_ALREADY_SENT = ("already known", "known transaction", "already imported")

# -- sending ----------------------------------------------------------------------------------


@dataclass
class Waiter:
    """Polls receipts until each is in or ``timeout`` seconds have passed."""

    timeout: float = DEFAULT_TIMEOUT_SECONDS
    poll: float = POLL_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def statuses(self, chain: SweepChain, hashes: Sequence[str]) -> dict[str, int]:
        """Each mined transaction's receipt status (1: it did what it said); one missing
        was not mined in time."""
        deadline = self.clock() + self.timeout
        found: dict[str, int] = {}
        while True:
            for sent in hashes:
                if sent not in found:
                    receipt = chain.receipt(sent)
                    if receipt is not None:
                        found[sent] = _status(receipt, sent)
            now = self.clock()
            if len(found) == len(set(hashes)) or now >= deadline:
                return found
            self.sleep(min(self.poll, deadline - now))


def _status(receipt: Any, sent: str) -> int:
    if not isinstance(receipt, dict) or str(receipt.get("transactionHash", "")).lower() != sent:
        raise ChainDataError(f"asked for the receipt of {sent}, got something else")
    return parse_quantity(receipt.get("status"), "receipt.status")


def _send(chain: SweepChain, raw: bytes) -> str:
    """Broadcast; the transaction's hash (ChainRpcError: the node refused it)."""
    sent = tx_hash(raw)
    try:
        answer = chain.send_raw("0x" + raw.hex())
    except ChainRpcError as error:
        if any(known in str(error).lower() for known in _ALREADY_SENT):
            return sent
        raise
    if isinstance(answer, str) and answer.lower() != sent:
        raise ChainDataError(f"the node named the transaction {answer[:80]!r}, not {sent}")
    return sent


@dataclass(frozen=True)
class Target:
    """Where the tokens go, on which chain."""

    chain_id: int
    token: str
    to: str


@dataclass
class Outcome:
    swept: dict[int, str] = field(default_factory=dict)  # index → sweep tx hash
    failed: dict[int, str] = field(default_factory=dict)  # index → why


def apply_plan(
    steps: Sequence[Step],
    chain: SweepChain,
    target: Target,
    fees: Fees,
    keys: dict[int, Key],
    funder: Key | None,
    waiter: Waiter,
    say: Callable[[str], None] = print,
) -> Outcome:
    """Top up, wait, sweep, wait; a sweep whose top-up failed is not sent. What the node
    refuses is a failure of that address only: the others go on."""
    outcome = Outcome()
    ready = [step for step in steps if step.action is Action.SWEEP]
    top_ups = [step for step in steps if step.action is Action.TOP_UP]
    if top_ups:
        if funder is None:
            raise ValueError("a plan with top-ups needs the gas key")
        ready += _top_up(top_ups, chain, target, fees, funder, waiter, outcome, say)
    sent: dict[int, str] = {}
    for step in sorted(ready, key=lambda s: s.holding.index):
        holding = step.holding
        assert holding.gas_limit is not None  # a sweep step has its gas
        tx = TokenTransferTx(
            chain_id=target.chain_id,
            nonce=holding.nonce,
            max_priority_fee_per_gas=fees.tip,
            max_fee_per_gas=fees.max_fee,
            gas_limit=holding.gas_limit,
            token=target.token,
            recipient=target.to,
            units=holding.units,
        )
        try:
            sent[holding.index] = _send(chain, keys[holding.index].sign(tx))
        except ChainRpcError as error:
            outcome.failed[holding.index] = f"the node refused the sweep: {error}"
            continue
        what = f"{holding.units} units, tx {sent[holding.index]}"
        say(f"  sweep  #{holding.index} {holding.address}: {what}")
    statuses = waiter.statuses(chain, list(sent.values()))
    for index, hash_ in sent.items():
        status = statuses.get(hash_)
        if status == 1:
            outcome.swept[index] = hash_
        elif status is None:
            outcome.failed[index] = f"{hash_} not mined within {waiter.timeout:g} s (run again)"
        else:
            outcome.failed[index] = f"{hash_} reverted"
    return outcome


def _top_up(
    steps: Sequence[Step],
    chain: SweepChain,
    target: Target,
    fees: Fees,
    funder: Key,
    waiter: Waiter,
    outcome: Outcome,
    say: Callable[[str], None],
) -> list[Step]:
    """Send the top-ups from the funder, one nonce after another (a refused one takes no
    nonce: the next uses it); the steps whose top-up was mined with status 1."""
    nonce = parse_quantity(chain.nonce(funder.address, "pending"), "eth_getTransactionCount")
    sent: dict[str, Step] = {}
    for step in steps:
        holding = step.holding
        tx = ValueTransferTx(
            chain_id=target.chain_id,
            nonce=nonce,
            max_priority_fee_per_gas=fees.tip,
            max_fee_per_gas=fees.max_fee,
            gas_limit=TOP_UP_GAS,
            recipient=holding.address,
            value=step.top_up,
        )
        try:
            hash_ = _send(chain, funder.sign(tx))
        except ChainRpcError as error:
            outcome.failed[holding.index] = f"the node refused the gas top-up: {error}"
            continue
        nonce += 1
        sent[hash_] = step
        say(f"  top-up #{holding.index} {holding.address}: {step.top_up} wei, tx {hash_}")
    statuses = waiter.statuses(chain, list(sent))
    funded: list[Step] = []
    for hash_, step in sent.items():
        status = statuses.get(hash_)
        if status == 1:
            funded.append(step)
        else:
            why = "reverted" if status is not None else "was not mined in time"
            outcome.failed[step.holding.index] = f"the gas top-up {hash_} {why}"
    return funded


# -- the command ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "exit status: 0 when every address holding --min-units or more was swept (or the plan "
        "was printed), 1 when one was not, 2 on bad input before anything was sent"
    )
    parser.add_argument(
        "--seed-file", type=Path, required=True, help="the deposit wallet's seed (hex)"
    )
    parser.add_argument(
        "--to", required=True, metavar="ADDRESS", help="where the tokens go (hot wallet, cold)"
    )
    parser.add_argument("--rpc-url", required=True, help="the chain's JSON-RPC URL")
    parser.add_argument(
        "--chain-id", type=_positive, required=True, help="the chain it must be (eth_chainId)"
    )
    parser.add_argument("--token", required=True, metavar="ADDRESS", help="the stablecoin")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--indexes", type=_indexes, help="account numbers: 0-99, or 3,5,10-12")
    which.add_argument(
        "--count", type=_count, help=f"account numbers 0 to N-1 (N at most {MAX_INDEXES})"
    )
    parser.add_argument(
        "--gas-key-file",
        type=Path,
        help="a private key (hex) whose account tops up addresses lacking gas",
    )
    parser.add_argument(
        "--min-units",
        type=_positive,
        default=1,
        help="sweep an address holding at least this many token units (default 1)",
    )
    parser.add_argument(
        "--margin-percent",
        type=_percent,
        default=DEFAULT_MARGIN_PERCENT,
        help=f"a top-up's margin over the shortfall, in %% of the gas (default "
        f"{DEFAULT_MARGIN_PERCENT})",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds to wait for each batch of transactions to be mined (default 300)",
    )
    parser.add_argument("--apply", action="store_true", help="send (default: print the plan)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("a positive integer")
    return value


def _count(text: str) -> list[int]:
    value = _positive(text)
    if value > MAX_INDEXES:
        raise argparse.ArgumentTypeError(f"at most {MAX_INDEXES}")
    return list(range(value))


def _indexes(text: str) -> list[int]:
    try:
        return parse_indexes(text)
    except BadInput as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("0 < seconds <= 3600")
    return value


def _percent(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("0..100")
    return value


@dataclass(frozen=True)
class Request:
    """The validated command line, keys read."""

    target: Target
    xpub: str
    keys: dict[int, Key]
    funder: Key | None


def read_request(args: argparse.Namespace) -> Request:
    """The command line checked, files read, keys derived (BadInput: exit 2)."""
    to = checksum_address("--to", args.to)
    token = checksum_address("--token", args.token)
    seed = read_seed(args.seed_file)
    funder = read_private_key(args.gas_key_file) if args.gas_key_file else None
    indexes = args.indexes if args.indexes is not None else args.count
    try:
        xpub, keys = deposit_keys(seed, indexes)
    except ValueError as error:  # a seed without a master key, an invalid child: 2⁻¹²⁷
        raise BadInput(f"the seed gives no key here: {error}") from error
    swept = {key.address: index for index, key in keys.items()}
    if to in swept:
        raise BadInput(f"--to {to} is deposit address #{swept[to]}, one being swept")
    guarded = _deposit_index(xpub, to, range(max(keys) + 1, max(keys) + 1 + GUARD_INDEXES))
    if guarded is not None:
        raise BadInput(
            f"--to {to} is deposit address #{guarded}: the sweep would be credited to its "
            "account as a deposit"
        )
    if to == token:
        raise BadInput("--to is the token's contract: tokens sent there are lost")
    if funder is not None and funder.address in swept:
        raise BadInput(f"the gas key is deposit address #{swept[funder.address]}'s")
    return Request(Target(args.chain_id, token, to), xpub, keys, funder)


def _deposit_index(xpub: str, address: str, indexes: range) -> int | None:
    parent = ExtendedPublicKey.parse(xpub)
    for index in indexes:
        if parent.child(index).address() == address:
            return index
    return None


def _web3_chain(url: str) -> SweepChain:
    from functions.ports.chain import Web3Chain

    return Web3Chain(url)


def run(args: argparse.Namespace, *, connect: Callable[[str], SweepChain] = _web3_chain) -> int:
    try:
        request = read_request(args)
    except BadInput as error:
        print(f"xenblocks sweep: {error}", file=sys.stderr)
        return 2
    chain = connect(args.rpc_url)
    target = request.target
    try:
        answered = parse_quantity(chain.chain_id(), "eth_chainId")
        if answered != target.chain_id:
            raise BadInput(f"the node at --rpc-url is on chain {answered}, not {target.chain_id}")
        fees = market_fees(chain)
        holdings = survey(chain, target.token, target.to, request.keys, min_units=args.min_units)
        funder_balance = None
        if request.funder is not None:
            answer = chain.gas_balance(request.funder.address)
            funder_balance = parse_uint256(answer, "eth_getBalance")
    except (BadInput, ChainDataError, ChainRpcError, OSError, ValueError) as error:
        print(f"xenblocks sweep: {error}", file=sys.stderr)
        return 2
    steps = plan_sweep(
        holdings,
        fees,
        min_units=args.min_units,
        funder_balance=funder_balance,
        margin_percent=args.margin_percent,
    )
    print(describe_plan(request, fees, steps, funder_balance))
    if not args.apply:
        print("Nothing sent (--apply sends).")
        return 0
    if not any(step.sweeps for step in steps):
        print("Nothing to send.")
        return 1 if any(step.left for step in steps) else 0
    waiter = Waiter(timeout=args.timeout)
    try:
        outcome = apply_plan(steps, chain, target, fees, request.keys, request.funder, waiter)
        print(describe_outcome(chain, target, steps, outcome))
    except (ChainDataError, ChainRpcError, OSError, ValueError) as error:
        print(f"xenblocks sweep: stopped: {error}", file=sys.stderr)
        return 1
    return 1 if outcome.failed or any(step.left for step in steps) else 0


def _gwei(wei: int) -> str:
    return f"{Decimal(wei) / 10**9:f} gwei"


def describe_plan(
    request: Request, fees: Fees, steps: Sequence[Step], funder_balance: int | None
) -> str:
    target = request.target
    lines = [
        f"Deposit wallet {DEPOSIT_CHAIN_PATH}: {request.xpub}",
        "  (the stage's depositXpub must be this one)",
        f"Chain {target.chain_id}, token {target.token}, to {target.to}",
        f"Fees: base {_gwei(fees.base_fee)}, tip {_gwei(fees.tip)}, "
        f"max {_gwei(fees.max_fee)} per gas",
    ]
    if request.funder is not None:
        lines.append(f"Gas key's account {request.funder.address}: {funder_balance} wei")
    lines.append(
        f"{'index':>6}  {'address':<42}  {'units':>20}  {'gas needed':>20}  {'gas has':>20}  action"
    )
    for step in steps:
        holding = step.holding
        needed = str(step.gas_needed) if step.gas_needed else "-"
        action = str(step.action)
        if step.top_up:
            action += f" ({step.top_up} wei)"
        if holding.estimate_error:
            action += f": {holding.estimate_error[:120]}"
        lines.append(
            f"{holding.index:>6}  {holding.address:<42}  {holding.units:>20}  {needed:>20}  "
            f"{holding.gas_wei:>20}  {action}"
        )
    sweeping = [step for step in steps if step.sweeps]
    top_ups = [step for step in steps if step.action is Action.TOP_UP]
    lines.append(
        f"Plan: sweep {len(sweeping)} address(es), "
        f"{sum(step.holding.units for step in sweeping)} units; "
        f"top up {len(top_ups)} ({sum(step.top_up for step in top_ups)} wei and the "
        f"top-ups' gas); leave {sum(step.left for step in steps)}."
    )
    return "\n".join(lines)


def describe_outcome(
    chain: SweepChain, target: Target, steps: Sequence[Step], outcome: Outcome
) -> str:
    lines = [f"Swept {len(outcome.swept)}, failed {len(outcome.failed)}."]
    for index, why in sorted(outcome.failed.items()):
        lines.append(f"  #{index}: {why}")
    lines.append("Balances now (token units):")
    for step in steps:
        if step.sweeps:
            address = step.holding.address
            units = token_units(chain, target.token, address)
            lines.append(f"  #{step.holding.index} {address}: {units}")
    lines.append(f"  --to {target.to}: {token_units(chain, target.token, target.to)}")
    return "\n".join(lines)
