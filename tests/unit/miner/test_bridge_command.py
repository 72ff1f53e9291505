"""``xenblocks-miner bridge``'s command line: what it refuses before touching the network."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from miner.bridge.command import run_bridge_command
from miner.bridge.lan import parse_listen
from miner.cli import build_parser


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:1883", ("127.0.0.1", 1883)),
        ("0.0.0.0:18830", ("0.0.0.0", 18830)),  # noqa: S104 (the LAN, on purpose)
        ("rigs.lan", ("rigs.lan", 1883)),
        (":2883", ("127.0.0.1", 2883)),
        ("[::1]:1883", ("[::1]", 1883)),
    ],
)
def test_listen_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_listen(text) == address


@pytest.mark.parametrize("text", ["host:0", "host:65536", "host:http", "[::1"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="--listen"):
        parse_listen(text)


def _run(tmp_path: Path, *flags: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    args = build_parser().parse_args(["bridge", "--fleet-dir", str(tmp_path / "fleet"), *flags])
    err = io.StringIO()
    code = run_bridge_command(args, environ=env or {}, stop=threading.Event(), stderr=err)
    return code, err.getvalue()


def test_the_defaults_listen_on_loopback_only() -> None:
    args = build_parser().parse_args(["bridge"])
    assert args.listen == "127.0.0.1:1883"
    assert str(args.fleet_dir) == "~/.xenblocks/bridge"


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["--listen", "host:99999"], {}, "the port must be 1-65535"),
        (["--token", "t"], {}, "--api URL is required"),
        (["--api", "http://127.0.0.1:8080"], {}, "sign in with --token"),
        (["--api", "ftp://x", "--token", "t"], {}, "is not an http(s) URL"),
        (["--block-pattern", "XEN-1", "--api", "http://a", "--token", "t"], {}, "base64"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, flags: list[str], env: dict[str, str], message: str
) -> None:
    code, err = _run(tmp_path, *flags, env=env)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "fleet").exists()
