"""``xenblocks local``: the platform's backing services on this machine.

Today: moto's DynamoDB on loopback with every table created from the dal specs, its
requests serialized like DynamoDB's, and ``.xenblocks/local.json`` describing it. The
broker, API, WebSocket hub, schedules, dashboard and miners join it as they are built.
"""

from __future__ import annotations

import contextlib
import errno
import json
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.dal.tables import Tables, create_tables
from functions.local.moto_dynamodb import serialize_dynamodb_requests
from functions.settings import Settings

LOCAL_DIR = Path(".xenblocks")
LOCAL_JSON = LOCAL_DIR / "local.json"


class PortInUse(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalOptions:
    host: str = "127.0.0.1"
    dynamodb_port: int = 8000
    state_dir: Path = LOCAL_DIR


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} on {host} is in use; pick another with --dynamodb-port"
                ) from error
            raise


def run_local(options: LocalOptions, *, stop: threading.Event | None = None) -> dict[str, Any]:
    """Start the services, write local.json, and block until Ctrl-C (or ``stop`` is set)."""
    from moto.server import ThreadedMotoServer

    _check_port_free(options.host, options.dynamodb_port)
    serialize_dynamodb_requests()
    server = ThreadedMotoServer(ip_address=options.host, port=options.dynamodb_port, verbose=False)
    server.start()
    endpoint = f"http://{options.host}:{options.dynamodb_port}"
    try:
        settings = Settings(stage="local", dynamodb_endpoint_url=endpoint)
        tables = Tables(settings)
        create_tables(tables)
        description = {
            "stage": settings.stage,
            "region": settings.aws_region,
            "dynamodb_endpoint_url": endpoint,
            "table_prefix": settings.resolved_table_prefix,
            "tables": sorted(tables.client.list_tables()["TableNames"]),
        }
        options.state_dir.mkdir(parents=True, exist_ok=True)
        (options.state_dir / "local.json").write_text(json.dumps(description, indent=2) + "\n")
        print(f"DynamoDB (moto)  {endpoint}  tables: {settings.resolved_table_prefix}-*")
        print(f"Wrote {options.state_dir / 'local.json'}. Ctrl-C stops everything.", flush=True)
        done = stop or threading.Event()
        if stop is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: done.set())
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way out
            done.wait()
        return description
    finally:
        server.stop()
