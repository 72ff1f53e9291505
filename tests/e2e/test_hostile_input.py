"""The crash body at every entry point of ``xenblocks local``: the process stays alive.

The finding: 100,000 nested arrays (200 KB) sent to ``POST /api/auth/verify`` overflowed the
C stack in ``json.loads`` (eth_account's py_ecc had raised the recursion limit) and the
segfault took the API, WebSocket, ingest and schedules with it. Here the same body and its
smaller cousins go to the HTTP API, the WebSocket and, as a rig, the MQTT broker into
ingest; each gets its refusal, a sentinel after each proves the entry point still works,
and the fixture's Ctrl-C must find the stack alive and exiting cleanly.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from functions.ports.csr import generate_key_and_csr
from miner.enrolment.platform import PlatformApi
from protocol.codec import encode, parse_task
from protocol.messages import Register
from protocol.topics import Downlink, Uplink, topic
from tests.rig_session import rig_client
from tests.wallet import Wallet

CRASH_BODY = b'{"address": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def deep(levels: int) -> bytes:
    return b'{"action": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.fixture
def platform(start_platform: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return start_platform("--miners=0")


def test_the_crash_body_at_every_entry_point_leaves_the_platform_alive(
    platform: dict[str, Any], tmp_path: Path
):
    api = platform["api_url"]

    # -- HTTP: refused before parsing, oversized bodies refused from their length ------------
    response = requests.post(
        f"{api}/api/auth/verify",
        data=CRASH_BODY,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    response = requests.post(
        f"{api}/api/auth/verify",
        data=deep(20_000),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 422, response.text
    assert _answer_to_a_declared_50_mb_body(api).startswith(b"HTTP/1.1 413")
    assert requests.get(f"{api}/api/health", timeout=10).json()["status"] == "ok"

    # -- WebSocket: an oversized frame closes that socket only; a deep one is an error reply -
    with connect(platform["ws_url"], open_timeout=10, max_size=None) as ws:
        ws.send(CRASH_BODY.decode())
        with pytest.raises(ConnectionClosed):
            _drain(ws)
    with connect(platform["ws_url"], open_timeout=10) as ws:
        ws.send(deep(1_500).decode())
        reply = _next_of_type(ws, "error")
        assert "deeper" in reply["data"]["message"]
        ws.send(json.dumps({"action": "snapshot"}))
        assert _next_of_type(ws, "snapshot")["type"] == "snapshot"

    # -- MQTT, as an enrolled rig: deep payloads refused by ingest, then a register is heard -
    wallet = Wallet()
    token = PlatformApi(api).sign_in_with_key(bytes(wallet.account.key).hex())
    key_pem, csr_pem = generate_key_and_csr("rig")
    enrolment = PlatformApi(api).enrol(token, csr_pem, "hostile")
    worker_id = enrolment.worker_id
    with rig_client(
        tmp_path,
        worker_id=worker_id,
        certificate_pem=enrolment.certificate_pem,
        key_pem=key_pem,
        ca_pem=enrolment.ca_pem,
        host=platform["mqtt_host"],
        port=platform["mqtt_port"],
    ) as rig:
        acks: list[bytes] = []
        arrived = threading.Event()

        def on_task(_topic: str, payload: bytes) -> None:
            acks.append(payload)
            arrived.set()

        rig.subscribe(topic(worker_id, Downlink.TASK), on_task)
        for route in (Uplink.REGISTER, Uplink.HEARTBEAT, Uplink.BLOCK):
            rig.publish(topic(worker_id, route), deep(5_000))
        # The sentinel: published after the hostile ones on the same connection, so ingest
        # has been through them when its answer arrives.
        register = Register(
            worker_id=worker_id,
            eth_address=wallet.address,
            gpu_count=0,
            total_memory_gb=0,
            gpus=[],
            version="test",
            timestamp=int(time.time()),
        )
        rig.publish(topic(worker_id, Uplink.REGISTER), encode(register))
        assert arrived.wait(30), "no register_ack: ingest did not survive the deep payloads"
    assert parse_task(acks[0]).accepted
    assert len(acks) == 1  # the hostile registers were refused unanswered

    assert requests.get(f"{api}/api/health", timeout=10).json()["status"] == "ok"


def _answer_to_a_declared_50_mb_body(api_url: str) -> bytes:
    """Declare 50 MB, send 1 KB: the answer must come without the rest being sent."""
    url = urlsplit(api_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/auth/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {50 << 20}\r\n\r\n".encode()
            + b"[" * 1024
        )
        return sock.recv(4096)


def _drain(ws: Any) -> None:
    """Read until the server closes the socket (ConnectionClosed) or 10 s pass."""
    deadline = time.monotonic() + 10
    while (left := deadline - time.monotonic()) > 0:
        ws.recv(timeout=left)


def _next_of_type(ws: Any, kind: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (left := deadline - time.monotonic()) > 0:
        frame = json.loads(ws.recv(timeout=left))
        for message in frame["data"] if frame["type"] == "batch" else [frame]:
            if message["type"] == kind:
                return message
    raise AssertionError(f"no {kind} frame within 10 s")
