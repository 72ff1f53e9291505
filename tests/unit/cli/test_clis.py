from __future__ import annotations

import json

import pytest

from functions.dal.specs import ALL_TABLES
from miner.cli import main as miner
from protocol.xenblocks import compute_hash
from tools.cli import main as xenblocks

KEY = "ab" * 32
ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def test_miner_hash_prints_the_reference_hash(capsys):
    assert miner(["hash", "--key", KEY, "--address", ADDRESS.lower(), "--difficulty", "8"]) == 0
    assert capsys.readouterr().out.strip() == compute_hash(KEY, ADDRESS, 8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "xyz", "--address", ADDRESS, "--difficulty", "8"], "key"),
        (["--key", KEY, "--address", "0x1234", "--difficulty", "8"], "address"),
    ],
)
def test_miner_hash_explains_bad_input(capsys, args, message):
    assert miner(["hash", *args]) == 2
    assert message in capsys.readouterr().err


def test_miner_hash_refuses_a_too_small_difficulty(capsys):
    with pytest.raises(SystemExit) as exit_info:
        miner(["hash", "--key", KEY, "--address", ADDRESS, "--difficulty", "7"])
    assert exit_info.value.code == 2
    assert "at least 8" in capsys.readouterr().err


def test_tables_lists_every_spec(capsys):
    assert xenblocks(["tables", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["TableName"] for line in lines] == [t.name for t in ALL_TABLES]
    assert xenblocks(["tables"]) == 0
    assert "by_active_worker" in capsys.readouterr().out


def test_reconcile_explains_a_missing_local_json(capsys, tmp_path):
    missing = tmp_path / "local.json"
    assert xenblocks(["reconcile", "--local-json", str(missing)]) == 2
    assert "cannot read the settings" in capsys.readouterr().err


def test_reconcile_explains_a_stage_without_a_chain(capsys, tmp_path):
    local = tmp_path / "local.json"
    local.write_text(
        '{"dynamodb_endpoint_url": "http://127.0.0.1:1", "table_prefix": "xenblocks-local",'
        ' "chain_rpc_url": null, "chain_id": null, "token_address": null}'
    )
    assert xenblocks(["reconcile", "--local-json", str(local)]) == 2
    assert "no chain to reconcile" in capsys.readouterr().err


def test_hot_wallet_resync_explains_a_missing_local_json(capsys, tmp_path):
    missing = tmp_path / "local.json"
    assert xenblocks(["hot-wallet", "resync", "--local-json", str(missing)]) == 2
    assert "cannot read the settings" in capsys.readouterr().err
