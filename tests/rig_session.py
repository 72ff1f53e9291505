"""An enrolled rig's MQTT session in tests: its bundle on disk and a connected client."""

from __future__ import annotations

from pathlib import Path

from functions.local.mqtt_client import ServiceClient


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
