"""Live update delay: a rig's heartbeat publish → its ``worker`` event on a WebSocket.

    .venv/bin/python bench/live.py [--rigs 100] [--seconds 60] [--interval 5]
                                   [--coalesce 1.0] [--viewers 1]

Starts ``xenblocks local`` as a subprocess (moto, mosquitto with mutual TLS, the rule
bridge, ingest, the stream tap, the WebSocket hub), enrols ``--rigs`` rigs of one provider
through the API, connects each over MQTT with its own certificate, and has each publish a
heartbeat every ``--interval`` seconds (spread evenly) for ``--seconds``. ``--viewers``
WebSockets signed in as the provider watch the whole fleet. Each heartbeat carries a unique
hashrate, so its event is recognised; the delay is from just before the publish to the
frame's arrival. A viewer gets at most one frame per ``--coalesce`` seconds (the deployed
window is 1 s), so that window bounds the delay a busy dashboard sees; ``--coalesce 0``
measures the pipeline alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.sync.client import connect

from functions.local.mqtt_client import ServiceClient
from miner.enrolment.bundle import CertificateBundle
from miner.enrolment.platform import PlatformApi
from miner.fleet import enrol_fleet
from protocol.codec import encode
from protocol.topics import Uplink, topic
from protocol.uplink import Heartbeat, Register


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_stack(state: Path, coalesce: float) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    ports = [free_port() for _ in range(4)]
    command = [
        sys.executable,
        "-m",
        "tools.cli",
        "local",
        f"--state-dir={state}",
        f"--dynamodb-port={ports[0]}",
        f"--mqtt-port={ports[1]}",
        f"--api-port={ports[2]}",
        f"--ws-port={ports[3]}",
        f"--live-coalesce-seconds={coalesce}",
    ]
    log = (state.parent / "stack.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not (state / "local.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"xenblocks local did not start: see {state.parent / 'stack.log'}")
        time.sleep(0.2)
    return process, json.loads((state / "local.json").read_text())


class Rig:
    def __init__(self, bundle: CertificateBundle, number: int) -> None:
        self.bundle = bundle
        self.number = number
        self.client = ServiceClient(
            host=bundle.mqtt_host,
            port=bundle.mqtt_port,
            ca_path=bundle.ca_path,
            cert_path=bundle.certificate_path,
            key_path=bundle.private_key_path,
            client_id=bundle.worker_id,
        )
        self.sequence = 0

    def topic(self, kind: Uplink) -> str:
        return self.bundle.publish_topics.get(kind.value) or topic(self.bundle.worker_id, kind)

    def register(self, owner: str) -> None:
        message = Register(
            worker_id=self.bundle.worker_id,
            eth_address=owner,
            gpu_count=1,
            total_memory_gb=24,
            gpus=[],
            version="bench",
            timestamp=int(time.time()),
        )
        self.client.publish(self.topic(Uplink.REGISTER), encode(message))

    def heartbeat(self) -> tuple[float, float]:
        """Publish one heartbeat; its (unique) hashrate and the time just before."""
        self.sequence += 1
        hashrate = float(self.number * 1_000_000 + self.sequence)
        message = Heartbeat(
            worker_id=self.bundle.worker_id,
            hashrate=hashrate,
            active_gpus=1,
            accepted_blocks=0,
            difficulty=8,
            uptime_sec=self.sequence,
            timestamp=int(time.time()),
        )
        sent = time.monotonic()
        self.client.publish(self.topic(Uplink.HEARTBEAT), encode(message), qos=0)
        return hashrate, sent


class Viewer(threading.Thread):
    def __init__(self, url: str, token: str, sent: dict[tuple[str, float], float]) -> None:
        super().__init__(daemon=True)
        self.ws = connect(f"{url}/?token={token}", open_timeout=10)
        self.sent = sent
        self.delays: list[float] = []
        self.counted: set[tuple[str, float]] = set()
        self.frames = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                frame = json.loads(self.ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            except Exception:
                return
            arrived = time.monotonic()
            self.frames += 1
            for message in frame["data"] if frame["type"] == "batch" else [frame]:
                if message["type"] != "worker":
                    continue
                key = (message["data"]["worker_id"], float(message["data"]["hashrate"]))
                # The first event showing this heartbeat counts; a later write to the same
                # worker (a liveness check) shows the same figures again and is not news.
                if key not in self.counted and (published := self.sent.get(key)) is not None:
                    self.counted.add(key)
                    self.delays.append(arrived - published)

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=5)
        self.ws.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rigs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=5.0, help="heartbeat interval")
    parser.add_argument("--coalesce", type=float, default=1.0, help="frame window, seconds")
    parser.add_argument("--viewers", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    work = Path(tempfile.mkdtemp(prefix="xenblocks-live-bench-"))
    state = work / "state"
    state.mkdir()
    process, local = start_stack(state, args.coalesce)
    rigs: list[Rig] = []
    viewers: list[Viewer] = []
    try:
        from functions.local.miners import provider_key, wallet_address

        key, _ = provider_key(state)
        owner = wallet_address(key)
        started = time.monotonic()
        bundles = enrol_fleet(
            args.rigs, work / "rigs", local["api_url"], token=None, wallet_key=key
        )
        print(f"enrolled {len(bundles)} rigs in {time.monotonic() - started:.1f}s", flush=True)
        rigs = [Rig(bundle, n + 1) for n, bundle in enumerate(bundles)]
        for rig in rigs:
            rig.client.connect()
            rig.register(owner)
        token = PlatformApi(local["api_url"]).sign_in_with_key(key)
        sent: dict[tuple[str, float], float] = {}
        viewers = [Viewer(local["ws_url"], token, sent) for _ in range(args.viewers)]
        for viewer in viewers:
            viewer.start()
        time.sleep(3)  # registrations land; their events are not measured

        gap = args.interval / len(rigs)
        published = 0
        begin = time.monotonic()
        while time.monotonic() - begin < args.seconds:
            for rig in rigs:
                hashrate, at = rig.heartbeat()
                sent[(rig.bundle.worker_id, hashrate)] = at
                published += 1
                next_at = begin + published * gap
                time.sleep(max(0.0, next_at - time.monotonic()))
        time.sleep(args.coalesce + 3)  # the last frames arrive
        for viewer in viewers:
            viewer.close()
        delays = [d for viewer in viewers for d in viewer.delays]
        frames = sum(viewer.frames for viewer in viewers)
        expected = published * len(viewers)
        print(
            f"rigs {args.rigs}, heartbeat every {args.interval:g}s, {args.seconds:g}s, "
            f"coalesce {args.coalesce:g}s, viewers {args.viewers}"
        )
        print(f"heartbeats published {published}, events seen {len(delays)} of {expected}")
        if delays:
            print(
                f"delay p50 {percentile(delays, 0.50) * 1000:.0f} ms, "
                f"p90 {percentile(delays, 0.90) * 1000:.0f} ms, "
                f"p99 {percentile(delays, 0.99) * 1000:.0f} ms, "
                f"max {max(delays) * 1000:.0f} ms, mean {statistics.mean(delays) * 1000:.0f} ms"
            )
        print(f"frames per viewer per second {frames / len(viewers) / args.seconds:.2f}")
    finally:
        for rig in rigs:
            rig.client.close()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
