"""``xenblocks``: the operator's and developer's command line."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from functions.dal.specs import ALL_TABLES
from protocol.xenblocks import MIN_DIFFICULTY
from tools.cost.command import add_cost_arguments, run_cost

MAX_LOCAL_MINERS = 16
LOCAL_BLOCK_PATTERN = "XEN1"


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 1..65535")
    return value


def _difficulty(text: str) -> int:
    value = int(text)
    if not MIN_DIFFICULTY <= value <= 2**22:
        raise argparse.ArgumentTypeError(f"difficulty is {MIN_DIFFICULTY}..{2**22} KiB")
    return value


def _miners(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_LOCAL_MINERS:
        raise argparse.ArgumentTypeError(f"--miners is 0..{MAX_LOCAL_MINERS}")
    return value


def _coalesce(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError("the coalescing window is 0..60 seconds")
    return value


def _block_pattern(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9+/]{1,16}", text):
        raise argparse.ArgumentTypeError("a block pattern is 1-16 base64 characters")
    return text


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"not a regular expression: {error}") from None
    if not 1 <= len(text) <= 64:
        raise argparse.ArgumentTypeError("a pattern is 1-64 characters")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xenblocks", description="XenBlocks hashpower marketplace and fleet monitor."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run the platform's services on this machine")
    local.add_argument("--host", default="127.0.0.1", help="address to listen on")
    local.add_argument("--dynamodb-port", type=_port, default=8000, help="moto DynamoDB port")
    local.add_argument("--mqtt-port", type=_port, default=8883, help="MQTT broker port (TLS)")
    local.add_argument("--api-port", type=_port, default=8080, help="HTTP API port")
    local.add_argument("--ws-port", type=_port, default=8081, help="WebSocket (live) port")
    local.add_argument(
        "--node-port",
        type=_port,
        help="the local XenBlocks node's port (default 8082, or a free one when 8082 is taken)",
    )
    local.add_argument(
        "--no-node",
        dest="node",
        action="store_false",
        help="no local XenBlocks node: the miners then do not submit blocks anywhere",
    )
    local.add_argument(
        "--chain-port",
        type=_port,
        help="the local EVM chain's JSON-RPC port (default 8545, or a free one when taken)",
    )
    local.add_argument(
        "--no-chain",
        dest="chain",
        action="store_false",
        help="no local EVM chain: no on-chain deposits",
    )
    local.add_argument(
        "--broker",
        choices=("auto", "mosquitto", "amqtt"),
        default="auto",
        help="MQTT broker: mosquitto when installed, else the embedded amqtt (default: auto)",
    )
    local.add_argument("--state-dir", type=Path, default=Path(".xenblocks"))
    local.add_argument(
        "--difficulty", type=_difficulty, default=8, help="Argon2 memory cost (KiB, >= 8)"
    )
    local.add_argument(
        "--block-pattern",
        type=_block_pattern,
        default=LOCAL_BLOCK_PATTERN,
        help="what a block hash must contain (default XEN1: a block every few seconds per"
        " CPU miner at difficulty 8; the network's is XEN11)",
    )
    local.add_argument(
        "--miners",
        type=_miners,
        default=0,
        help="run N CPU miners of a local provider, enrolled through the API (0-16)",
    )
    local.add_argument(
        "--live-coalesce-seconds",
        type=_coalesce,
        default=1.0,
        help="at most one live frame per connection per this many seconds (default 1)",
    )
    local.add_argument(
        "--seed-demo",
        action="store_true",
        help="seed demo providers, listings, a running lease and a day of history",
    )

    node = commands.add_parser(
        "node", help="a local XenBlocks node: /difficulty, /verify and the explorer's reads"
    )
    node.add_argument("--host", default="127.0.0.1", help="address to listen on")
    node.add_argument("--port", type=_port, default=8082, help="port (default 8082)")
    node.add_argument(
        "--difficulty",
        type=_difficulty,
        default=1727,
        help="the difficulty it publishes and requires (KiB, default 1727)",
    )
    node.add_argument(
        "--block-pattern",
        type=_block_pattern,
        default="XEN11",
        help="what a block hash must contain in its last 87 characters (default XEN11)",
    )
    node.add_argument(
        "--xuni-pattern",
        type=_regex,
        default=r"XUNI[0-9]",
        help="what makes a hash XUNI (a regular expression, default XUNI[0-9])",
    )
    node.add_argument(
        "--auto-difficulty",
        action="store_true",
        help="step the difficulty as the reference node does (+1000/-2000 every 300 s by"
        " the block rate, floor 100); without it the difficulty moves only when told",
    )
    node.add_argument(
        "--state-dir",
        type=Path,
        help="keep blocks in DIR/node.sqlite3 (default: in memory)",
    )

    chain = commands.add_parser(
        "chain", help="a local EVM chain (hardhat) with the test stablecoin deployed"
    )
    chain.add_argument("--host", default="127.0.0.1", help="address to listen on")
    chain.add_argument("--port", type=_port, default=8545, help="JSON-RPC port (default 8545)")
    chain.add_argument(
        "--block-seconds",
        type=float,
        default=None,
        help="also mine a block every this many seconds (default: only on transactions)",
    )

    reconcile = commands.add_parser(
        "reconcile",
        help="the ledger against the chain: every on-chain deposit and withdrawal matches "
        "exactly one ledger entry (exit 1 on any difference)",
    )
    from tools.reconcile import add_arguments as add_reconcile_arguments

    add_reconcile_arguments(reconcile)

    hot_wallet = commands.add_parser(
        "hot-wallet", help="the hot wallet that pays withdrawals: resync after a nonce mismatch"
    )
    from tools.hot_wallet import add_arguments as add_hot_wallet_arguments

    add_hot_wallet_arguments(hot_wallet)

    sweep = commands.add_parser(
        "sweep",
        help="move the stablecoin from the deposit addresses to one address, signed here with "
        "keys from the deposit seed (prints the plan; --apply sends)",
    )
    from tools.sweep import add_arguments as add_sweep_arguments

    add_sweep_arguments(sweep)

    cost = commands.add_parser("cost", help="monthly AWS cost per worker, line by line")
    add_cost_arguments(cost)

    tables = commands.add_parser("tables", help="print the DynamoDB table specs")
    tables.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _print_tables(as_json: bool) -> None:
    if as_json:
        for spec in ALL_TABLES:
            print(json.dumps(spec.create_table_request(spec.name)))
        return
    for spec in ALL_TABLES:
        keys = " + ".join(spec.key_names)
        extras = [f"ttl={spec.ttl_attribute}"] if spec.ttl_attribute else []
        extras += ["stream"] if spec.stream else []
        print(f"{spec.name:<12} {keys:<18} {' '.join(extras)}")
        for index in spec.indexes:
            sort = f" + {index.sort_key.name}" if index.sort_key else ""
            print(f"  └ {index.name:<18} {index.partition_key.name}{sort} ({index.projection})")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "tables":
        _print_tables(args.json)
        return 0
    if args.command == "cost":
        return run_cost(args)
    if args.command == "node":
        return _run_node(args)
    if args.command == "chain":
        return _run_chain(args)
    if args.command == "hot-wallet":
        from tools.hot_wallet import run as run_hot_wallet

        return run_hot_wallet(args)
    if args.command == "sweep":
        from tools.sweep import run as run_sweep

        return run_sweep(args)
    if args.command == "reconcile":
        from tools.reconcile import run as run_reconcile

        return run_reconcile(args)
    # The local stack is a terminal program: no CloudWatch EMF lines between its output.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    # Each ingested message is an INFO line in CloudWatch; in a terminal, only trouble.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from functions.local.broker import BrokerError
    from functions.local.evm_node import ChainUnavailable
    from functions.local.miners import MinersError
    from functions.local.stack import LocalOptions, PortInUse, run_local

    try:
        run_local(
            LocalOptions(
                host=args.host,
                dynamodb_port=args.dynamodb_port,
                mqtt_port=args.mqtt_port,
                api_port=args.api_port,
                ws_port=args.ws_port,
                node=args.node,
                node_port=args.node_port,
                chain=args.chain,
                chain_port=args.chain_port,
                broker=args.broker,
                state_dir=args.state_dir,
                difficulty=args.difficulty,
                block_pattern=args.block_pattern,
                miners=args.miners,
                seed_demo=args.seed_demo,
                live_coalesce_seconds=args.live_coalesce_seconds,
            )
        )
    except (PortInUse, BrokerError, MinersError, ChainUnavailable) as error:
        print(f"xenblocks local: {error}", file=sys.stderr)
        return 2
    return 0


def _run_node(args: argparse.Namespace) -> int:
    from functions.local.xenblocks_node import AutoDifficulty, NodeRules, run_node

    try:
        run_node(
            host=args.host,
            port=args.port,
            difficulty=args.difficulty,
            rules=NodeRules(block_pattern=args.block_pattern, xuni_pattern=args.xuni_pattern),
            state_dir=args.state_dir,
            auto=AutoDifficulty() if args.auto_difficulty else None,
        )
    except OSError as error:
        print(f"xenblocks node: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    return 0


def _run_chain(args: argparse.Namespace) -> int:
    from functions.local.evm_node import ChainUnavailable, run_chain

    try:
        run_chain(host=args.host, port=args.port, block_seconds=args.block_seconds)
    except ChainUnavailable as error:
        print(f"xenblocks chain: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
