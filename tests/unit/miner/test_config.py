"""Miner settings from flags, environment and TOML; the status line's formatting."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from miner.cli import build_parser, config_from_args, main
from miner.config import ConfigError, load_config
from miner.status import StatusDisplay, format_duration, format_hashrate, status_lines
from tests.factories import PROVIDER


def test_flags_beat_the_environment_which_beats_the_toml_file(tmp_path: Path, monkeypatch):
    toml = tmp_path / "miner.toml"
    toml.write_text('backend = "cpu"\nheartbeat_seconds = 10\ndifficulty = 100\n')
    monkeypatch.setenv("XENBLOCKS_MINER_HEARTBEAT_SECONDS", "20")
    config = load_config({"difficulty": 200, "json_logs": None}, toml)
    assert config.backend == "cpu"  # from the file
    assert config.heartbeat_seconds == 20  # the environment over the file
    assert config.difficulty == 200  # the flag over both
    assert config.json_logs is False  # None means "not given"


def test_the_cli_flags_reach_the_config(tmp_path: Path):
    args = build_parser().parse_args(
        [
            "run",
            "--dir",
            str(tmp_path),
            "--backend",
            "cpu",
            "--processes",
            "3",
            "--no-submit",
            "--network-poll-seconds",
            "20",
            "--no-self-mine",
            "--address",
            PROVIDER.lower(),
            "--json",
        ]
    )
    config = config_from_args(args, dir=args.dir)
    assert config.dir == tmp_path
    assert (config.backend, config.processes) == ("cpu", 3)
    assert config.submit_to_network is False
    assert config.network_poll_seconds == 20
    assert config.self_mine is False
    assert config.address == PROVIDER  # checksummed
    assert config.json_logs is True


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        ({"address": "0x1234"}, "address"),
        ({"backend": "gpu"}, "backend"),
        ({"network_url": "ftp://node"}, "network_url"),
        ({"heartbeat_seconds": 1}, "heartbeat_seconds"),
        ({"network_poll_seconds": 61}, "network_poll_seconds"),
        ({"network_poll_seconds": 0}, "network_poll_seconds"),
        ({"block_pattern": "XEN!"}, "block_pattern"),
    ],
)
def test_bad_settings_name_the_setting(flags, complaint):
    with pytest.raises(ConfigError, match=complaint):
        load_config(flags)


def test_a_broken_or_missing_config_file_is_a_clear_error(tmp_path: Path):
    broken = tmp_path / "broken.toml"
    broken.write_text("backend = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config({}, broken)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config({}, tmp_path / "absent.toml")


def test_run_without_an_enrolment_says_what_to_do(tmp_path: Path, capsys):
    code = main(["run", "--dir", str(tmp_path / "nothing"), "--backend", "cpu"])
    assert code == 2
    assert "xenblocks-miner enroll" in capsys.readouterr().err


def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error(tmp_path: Path, capsys):
    from miner.runner import choose_devices

    with pytest.raises(ConfigError, match="cupy backend needs an NVIDIA GPU"):
        choose_devices(load_config({"backend": "cupy"}))
    with pytest.raises(ConfigError, match="--processes"):
        choose_devices(load_config({"backend": "cpu", "devices": [1]}))


def test_hashrates_and_durations_read_well():
    assert format_hashrate(12.34) == "12.3 H/s"
    assert format_hashrate(475_000) == "475.00 kH/s"
    assert format_hashrate(2_500_000) == "2.50 MH/s"
    assert format_duration(59) == "59s"
    assert format_duration(125) == "2m05s"
    assert format_duration(3 * 3600 + 60) == "3h01m"


SNAPSHOT = {
    "at": "2026-11-21T12:00:00+00:00",
    "worker_id": "rig-1",
    "state": "MINING",
    "paused": False,
    "difficulty": 1727,
    "hashrate": 480_000.0,
    "devices": {"cupy#0": 240_000.0, "cupy#1": 240_000.0},
    "blocks": 3,
    "shares": 41,
    "lease": "lease-abcdef123456",
    "lease_seconds_left": 600,
    "connection": "connected",
    "outbox": 0,
}


def test_one_status_line_per_device_then_the_rig():
    lines = status_lines(SNAPSHOT)
    assert len(lines) == 3
    assert "cupy#0" in lines[0]
    assert "240.00 kH/s" in lines[0]
    assert "diff 1727" in lines[2]
    assert "lease lease-abcdef 10m00s left" in lines[2]
    assert "mqtt connected" in lines[2]


def test_the_network_poll_defaults_to_a_minute_and_reaches_the_rig(tmp_path: Path):
    assert load_config({}).network_poll_seconds == 60
    from miner.rig import RigSettings

    assert RigSettings(worker_id="rig-1", owner=PROVIDER).network_poll_seconds == 60


def test_the_status_line_shows_what_the_node_made_of_the_blocks():
    plain = status_lines(SNAPSHOT)[-1]
    assert "node:" not in plain  # no network (--no-submit), or an older snapshot
    snapshot = {
        **SNAPSHOT,
        "difficulty_source": "network",
        "network": True,
        "accepted": 3,
        "duplicates": 1,
        "refused": 2,
        "unreachable": 0,
        "xuni_dropped": 1,
    }
    line = status_lines(snapshot)[-1]
    assert "diff 1727 (network)" in line
    assert "blocks 3 (node: 3 ok (1 dup), 2 refused, 1 XUNI late)" in line


def test_json_mode_prints_one_object_per_status():
    stream = io.StringIO()
    display = StatusDisplay(json_mode=True, stream=stream)
    display.show(SNAPSHOT)
    display.show(SNAPSHOT)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [record["event"] for record in records] == ["status", "status"]
    assert records[0]["hashrate"] == 480_000.0


def test_a_corrupt_outbox_is_one_line_not_a_traceback(tmp_path: Path, capsys, monkeypatch):
    from miner import cli
    from miner.outbox import OutboxError

    def broken(_args):
        raise OutboxError(f"{tmp_path}/outbox.sqlite3 is not a valid outbox")

    monkeypatch.setattr(cli, "_run", broken)
    assert cli.main(["run", "--dir", str(tmp_path)]) == 1
    assert "not a valid outbox" in capsys.readouterr().err
