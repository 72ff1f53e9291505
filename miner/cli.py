"""``xenblocks-miner``: the command rig owners run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from protocol.addresses import to_checksum
from protocol.errors import ProtocolError
from protocol.xenblocks import MIN_DIFFICULTY, compute_hash, validate_key


def _difficulty(text: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError("difficulty is a whole number of KiB") from error
    if value < MIN_DIFFICULTY:
        raise argparse.ArgumentTypeError(f"difficulty must be at least {MIN_DIFFICULTY}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xenblocks-miner", description="XenBlocks miner.")
    commands = parser.add_subparsers(dest="command", required=True)
    hash_cmd = commands.add_parser("hash", help="print the base64 hash of one key (debugging)")
    hash_cmd.add_argument("--key", required=True, help="64 lowercase hex characters")
    hash_cmd.add_argument("--address", required=True, help="the mining address, 0x…")
    hash_cmd.add_argument("--difficulty", type=_difficulty, required=True, help="memory, KiB")
    hash_cmd.add_argument("--backend", choices=["cpu"], default="cpu")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        key = validate_key(args.key)
        address = to_checksum(args.address)
    except ProtocolError as error:
        print(f"xenblocks-miner: {error}", file=sys.stderr)
        return 2
    print(compute_hash(key, address, args.difficulty))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
