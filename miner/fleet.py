"""``xenblocks-miner fleet``: N rigs in one process, for demos and load.

Each rig is enrolled once (its bundle lives under ``--fleet-dir``/rig-NN and is reused on
the next start) and then runs exactly like ``xenblocks-miner run``: its own MQTT
connection, outbox and state machine. CPU rigs really hash (one worker process each by
default); ``--simulated`` rigs hash nothing and report ``--hashrate``, to load a platform
with many rigs cheaply.

Started by another program (``xenblocks local``), the fleet is given a lifeline
(``--lifeline-fd``, see ``miner.lifeline``): it stops when that program is gone, however it
went, rather than mine and heartbeat into nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import threading
from functools import partial
from pathlib import Path

from miner.config import ConfigError, MinerConfig
from miner.engine import DeviceSpec, ErrorCallback, FindCallback
from miner.enrolment.bundle import CertificateBundle
from miner.enrolment.command import API_URL_ENV, resolve_credentials
from miner.enrolment.errors import EnrollError
from miner.enrolment.flow import enroll
from miner.enrolment.keys import wallet_address
from miner.enrolment.platform import PlatformApi
from miner.lifeline import watch_lifeline
from miner.runner import RigRunner
from miner.search import Job
from miner.status import configure_logging, format_hashrate

log = logging.getLogger(__name__)

DEFAULT_FLEET_DIR = Path(".xenblocks/fleet")
# Once its lifeline closed, how long the fleet may take to stop before it exits outright.
LIFELINE_GRACE_SECONDS = 15.0


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, required=True, help="how many rigs")
    parser.add_argument("--api", help="the platform API URL (default $XENBLOCKS_API_URL)")
    parser.add_argument("--token", help="a provider session token (or $XENBLOCKS_TOKEN)")
    parser.add_argument(
        "--wallet-key-file", type=Path, help="the provider's wallet key (or $XENBLOCKS_WALLET_KEY)"
    )
    parser.add_argument("--fleet-dir", type=Path, default=DEFAULT_FLEET_DIR)
    parser.add_argument(
        "--simulated", action="store_true", help="report --hashrate instead of hashing"
    )
    parser.add_argument(
        "--hashrate", type=float, default=1000.0, help="a simulated rig's H/s (default 1000)"
    )
    parser.add_argument(
        "--lifeline-fd",
        type=int,
        help="a pipe's read end from the program starting the fleet: stop when it closes",
    )


class SimulatedEngine:
    """Stands in for ``MiningEngine``: reports a steady hashrate and finds nothing."""

    def __init__(self, hashrate: float, on_find: FindCallback, on_error: ErrorCallback) -> None:
        self.devices = [DeviceSpec("simulated", 0)]
        self._hashrate = hashrate * random.uniform(0.95, 1.05)
        self._job: Job | None = None

    @property
    def job(self) -> Job | None:
        return self._job

    def start(self) -> None:
        pass

    def post(self, job: Job | None) -> None:
        self._job = job

    def rates(self) -> dict[int, float]:
        return {0: self._hashrate if self._job is not None else 0.0}

    def hashrate(self) -> float:
        return sum(self.rates().values())

    def block_attempts(self) -> int:
        return 0

    def stop(self) -> None:
        self._job = None


def enrol_fleet(
    count: int, fleet_dir: Path, api_url: str, *, token: str | None, wallet_key: str | None
) -> list[CertificateBundle]:
    """The fleet's bundles, enrolling the rigs that have none yet (one sign-in for all)."""
    bundles: list[CertificateBundle] = []
    if wallet_key is not None and token is None:
        missing = [n for n in range(count) if not CertificateBundle.exists(_rig_dir(fleet_dir, n))]
        if missing:
            token = PlatformApi(api_url).sign_in_with_key(wallet_key)
            log.info("signed in as %s", wallet_address(wallet_key))
    for number in range(count):
        directory = _rig_dir(fleet_dir, number)
        if CertificateBundle.exists(directory):
            bundles.append(CertificateBundle.load(directory))
            continue
        bundles.append(
            enroll(api_url, token=token, name=f"fleet-{number + 1:02d}", bundle_dir=directory)
        )
        log.info("enrolled %s in %s", bundles[-1].worker_id, directory)
    return bundles


def _rig_dir(fleet_dir: Path, number: int) -> Path:
    return fleet_dir / f"rig-{number + 1:02d}"


def run_fleet_command(args: argparse.Namespace, config: MinerConfig) -> int:
    from miner.cli import install_stop_signals

    configure_logging(json_mode=config.json_logs, verbose=getattr(args, "verbose", False))
    stop = threading.Event()
    if args.lifeline_fd is not None:  # first: the starter may die while we enrol
        watch_lifeline(args.lifeline_fd, stop, grace=LIFELINE_GRACE_SECONDS)
    if not 1 <= args.count <= 1000:
        raise ConfigError("--count must be between 1 and 1000")
    if args.simulated and not args.hashrate > 0:
        raise ConfigError("--hashrate must be a positive number")
    api_url = args.api or os.environ.get(API_URL_ENV, "")
    if not api_url:
        raise ConfigError(f"--api URL is required (or set ${API_URL_ENV})")
    try:
        credentials = resolve_credentials(args, os.environ, sys.stderr)
        bundles = enrol_fleet(
            args.count,
            args.fleet_dir,
            api_url,
            token=credentials.token,
            wallet_key=credentials.wallet_key,
        )
    except EnrollError as error:
        print(f"xenblocks-miner fleet: {error}", file=sys.stderr)
        return error.exit_code

    install_stop_signals(stop)
    kind = "simulated" if args.simulated else "CPU"
    print(f"{len(bundles)} {kind} rigs; Ctrl-C stops them", flush=True)
    run_fleet(
        bundles,
        config,
        stop,
        simulated_hashrate=args.hashrate if args.simulated else None,
        report_every=60 if config.json_logs else 30,
    )
    return 0


def run_fleet(
    bundles: list[CertificateBundle],
    config: MinerConfig,
    stop: threading.Event,
    *,
    simulated_hashrate: float | None = None,
    report_every: float = 30,
) -> list[RigRunner]:
    """Run one rig per bundle until ``stop``; CPU rigs get one worker process each unless
    ``--processes`` says otherwise. Returns the runners (stopped)."""
    processes = config.processes or 1
    rig_config = config.model_copy(update={"processes": processes})
    runners = []
    for bundle in bundles:
        if simulated_hashrate is not None:
            runner = RigRunner(
                rig_config,
                bundle,
                devices=[DeviceSpec("simulated", 0)],
                engine_factory=partial(SimulatedEngine, simulated_hashrate),
            )
        else:
            runner = RigRunner(rig_config, bundle, devices=[DeviceSpec("cpu", 0, processes)])
        runners.append(runner)
    threads = [
        threading.Thread(target=runner.run, args=(stop,), name=runner.bundle.worker_id)
        for runner in runners
    ]
    for thread in threads:
        thread.start()
    while not stop.wait(report_every):
        total = sum(runner.rig.engine.hashrate() for runner in runners)
        blocks = sum(runner.rig.counters.blocks for runner in runners)
        online = sum(1 for runner in runners if runner.client.connected)
        print(
            f"fleet: {online}/{len(runners)} connected, {format_hashrate(total)}, {blocks} blocks",
            flush=True,
        )
        if all(not thread.is_alive() for thread in threads):
            break
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    return runners
