"""``xenblocks local`` serves the tables from the specs on a real port."""

from __future__ import annotations

import json
import socket
import threading
import time

import boto3
import pytest

from functions.dal.specs import ALL_TABLES
from functions.local.stack import LocalOptions, PortInUse, run_local


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_local_stack_creates_every_table_and_describes_itself(tmp_path):
    port, stop = _free_port(), threading.Event()
    options = LocalOptions(dynamodb_port=port, state_dir=tmp_path)
    runner = threading.Thread(target=run_local, args=(options,), kwargs={"stop": stop})
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "local.json").exists():
            assert time.monotonic() < deadline, "local.json never appeared"
            time.sleep(0.1)
        description = json.loads((tmp_path / "local.json").read_text())
        client = boto3.client(
            "dynamodb", endpoint_url=description["dynamodb_endpoint_url"], region_name="us-east-1"
        )
        names = set(client.list_tables()["TableNames"])
        assert names == {f"xenblocks-local-{t.name}" for t in ALL_TABLES}
        with pytest.raises(PortInUse):
            run_local(LocalOptions(dynamodb_port=port, state_dir=tmp_path / "second"))
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()
