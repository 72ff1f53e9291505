"""Putting a rig together from its settings and certificate bundle, and running it.

``RigRunner`` owns the pieces with a lifetime (engine processes, MQTT connection, outbox
file) and stops them in the right order: hashing first, so the batches in flight are
scanned and their finds stored; then a last delivery; then the connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from miner.backends.base import BackendError
from miner.client import BrokerEndpoint, PlatformClient
from miner.config import ConfigError, MinerConfig
from miner.engine import DeviceSpec, EngineFactory, MiningEngine
from miner.enrolment.bundle import CertificateBundle
from miner.outbox import Outbox
from miner.rig import Network, Rig, RigSettings
from miner.telemetry import Telemetry
from protocol.xenblocks import BlockRules

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
DEFAULT_DIFFICULTY = 1727  # until the network (or, while it is away, the platform) says


def choose_devices(config: MinerConfig) -> list[DeviceSpec]:
    """The devices to mine on, or ConfigError naming what is wrong (an unknown GPU...)."""
    from miner.backends.registry import available_devices

    backend = config.backend
    gpus = available_devices("cupy") if backend in ("auto", "cupy") else []
    if backend == "auto":
        backend = "cupy" if gpus else "cpu"
    if backend == "cpu":
        if config.devices:
            raise ConfigError("--device picks GPUs; the cpu backend uses --processes")
        return [DeviceSpec("cpu", 0, config.processes)]
    if not gpus:
        raise ConfigError(
            "the cupy backend needs an NVIDIA GPU with CUDA and CuPy "
            "(pip install 'xenblocks-platform[gpu]'); none was found: use --backend cpu"
        )
    wanted = config.devices if config.devices else gpus
    unknown = sorted(set(wanted) - set(gpus))
    if unknown:
        raise ConfigError(
            f"no GPU {', '.join(map(str, unknown))}: this machine has GPUs "
            f"{', '.join(map(str, gpus))}"
        )
    return [DeviceSpec("cupy", index) for index in wanted]


@dataclass
class RigParts:
    rig: Rig
    client: PlatformClient
    outbox: Outbox
    telemetry: Telemetry


class RigRunner:
    def __init__(
        self,
        config: MinerConfig,
        bundle: CertificateBundle,
        *,
        devices: list[DeviceSpec] | None = None,
        engine_factory: EngineFactory | None = None,
        network: Network | None = None,
    ) -> None:
        self.config = config
        self.bundle = bundle
        specs = devices if devices is not None else choose_devices(config)
        owner = config.address or bundle.owner
        if owner is None:
            raise ConfigError(
                "no mining address: the bundle does not name its owner; pass --address 0x…"
            )
        rules = BlockRules(
            difficulty=config.difficulty or DEFAULT_DIFFICULTY, block_pattern=config.block_pattern
        )
        settings = RigSettings(
            worker_id=bundle.worker_id,
            owner=owner,
            publish_topics=dict(bundle.publish_topics),
            rules=rules,
            heartbeat_seconds=config.heartbeat_seconds,
            self_mine=config.self_mine,
            submit_to_network=config.submit_to_network,
            network_poll_seconds=config.network_poll_seconds,
        )
        if network is None and config.submit_to_network:
            from miner.network import XenBlocksNetwork

            network = XenBlocksNetwork(config.network_url)
        self.telemetry = Telemetry.open()
        self.outbox = Outbox(bundle.directory / OUTBOX_FILE)
        factory = engine_factory or (
            lambda on_find, on_error: MiningEngine(specs, on_find=on_find, on_error=on_error)
        )
        self.rig = Rig(
            settings,
            engine_factory=factory,
            outbox=self.outbox,
            telemetry=self.telemetry,
            network=network,
        )
        self.client = PlatformClient(
            BrokerEndpoint.of(bundle),
            bundle.worker_id,
            on_message=self.rig.on_message,
            on_connect=self.rig.on_connect,
        )

    def start(self) -> None:
        try:
            self.rig.start(self.client)
        except BackendError:
            self.outbox.close()
            raise
        self.client.start()

    def run(
        self,
        stop: threading.Event,
        *,
        on_tick: Callable[[Rig], None] | None = None,
        tick_seconds: float = 1.0,
    ) -> int:
        """Tick until ``stop`` (or the platform says shutdown); the exit code."""
        self.start()
        try:
            while not stop.is_set() and not self.rig.stop_requested.is_set():
                self.rig.tick()
                if on_tick is not None:
                    on_tick(self.rig)
                stop.wait(tick_seconds)
        finally:
            self.close()
        if self.rig.fatal:
            return 1
        return 0

    def close(self) -> None:
        self.rig.stop()
        self.client.stop()
        pending = self.outbox.count()
        self.outbox.close()
        self.telemetry.close()
        counters = self.rig.counters
        log.info(
            "stopped: %d blocks and %d shares found; %d messages wait in the outbox",
            counters.blocks,
            counters.shares,
            pending,
        )
