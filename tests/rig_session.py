"""An enrolled rig's MQTT session in tests: its bundle on disk and a connected client."""

from __future__ import annotations

import time
from pathlib import Path

from functions.local.mqtt_client import ServiceClient
from protocol.messages import Register
from tests.factories import PROVIDER


def rig_client(
    directory: Path,
    *,
    worker_id: str,
    certificate_pem: str,
    key_pem: str,
    ca_pem: str,
    host: str,
    port: int,
) -> ServiceClient:
    """A client for the rig (client id = its worker id), not yet connected: use ``with``."""
    paths = {name: directory / f"{worker_id}.{name}" for name in ("pem", "key", "ca.pem")}
    paths["pem"].write_text(certificate_pem)
    paths["key"].write_text(key_pem)
    paths["ca.pem"].write_text(ca_pem)
    return ServiceClient(
        host=host,
        port=port,
        ca_path=paths["ca.pem"],
        cert_path=paths["pem"],
        key_path=paths["key"],
        client_id=worker_id,
    )


def gpuless_register(worker_id: str, owner: str = PROVIDER) -> Register:
    """The ``register`` of a rig without GPUs (enough to be answered), sent now."""
    return Register(
        worker_id=worker_id,
        eth_address=owner,
        gpu_count=0,
        total_memory_gb=0,
        gpus=[],
        version="test",
        timestamp=int(time.time()),
    )
