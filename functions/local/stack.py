"""``xenblocks local``: the platform on this machine, in one process tree.

Today: moto's DynamoDB (tables from the dal specs), a local CA and MQTT broker with mutual
TLS and per-rig ACLs (mosquitto, or the embedded amqtt broker), the rule bridge feeding the
ingest handler, the HTTP API on uvicorn, and the scheduled jobs (settlement, price index,
reputation, the fleet sweep, alerts) on short local intervals, a local XenBlocks node
(``/difficulty``, ``/verify``) the miners submit to, and the alerts' channels: a mail sink
and a Telegram/Discord stand-in. It writes
``.xenblocks/local.json`` describing all of it. The WebSocket hub, dashboard and CPU miners
join as their issues land.
"""

from __future__ import annotations

import contextlib
import errno
import faulthandler
import json
import logging
import os
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
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from functions.dal.tables import Tables, create_tables
from functions.local.moto_dynamodb import serialize_dynamodb_requests
from functions.settings import Settings
from protocol.xenblocks import BlockRules

LOCAL_DIR = Path(".xenblocks")
LOCAL_JSON = LOCAL_DIR / "local.json"
SHUTDOWN_REPORT_SECONDS = 45
log = logging.getLogger(__name__)


class PortInUse(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalOptions:
    host: str = "127.0.0.1"
    dynamodb_port: int = 8000
    mqtt_port: int = 8883
    api_port: int = 8080
    ws_port: int = 8081
    # The local XenBlocks node (functions/local/xenblocks_node.py), on ``node_port``; with
    # None, on 8082 when that is free, else on any free port (local.json's network_url
    # says where). Without a node the miners submit blocks nowhere.
    node: bool = True
    node_port: int | None = None
    # The local EVM chain (functions/local/evm_node.py: hardhat, the test stablecoin) the
    # deposit watcher reads, on ``chain_port`` (None: 8545 when free, else any free port);
    # a block every ``chain_block_seconds`` so confirmations come while nobody transacts.
    chain: bool = True
    chain_port: int | None = None
    chain_block_seconds: float = 2.0
    deposit_confirmations: int = 3
    broker: str = "auto"  # auto | mosquitto | amqtt
    state_dir: Path = LOCAL_DIR
    # Easy rules so a laptop finds blocks: the network's are far harder.
    difficulty: int = 8
    block_pattern: str = "XEN1"
    # At most one live frame per connection per window (the deployed value is 1 s).
    live_coalesce_seconds: float = 1.0
    # How often the local heartbeat stream is read into the batch handler (AWS: the
    # event source's batching window, ``xenblocks:heartbeatBatchSeconds``).
    heartbeat_batch_seconds: float = 1.0
    miners: int = 0  # CPU rigs of the local provider, enrolled through the API
    seed_demo: bool = False
    # The built dashboard (``npm run build``), served at the API's origin when present.
    dashboard_dir: Path = Path(__file__).resolve().parents[2] / "frontend" / "dist"


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


def _port_or_default(host: str, given: int | None, default: int, flag: str) -> int:
    """The port a flag gave; else ``default`` when free, else 0 (any free port: another
    stack, a test run, has the default)."""
    if given is not None:
        return given
    try:
        _check_port_free(host, default, flag)
    except PortInUse:
        return 0
    return default


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
        # Local rigs heartbeat every 5 s and every heartbeat is written, a history point
        # every minute: live views beat write costs here.
        heartbeat_seconds=5,
        heartbeat_write_seconds=5,
        heartbeat_history_seconds=60,
        # Every rig's baseline each insights run; ingest re-reads it within a minute.
        insights_slices=1,
        insights_cache_seconds=60,
        # The network job runs every 15 s here: a shorter grace for in-flight finds.
        network_grace_seconds=30,
        live_coalesce_seconds=options.live_coalesce_seconds,
        # The dashboard is served at the API's origin: sign-in messages name that host,
        # so a browser wallet sees the page it is on.
        siwe_domain=f"{options.host}:{options.api_port}",
        siwe_uri=f"http://{options.host}:{options.api_port}",
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
        (options.ws_port, "--ws-port"),
        *([(options.node_port, "--node-port")] if options.node and options.node_port else []),
        *([(options.chain_port, "--chain-port")] if options.chain and options.chain_port else []),
    ):
        _check_port_free(options.host, port, flag)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    # boto3 signs every request, moto's too: a fresh machine has no AWS credentials, and
    # real ones are not needed (nor sent anywhere but to moto on loopback).
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
        os.environ.setdefault(name, value)
    serialize_dynamodb_requests()
    # `kill -USR1 <pid>` prints every thread's stack (stderr): where a stuck stack is stuck.
    if threading.current_thread() is threading.main_thread():
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    # moto's server logs every request (werkzeug): thousands a minute here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with ExitStack() as services:
        services.callback(faulthandler.cancel_dump_traceback_later)  # runs last
        server = ThreadedMotoServer(
            ip_address=options.host, port=options.dynamodb_port, verbose=False
        )
        server.start()
        services.callback(server.stop)
        endpoint = f"http://{options.host}:{options.dynamodb_port}"
        settings = local_settings(options, endpoint)
        # The node first: the platform follows it as a deployed stage follows the network.
        node = services.enter_context(_node(options, settings))
        network_url = node.url if node is not None else None
        # Without a node the pin is explicit: the rules' difficulty, no network job reads.
        follow = {"network_url": network_url} if network_url else {"follow_network": False}
        settings = settings.model_copy(update=follow)
        # Alerts reach Telegram, Discord and e-mail through local stand-ins, never the real ones.
        channels = services.enter_context(_alert_channels(options))
        settings = settings.model_copy(update=channels.settings())
        # The chain deposits arrive on, with the test stablecoin (issue #24).
        chain = services.enter_context(_chain(options))
        hot_wallet: str | None = None
        if chain is not None:
            settings = settings.model_copy(update=_deposit_settings(options, chain))
            # Withdrawals are paid on that chain from a hot wallet whose key is in moto's KMS.
            payouts, hot_wallet = _hot_wallet(options, chain, endpoint, settings.aws_region)
            settings = settings.model_copy(update=payouts)
        tables = Tables(settings)
        create_tables(tables)
        device_plane = services.enter_context(_device_plane(options, settings, tables))
        live = services.enter_context(_live(options, settings, tables))
        # Heartbeats reach dashboards from ingest's batches, as in AWS.
        from functions.handlers import ingest

        ingest.attach_live(live.service)
        services.callback(ingest.attach_live, None)
        api = services.enter_context(_api(options, settings, tables, device_plane, live.url))
        api_url = api.url
        scheduler = services.enter_context(_schedules(settings, tables, device_plane, live))
        description = {
            "stage": settings.stage,
            "region": settings.aws_region,
            "dynamodb_endpoint_url": endpoint,
            "table_prefix": settings.resolved_table_prefix,
            "tables": sorted(tables.client.list_tables()["TableNames"]),
            "api_url": api_url,
            "ws_url": live.url,
            "mqtt_host": options.host,
            "mqtt_port": options.mqtt_port,
            "mqtt_broker": device_plane.broker.kind,
            "ca_path": str(device_plane.ca.ca_path.resolve()),
            "difficulty": options.difficulty,
            "block_pattern": options.block_pattern,
            "schedules": {job.name: job.every_seconds for job in scheduler.jobs},
            "dashboard_url": api.dashboard_url,
            "network_url": network_url,
            "chat_api_url": channels.chat.url,
            "smtp_host": channels.mail.host,
            "smtp_port": channels.mail.port,
            "mail_dir": str(channels.mail_dir.resolve()),
            **_chain_description(chain, settings, hot_wallet),
        }
        if options.miners or options.seed_demo:
            demo = _demo(options, settings, tables, device_plane, api_url, network_url)
            description.update(services.enter_context(demo))
        (options.state_dir / "local.json").write_text(json.dumps(description, indent=2) + "\n")
        print(f"DynamoDB (moto)  {endpoint}  tables: {settings.resolved_table_prefix}-*")
        broker_url = f"mqtts://{options.host}:{options.mqtt_port}"
        print(f"MQTT broker      {broker_url}  ({device_plane.broker.kind}, mutual TLS)")
        print(f"API              {api_url}/api  (docs: {api_url}/api/docs)")
        print(f"Live (WebSocket) {live.url}")
        if node is not None:
            from functions.local.xenblocks_node import describe

            print(f"XenBlocks node   {node.url}  ({describe(node.node)})")
        print(
            f"Alert channels   Telegram/Discord {channels.chat.url}, mail "
            f"smtp://{channels.mail.host}:{channels.mail.port} (kept in {channels.mail_dir})"
        )
        if chain is not None:
            from functions.local.evm_node import describe as describe_chain

            print(describe_chain(chain))
            print(
                f"Deposits         every account's own address under {settings.deposit_xpub}"
                f" (seed: {options.state_dir / DEPOSIT_SEED_FILE}), credited after"
                f" {settings.deposit_confirmations} confirmations"
            )
            print(
                f"Withdrawals      paid on chain from {description['hot_wallet_address']} (its key"
                f" in moto's KMS), automatically up to"
                f" {settings.withdrawal_auto_max // 1_000_000} credits, settled after"
                f" {settings.withdrawal_confirmations} confirmations"
            )
        if api.dashboard_url:
            print(f"Dashboard        {api.dashboard_url}")
        else:
            print("Dashboard        not built (cd frontend && npm ci && npm run build)")
        if options.miners:
            print(
                f"Miners           {options.miners} CPU rigs of {description['provider_address']}"
                f" (log: {description['miners_log']})"
            )
        jobs = ", ".join(f"{job.name} {job.every_seconds:g}s" for job in scheduler.jobs)
        print(f"Schedules        {jobs}")
        print(f"Wrote {options.state_dir / 'local.json'}. Ctrl-C stops everything.", flush=True)
        if on_ready is not None:
            on_ready(description)
        if on_started is not None:
            served = node.node if node is not None else None
            on_started(LocalHandles(description, settings, tables, device_plane, live, served))
        done = stop or threading.Event()
        if stop is None and threading.current_thread() is threading.main_thread():
            # Both stop it. SIGINT explicitly too: a process started in the background of a
            # non-interactive shell inherits SIGINT ignored, and Ctrl-C would do nothing.
            for stop_signal in (signal.SIGTERM, signal.SIGINT):
                signal.signal(stop_signal, lambda *_: done.set())
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is the normal way out
            # Waking now and then: Python runs a signal's handler on the main thread only,
            # and a wait without a timeout may sleep through a signal the kernel gave to
            # another thread (seen once in CI: Ctrl-C ignored, the stack never stopped).
            while not done.wait(timeout=0.5):
                pass
        print("Stopping…", flush=True)
        # Should a service hang on the way out, say where (stderr) rather than hang silently.
        faulthandler.dump_traceback_later(SHUTDOWN_REPORT_SECONDS, exit=False)
        return description


@dataclass
class _DevicePlane:
    ca: Any
    broker: Any
    bridge: Any
    client: Any  # the service identity's MQTT connection: publishes commands to rigs
    restart: Callable[[], Any]  # starts a broker like the first one, on the same port

    def stop_broker(self) -> None:
        """Stop the broker (mosquitto saves its sessions). Connected clients (the rule
        bridge, rigs) see the connection drop and reconnect with their own backoff once
        ``start_broker`` brings it back."""
        self.broker.stop()

    def start_broker(self) -> None:
        """A new broker like the first one, on the same port."""
        self.broker = self.restart()


@dataclass(frozen=True)
class LocalHandles:
    description: dict[str, Any]
    settings: Settings
    tables: Tables
    plane: _DevicePlane
    live: _Live
    node: Any = None  # functions.local.xenblocks_node.XenBlocksNode, when one runs

    @property
    def network_url(self) -> str | None:
        """The local XenBlocks node's URL (``network_url`` in local.json)."""
        url = self.description.get("network_url")
        return str(url) if url else None


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

        def quiet(handler: Any) -> Any:
            def invoke(event: dict[str, Any], context: Any) -> Any:
                try:
                    return handler(event, context)
                finally:
                    # Metrics are off locally, but Powertools still keeps each invocation's
                    # and prints them as one EMF line per 100 values: drop them instead.
                    ingest.metrics.clear_metrics()

            return invoke

        bridge = RuleBridge(
            client,
            quiet(ingest.handler),
            batch_handler=quiet(ingest.batch_handler),
            batch_seconds=options.heartbeat_batch_seconds,
            dead_letter_path=options.state_dir / "dead-letter.jsonl",
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
    "fleet_stats": 15,
    "prices": 60,
    "reputation": 60,
    "alerts": 60,
    "network": 15,  # the local XenBlocks node's difficulty, as the deployed job reads it
    "insights": 300,  # every online rig's baseline each run (one slice), GPU-model figures
    "deposits": 5,  # the local chain's stablecoin transfers (only with a chain)
    "payouts": 5,  # withdrawals paid on the local chain (only with a chain)
}


@contextlib.contextmanager
def _schedules(settings: Settings, tables: Tables, plane: _DevicePlane, live: _Live) -> Any:
    from functions.handlers.alerts import channel_senders, run_alerts
    from functions.local.scheduler import LocalScheduler, ScheduledJob
    from functions.logic.jobs import Jobs
    from functions.ports.webhooks import UrllibWebhookSender

    jobs = Jobs(settings, tables, plane.client)
    webhooks = UrllibWebhookSender.from_settings(settings)
    senders = channel_senders(settings)

    def fleet_stats(now: int) -> None:
        totals = jobs.aggregate_fleet(now)
        live.service.broadcast_fleet(totals.fleet_values(), totals.ts)

    runs = {
        "settle": jobs.settle,
        "fleet_stats": fleet_stats,
        "prices": jobs.refresh_prices,
        "reputation": jobs.refresh_reputation,
        "alerts": lambda now: run_alerts(settings, tables, webhooks, now, senders, plane.client),
        "network": jobs.follow_network,
        "insights": jobs.refresh_insights,
    }
    if settings.deposits_enabled and settings.deposit_rpc_url:
        from functions.handlers.deposits import build_watcher

        watcher = build_watcher(settings, tables)

        def deposits(now: int) -> None:
            watcher.run(now)

        runs["deposits"] = deposits
    if settings.withdrawals_on_chain and settings.deposit_rpc_url:
        from functions.handlers.payouts import build_job

        payouts = build_job(settings, tables)

        def pay(now: int) -> None:
            payouts.run(now)

        runs["payouts"] = pay
    scheduler = LocalScheduler(
        [ScheduledJob(name, LOCAL_SCHEDULES[name], run) for name, run in runs.items()]
    )
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()


@dataclass(frozen=True)
class _Api:
    url: str
    dashboard_url: str | None


@contextlib.contextmanager
def _api(
    options: LocalOptions, settings: Settings, tables: Tables, plane: _DevicePlane, ws_url: str
) -> Any:
    from functions.api.app import create_app
    from functions.api.context import ApiContext

    url = f"http://{options.host}:{options.api_port}"
    context = ApiContext(settings=settings, tables=tables, ca=plane.ca, publisher=plane.client)
    app = create_app(context)
    dashboard = options.dashboard_dir
    served = (dashboard / "index.html").is_file()
    if served:
        _serve_dashboard(app, dashboard, _dashboard_config(settings, url, ws_url))
    with _serve(app, options.host, options.api_port, "api"):
        yield _Api(url, f"{url}/" if served else None)


def _dashboard_config(settings: Settings, api_url: str, ws_url: str) -> dict[str, Any]:
    from functions.models.dashboard import dashboard_config

    return dashboard_config(
        api_url=api_url,
        ws_url=ws_url,
        region=settings.aws_region,
        stage=settings.stage,
        chain_id=settings.chain_id,
        deposits=settings.deposits_enabled,
        withdrawals_on_chain=settings.withdrawals_on_chain,
        withdrawal_auto_max=settings.withdrawal_auto_max,
    )


class _SinglePageApp(StaticFiles):
    """The built dashboard: files as they are, and index.html for any other path that is
    not the API's, so a deep link (``/renter``) opens the app, which routes client-side.
    Hashed assets are cached for good; index.html never (it names the current assets)."""

    async def get_response(self, path: str, scope: Any) -> Any:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as error:
            if error.status_code != 404 or path == "api" or path.startswith("api/"):
                raise
            response = await super().get_response("index.html", scope)
        if path.startswith("assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers.setdefault("Cache-Control", "no-cache")
        return response


def _serve_dashboard(app: Any, directory: Path, config: dict[str, Any]) -> None:
    from fastapi.responses import JSONResponse

    def dashboard_config() -> JSONResponse:
        return JSONResponse(config, headers={"Cache-Control": "no-store"})

    app.add_api_route("/config.json", dashboard_config, include_in_schema=False)
    app.mount("/", _SinglePageApp(directory=directory, html=True), name="dashboard")


@contextlib.contextmanager
def _demo(
    options: LocalOptions,
    settings: Settings,
    tables: Tables,
    plane: _DevicePlane,
    api_url: str,
    network_url: str | None,
) -> Any:
    """``--miners`` and ``--seed-demo``: what they add to local.json, for the ``with``."""
    from functions.local.miners import local_miners, provider_key, wallet_address

    key, key_path = provider_key(options.state_dir)
    described: dict[str, Any] = {
        "provider_address": wallet_address(key),
        "provider_key_path": str(key_path.resolve()),
    }
    with ExitStack() as stack:
        if options.seed_demo:
            from functions.handlers import ingest
            from functions.local import demo

            described["demo"] = demo.seed(settings, tables, int(time.time()))
            rigs = demo.demo_rigs(ingest.build_service(settings, tables, plane.client))
            stack.enter_context(rigs)
        if options.miners:
            miners = stack.enter_context(
                local_miners(
                    options.miners,
                    api_url=api_url,
                    state_dir=options.state_dir,
                    difficulty=options.difficulty,
                    block_pattern=options.block_pattern,
                    network_url=network_url,
                )
            )
            described["miners"] = miners.worker_ids
            described["miners_pid"] = miners.process.pid
            described["miners_log"] = str(miners.log_path.resolve())
        yield described


@dataclass(frozen=True)
class _AlertChannels:
    chat: Any  # functions.local.chat_apis.ChatApis: Telegram's and Discord's stand-in
    mail: Any  # functions.local.smtp_sink.SmtpSink
    mail_dir: Path

    def settings(self) -> dict[str, Any]:
        """Where the alerts job sends: Settings fields pointing at the stand-ins."""
        from functions.ports.email import LOCAL_SENDER

        return {
            "telegram_api_url": self.chat.url,
            "discord_api_url": self.chat.url,
            "smtp_host": self.mail.host,
            "smtp_port": self.mail.port,
            "alert_email_sender": LOCAL_SENDER,
        }


@contextlib.contextmanager
def _alert_channels(options: LocalOptions) -> Any:
    """The mail sink (messages kept as .eml files) and the chat stand-in, on free ports."""
    from functions.local.chat_apis import chat_apis
    from functions.local.smtp_sink import smtp_sink

    mail_dir = options.state_dir / "mail"
    with (
        smtp_sink(host=options.host, directory=mail_dir) as mail,
        chat_apis(host=options.host) as chat,
    ):
        yield _AlertChannels(chat, mail, mail_dir)


@contextlib.contextmanager
def _node(options: LocalOptions, settings: Settings) -> Any:
    """The local XenBlocks node, judging by the local rules; its difficulty stays pinned
    (no automatic steps) until a test or an operator moves it through ``/_local/``."""
    if not options.node:
        yield None
        return
    from functions.local.xenblocks_node import DEFAULT_PORT, NodeRules, local_node

    rules = settings.rules
    node_rules = NodeRules(
        block_pattern=rules.block_pattern,
        xuni_pattern=rules.xuni_pattern,
        xuni_windows=rules.xuni_windows,
        superblock_min_uppercase=rules.superblock_min_uppercase,
    )
    port = _port_or_default(options.host, options.node_port, DEFAULT_PORT, "--node-port")
    with local_node(
        host=options.host, port=port, difficulty=rules.difficulty, rules=node_rules
    ) as server:
        yield server


DEPOSIT_SEED_FILE = "deposit.seed"


def _deposit_xpub(state_dir: Path) -> str:
    """The local deposit wallet: a random seed kept in the state directory (the platform,
    as in AWS, is given only the extended public key it derives)."""
    from functions.logic.hd_keys import deposit_xpub_from_seed

    path = state_dir / DEPOSIT_SEED_FILE
    if not path.exists():
        path.write_text(secrets.token_hex(32) + "\n")
        path.chmod(0o600)
    return deposit_xpub_from_seed(bytes.fromhex(path.read_text().strip()))


def _deposit_settings(options: LocalOptions, chain: Any) -> dict[str, Any]:
    """Settings fields pointing the deposits at the local chain and its token."""
    return {
        "deposit_xpub": _deposit_xpub(options.state_dir),
        "deposit_rpc_url": chain.url,
        "deposit_chain_id": chain.chain_id,
        "deposit_token_address": chain.token_address,
        "deposit_token_decimals": chain.token_decimals,
        "deposit_confirmations": options.deposit_confirmations,
    }


# What the local hot wallet is given at start: gas money and test stablecoins.
HOT_WALLET_GAS_WEI = 100 * 10**18
HOT_WALLET_TOKEN_UNITS = 100_000 * 10**6


def _hot_wallet(
    options: LocalOptions, chain: Any, kms_endpoint: str, region: str
) -> tuple[dict[str, Any], str]:
    """A hot wallet for on-chain withdrawals: a secp256k1 key made in moto's KMS (so the
    platform signs as in AWS, by digest, never holding the key), funded from the chain's
    first account; the settings fields that turn payouts on, and its address."""
    import boto3

    from functions.local import moto_kms_digest
    from functions.ports.kms_signer import KEY_SPEC, KEY_USAGE, KmsSigner

    moto_kms_digest.install()  # moto signs a DIGEST as AWS does
    kms = boto3.client("kms", region_name=region, endpoint_url=kms_endpoint)
    key = kms.create_key(
        KeySpec=KEY_SPEC, KeyUsage=KEY_USAGE, Description="xenblocks local hot wallet"
    )
    key_id = key["KeyMetadata"]["KeyId"]
    address = KmsSigner(kms, key_id).address
    admin, funder = chain.admin, chain.accounts[0]
    admin.receipt(admin.pay(funder, address, HOT_WALLET_GAS_WEI))
    admin.receipt(admin.mint(chain.token_address, address, HOT_WALLET_TOKEN_UNITS))
    payouts = {
        "withdrawal_kms_key_id": key_id,
        "kms_endpoint_url": kms_endpoint,
        "withdrawal_confirmations": options.deposit_confirmations,
        "withdrawal_rebroadcast_seconds": 30,
        "hot_wallet_min_balance": 1_000 * 1_000_000,
        "hot_wallet_min_gas_wei": 10**18,
    }
    return payouts, address


def _chain_description(chain: Any, settings: Settings, hot_wallet: str | None) -> dict[str, Any]:
    """local.json's chain keys (null without a chain)."""
    if chain is None:
        return {
            "chain_rpc_url": None,
            "chain_id": None,
            "token_address": None,
            "token_decimals": None,
            "hot_wallet_address": None,
        }
    return {
        **chain.describe(),
        "chain_accounts": chain.accounts[:5],
        "deposit_xpub": settings.deposit_xpub,
        "deposit_confirmations": settings.deposit_confirmations,
        "hot_wallet_address": hot_wallet,
        "withdrawal_kms_key_id": settings.withdrawal_kms_key_id,
        "withdrawal_auto_max": settings.withdrawal_auto_max,
        "withdrawal_confirmations": settings.withdrawal_confirmations,
    }


@contextlib.contextmanager
def _chain(options: LocalOptions) -> Any:
    """The local EVM chain with the test token deployed, or None (``--no-chain``, or
    hardhat not installed: one line says so and the platform runs without deposits)."""
    if not options.chain:
        yield None
        return
    from functions.local.evm_node import DEFAULT_PORT, hardhat_installed, local_chain

    if not hardhat_installed():
        print("EVM chain        not installed (cd chain && npm ci): no on-chain deposits")
        yield None
        return
    port = _port_or_default(options.host, options.chain_port, DEFAULT_PORT, "--chain-port")
    with local_chain(
        host=options.host,
        port=port,
        log_path=options.state_dir / "chain.log",
        block_seconds=options.chain_block_seconds,
    ) as node:
        yield node


@dataclass(frozen=True)
class _Live:
    url: str
    hub: Any  # functions.local.live_hub.LiveHub
    service: Any  # functions.logic.live_updates.LiveService
    tap: Any  # functions.local.streams.StreamTap


@contextlib.contextmanager
def _live(options: LocalOptions, settings: Settings, tables: Tables) -> Any:
    """The WebSocket hub, and the stream tap feeding table changes to the live service."""
    from functions.dal.specs import ALERTS, BLOCKS, LEASES, WORKERS
    from functions.local.live_hub import LiveHub
    from functions.local.streams import StreamTap
    from functions.logic.live_updates import LiveService

    hub = LiveHub(coalesce_seconds=settings.live_coalesce_seconds)
    service = LiveService(settings, tables, hub)
    hub.bind(service)
    streamed = [tables.name(spec) for spec in (WORKERS, LEASES, BLOCKS, ALERTS)]
    tap = StreamTap(streamed, service.publish_records, region=settings.aws_region)
    with _serve(hub.app, options.host, options.ws_port, "live"):
        tap.start()
        try:
            yield _Live(f"ws://{options.host}:{options.ws_port}", hub, service, tap)
        finally:
            tap.stop()


@contextlib.contextmanager
def _serve(app: Any, host: str, port: int, name: str) -> Any:
    """Run an ASGI app on uvicorn in a thread for the ``with`` block."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", ws_max_size=64 * 1024
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} server did not start on port {port}")
        time.sleep(0.05)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
