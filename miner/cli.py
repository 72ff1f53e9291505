"""``xenblocks-miner``: the command rig owners run.

xenblocks-miner enroll --api URL --wallet-key-file KEY   make this rig a platform worker
xenblocks-miner run                                        mine, report, take leases
xenblocks-miner bench --difficulty 1727,16000              H/s per backend, vs argon2-cffi
xenblocks-miner fleet --count 4 --api URL --token T        N CPU or simulated rigs
xenblocks-miner bridge --api URL --wallet-key-file KEY     existing XenblocksMiner rigs (LAN MQTT)
xenblocks-miner hash --key K --address 0x… --difficulty M  one hash, for debugging
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from miner.backends.base import BackendError
from miner.bench import add_bench_arguments, run_bench_command
from miner.client import ClientSetupError
from miner.config import ConfigError, MinerConfig, load_config
from miner.enrolment.command import add_enroll_arguments, run_enroll_command
from miner.enrolment.errors import BundleError
from miner.outbox import OutboxError
from protocol.addresses import salt_bytes, to_checksum
from protocol.errors import ProtocolError
from protocol.xenblocks import MIN_DIFFICULTY, b64_nopad, validate_key

USAGE_ERROR = 2


def _difficulty(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError("difficulty is a whole number of KiB") from error
    if value < MIN_DIFFICULTY:
        raise argparse.ArgumentTypeError(f"difficulty must be at least {MIN_DIFFICULTY}")
    return value


def _add_mining_arguments(parser: argparse.ArgumentParser) -> None:
    """Settings ``run`` and ``fleet`` share; None means "not given" (env/TOML decide)."""
    parser.add_argument("--config", type=Path, help="a TOML file of settings")
    parser.add_argument("--backend", choices=["auto", "cpu", "cupy"], help="default auto")
    parser.add_argument(
        "--device",
        type=int,
        action="append",
        dest="devices",
        help="a GPU index to mine on (repeat for several; default all)",
    )
    parser.add_argument("--processes", type=int, help="cpu backend: worker processes")
    parser.add_argument("--address", help="self-mining address (default: the rig's owner)")
    parser.add_argument(
        "--no-self-mine",
        dest="self_mine",
        action="store_const",
        const=False,
        help="stand still between leases instead of mining for the owner",
    )
    parser.add_argument(
        "--no-submit",
        dest="submit_to_network",
        action="store_const",
        const=False,
        help="do not submit blocks to the XenBlocks network (local and test platforms)",
    )
    parser.add_argument("--network-url", help="the XenBlocks node (default http://xenblocks.io)")
    parser.add_argument(
        "--network-poll-seconds",
        type=int,
        help="read the node's difficulty this often, 1-60 s (default 60); it wins over the "
        "platform's, which is the fallback while the node is out of reach",
    )
    parser.add_argument(
        "--difficulty",
        type=_difficulty,
        help="starting difficulty, KiB, until the network or the platform says otherwise",
    )
    parser.add_argument("--block-pattern", help="what counts as a block (default XEN11)")
    parser.add_argument("--heartbeat-seconds", type=int)
    parser.add_argument(
        "--json",
        dest="json_logs",
        action="store_const",
        const=True,
        help="JSON log lines instead of the live status line (for services)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")


_CONFIG_FLAGS = (
    "backend",
    "devices",
    "processes",
    "address",
    "self_mine",
    "submit_to_network",
    "network_url",
    "network_poll_seconds",
    "difficulty",
    "block_pattern",
    "heartbeat_seconds",
    "json_logs",
)


def config_from_args(args: argparse.Namespace, **extra: Any) -> MinerConfig:
    flags = {name: getattr(args, name, None) for name in _CONFIG_FLAGS}
    flags.update(extra)
    return load_config(flags, args.config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xenblocks-miner",
        description="XenBlocks miner: Argon2id on NVIDIA GPUs or CPUs, for yourself or a renter.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    enroll = commands.add_parser("enroll", help="make this rig a platform worker (certificate)")
    add_enroll_arguments(enroll)

    run = commands.add_parser("run", help="mine, report to the platform, take leases")
    run.add_argument("--dir", type=Path, help="the certificate bundle (default ~/.xenblocks/miner)")
    _add_mining_arguments(run)

    bench = commands.add_parser("bench", help="hashes per second per backend")
    add_bench_arguments(bench)

    fleet = commands.add_parser("fleet", help="N CPU or simulated rigs against a platform")
    from miner.fleet import add_fleet_arguments

    add_fleet_arguments(fleet)
    _add_mining_arguments(fleet)

    bridge = commands.add_parser(
        "bridge",
        help="bring existing XenblocksMiner rigs (plain MQTT on the LAN) onto the platform",
        description="An MQTT listener for existing XenblocksMiner rigs (plain MQTT; binding "
        "0.0.0.0 exposes it to the LAN): each rig id is enrolled on first sight and bridged "
        "over its own mutual-TLS connection, its blocks kept in an outbox until delivered.",
    )
    from miner.bridge.command import add_bridge_arguments

    add_bridge_arguments(bridge)

    hash_cmd = commands.add_parser("hash", help="print the base64 hash of one key (debugging)")
    hash_cmd.add_argument("--key", required=True, help="64 lowercase hex characters")
    hash_cmd.add_argument("--address", required=True, help="the mining address, 0x…")
    hash_cmd.add_argument("--difficulty", type=_difficulty, required=True, help="memory, KiB")
    hash_cmd.add_argument("--backend", choices=["cpu", "cupy"], default="cpu")
    hash_cmd.add_argument("--device", type=int, default=0, help="GPU index for cupy")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # CUDA numbers GPUs fastest-first by default; NVML by PCI bus. Agree on the bus order
    # so a GPU's hashrate and its temperature belong to the same card.
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    args = build_parser().parse_args(argv)
    if args.command == "enroll":
        return run_enroll_command(args)
    if args.command == "bench":
        return run_bench_command(args)
    if args.command == "hash":
        return _hash(args)
    if args.command == "bridge":
        from miner.bridge.command import run_bridge_command

        return run_bridge_command(args)
    try:
        if args.command == "run":
            return _run(args)
        from miner.fleet import run_fleet_command

        return run_fleet_command(args, config_from_args(args))
    except (ConfigError, BundleError, ClientSetupError) as error:
        print(f"xenblocks-miner: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (BackendError, OutboxError) as error:
        print(f"xenblocks-miner: {error}", file=sys.stderr)
        return 1


def _hash(args: argparse.Namespace) -> int:
    from miner.backends.registry import make_backend

    try:
        key = validate_key(args.key)
        address = to_checksum(args.address)
    except ProtocolError as error:
        print(f"xenblocks-miner: {error}", file=sys.stderr)
        return USAGE_ERROR
    try:
        backend = make_backend(args.backend, args.device, processes=1)
    except BackendError as error:
        print(f"xenblocks-miner: {error}", file=sys.stderr)
        return 1
    try:
        (raw,) = backend.hash_keys([key], salt_bytes(address), args.difficulty)
    finally:
        backend.close()
    print(b64_nopad(raw))
    return 0


def _run(args: argparse.Namespace) -> int:
    from miner.enrolment.bundle import CertificateBundle
    from miner.runner import RigRunner
    from miner.status import StatusDisplay, configure_logging

    config = config_from_args(args, dir=args.dir)
    configure_logging(json_mode=config.json_logs, verbose=args.verbose)
    bundle = CertificateBundle.load(config.dir)
    runner = RigRunner(config, bundle)
    display = StatusDisplay(json_mode=config.json_logs)
    stop = threading.Event()
    install_stop_signals(stop)
    return runner.run(stop, on_tick=lambda rig: display.show(rig.snapshot()))


def install_stop_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM stop the miner cleanly (finds in flight are kept)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())


if __name__ == "__main__":
    raise SystemExit(main())
