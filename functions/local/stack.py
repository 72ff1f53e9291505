"""``xenblocks local``: the platform on this machine, in one process tree.

Today: moto's DynamoDB (tables from the dal specs), a local CA and MQTT broker with mutual
TLS and per-rig ACLs (mosquitto, or the embedded amqtt broker), the rule bridge feeding the
ingest handler, the HTTP API on uvicorn, and the scheduled jobs (settlement, health, price
index, reputation, fleet figures, alerts) on short local intervals. It writes
``.xenblocks/local.json`` describing all of it. The WebSocket hub, dashboard and CPU miners
join as their issues land.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from functions.dal.tables import Tables, create_tables
from functions.local.moto_dynamodb import serialize_dynamodb_requests
from functions.settings import Settings
from protocol.xenblocks import BlockRules

LOCAL_DIR = Path(".xenblocks")
LOCAL_JSON = LOCAL_DIR / "local.json"
log = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalOptions:
    host: str = "127.0.0.1"
    dynamodb_port: int = 8000
    mqtt_port: int = 8883
    api_port: int = 8080
    broker: str = "auto"  # auto | mosquitto | amqtt
    state_dir: Path = LOCAL_DIR
    # Easy rules so a laptop finds blocks: the network's are far harder.
    difficulty: int = 8
    block_pattern: str = "XEN"


def _check_port_free(host: str, port: int, flag: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"port {port} on {host} is in use; pick another with {flag}"
                ) from error
            raise


def _jwt_secret(state_dir: Path) -> SecretStr:
    """One signing secret per state directory, so sessions survive a restart."""
    path = state_dir / "jwt.secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return SecretStr(path.read_text().strip())


def local_settings(options: LocalOptions, dynamodb_endpoint: str) -> Settings:
    return Settings(
        stage="local",
        dynamodb_endpoint_url=dynamodb_endpoint,
        mqtt_host=options.host,
        mqtt_port=options.mqtt_port,
        rules=BlockRules(difficulty=options.difficulty, block_pattern=options.block_pattern),
        jwt_secret=_jwt_secret(options.state_dir),
        # Locally every heartbeat is written: live views beat write costs here.
        heartbeat_write_seconds=30,
    )


def run_local(
    options: LocalOptions,
    *,
    stop: threading.Event | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    on_started: Callable[[LocalHandles], None] | None = None,
) -> dict[str, Any]:
    """Start the services, write local.json, and block until Ctrl-C (or ``stop`` is set).

    ``on_started`` gets handles on the running services (tests use them to restart the
    broker under connected rigs).
    """
    from moto.server import ThreadedMotoServer

    for port, flag in (
        (options.dynamodb_port, "--dynamodb-port"),
        (options.mqtt_port, "--mqtt-port"),
        (options.api_port, "--api-port"),
    ):
        _check_port_free(options.host, port, flag)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    serialize_dynamodb_requests()
    with ExitStack() as services:
        server = ThreadedMotoServer(
            ip_address=options.host, port=options.dynamodb_port, verbose=False
        )
        server.start()
        services.callback(server.stop)
        endpoint = f"http://{options.host}:{options.dynamodb_port}"
        settings = local_settings(options, endpoint)
        tables = Tables(settings)
        create_tables(tables)
        device_plane = services.enter_context(_device_plane(options, settings, tables))
        api_url = services.enter_context(_api(options, settings, tables, device_plane))
        scheduler = services.enter_context(_schedules(settings, tables, device_plane))
        description = {
            "stage": settings.stage,
            "region": settings.aws_region,
            "dynamodb_endpoint_url": endpoint,
            "table_prefix": settings.resolved_table_prefix,
            "tables": sorted(tables.client.list_tables()["TableNames"]),
            "api_url": api_url,
            "mqtt_host": options.host,
            "mqtt_port": options.mqtt_port,
            "mqtt_broker": device_plane.broker.kind,
            "ca_path": str(device_plane.ca.ca_path.resolve()),
            "difficulty": options.difficulty,
            "block_pattern": options.block_pattern,
            "schedules": {job.name: job.every_seconds for job in scheduler.jobs},
        }
        (options.state_dir / "local.json").write_text(json.dumps(description, indent=2) + "\n")
        print(f"DynamoDB (moto)  {endpoint}  tables: {settings.resolved_table_prefix}-*")
        broker_url = f"mqtts://{options.host}:{options.mqtt_port}"
        print(f"MQTT broker      {broker_url}  ({device_plane.broker.kind}, mutual TLS)")
        print(f"API              {api_url}/api  (docs: {api_url}/api/docs)")
        jobs = ", ".join(f"{job.name} {job.every_seconds:g}s" for job in scheduler.jobs)
        print(f"Schedules        {jobs}")
        print(f"Wrote {options.state_dir / 'local.json'}. Ctrl-C stops everything.", flush=True)
        if on_ready is not None:
            on_ready(description)
        if on_started is not None:
            on_started(LocalHandles(description, settings, tables, device_plane))
        done = stop or threading.Event()
        if stop is None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: done.set())
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way out
            done.wait()
        return description


@dataclass
class _DevicePlane:
    ca: Any
    broker: Any
    bridge: Any
    client: Any  # the service identity's MQTT connection: publishes commands to rigs
    restart: Callable[[], Any]  # starts a broker like the first one, on the same port

    def stop_broker(self, *, crash: bool = False) -> None:
        """Stop the broker: SIGTERM (mosquitto saves its sessions), or SIGKILL with
        ``crash``. Connected clients (the rule bridge, rigs) see the connection drop and
        reconnect with their own backoff once ``start_broker`` brings it back."""
        process = getattr(self.broker, "process", None)
        if crash and process is not None:
            process.kill()
            process.wait()
        self.broker.stop()

    def start_broker(self) -> None:
        """A new broker like the first one, on the same port."""
        self.broker = self.restart()

    def restart_broker(self, *, crash: bool = False, downtime: float = 0.0) -> None:
        self.stop_broker(crash=crash)
        time.sleep(downtime)
        self.start_broker()


@dataclass(frozen=True)
class LocalHandles:
    description: dict[str, Any]
    settings: Settings
    tables: Tables
    plane: _DevicePlane


@contextlib.contextmanager
def _device_plane(options: LocalOptions, settings: Settings, tables: Tables) -> Any:
    from functions.handlers import ingest
    from functions.local.broker import start_broker
    from functions.local.ca import SERVICE_IDENTITY, LocalCertificateAuthority
    from functions.local.mqtt_client import ServiceClient
    from functions.local.rule_bridge import RuleBridge

    ca = LocalCertificateAuthority(options.state_dir / "ca")

    def new_broker() -> Any:
        return start_broker(
            ca,
            host=options.host,
            port=options.mqtt_port,
            state_dir=options.state_dir / "broker",
            kind=options.broker,  # type: ignore[arg-type]  # validated by start_broker
        )

    broker = new_broker()
    plane: _DevicePlane | None = None
    client = None
    bridge = None
    try:
        cert, key = ca.issue_identity(SERVICE_IDENTITY, options.state_dir / "service")
        client = ServiceClient(
            host=options.host,
            port=options.mqtt_port,
            ca_path=ca.ca_path,
            cert_path=cert,
            key_path=key,
            # A durable session under a fixed id: the broker keeps what is published for
            # the bridge while it reconnects, and (mosquitto) across broker restarts.
            client_id="xenblocks-bridge",
            clean_session=False,
        )
        client.connect()
        ingest.configure(ingest.build_service(settings, tables, client))
        bridge = RuleBridge(
            client, ingest.handler, dead_letter_path=options.state_dir / "dead-letter.jsonl"
        )
        bridge.start()
        plane = _DevicePlane(ca, broker, bridge, client, new_broker)
        yield plane
    finally:
        if bridge is not None:
            bridge.stop()
        ingest.configure(None)
        if client is not None:
            client.close()
        (plane.broker if plane is not None else broker).stop()


# Local intervals are shorter than the deployed schedules so a demo moves along.
LOCAL_SCHEDULES = {
    "settle": 15,
    "health": 15,
    "fleet_stats": 60,
    "prices": 60,
    "reputation": 60,
    "alerts": 60,
}


@contextlib.contextmanager
def _schedules(settings: Settings, tables: Tables, plane: _DevicePlane) -> Any:
    from functions.handlers.alerts import run_alerts
    from functions.local.scheduler import LocalScheduler, ScheduledJob
    from functions.logic.jobs import Jobs
    from functions.ports.webhooks import UrllibWebhookSender

    jobs = Jobs(settings, tables, plane.client)
    webhooks = UrllibWebhookSender.from_settings(settings)
    runs = {
        "settle": jobs.settle,
        "health": jobs.check_health,
        "fleet_stats": jobs.aggregate_fleet,
        "prices": jobs.refresh_prices,
        "reputation": jobs.refresh_reputation,
        "alerts": lambda now: run_alerts(settings, tables, webhooks, now),
    }
    scheduler = LocalScheduler(
        [ScheduledJob(name, LOCAL_SCHEDULES[name], run) for name, run in runs.items()]
    )
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()


@contextlib.contextmanager
def _api(options: LocalOptions, settings: Settings, tables: Tables, plane: _DevicePlane) -> Any:
    import uvicorn

    from functions.api.app import create_app
    from functions.api.context import ApiContext

    context = ApiContext(settings=settings, tables=tables, ca=plane.ca, publisher=plane.client)
    app = create_app(context)
    config = uvicorn.Config(
        app, host=options.host, port=options.api_port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start on port {options.api_port}")
        time.sleep(0.05)
    try:
        yield f"http://{options.host}:{options.api_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
