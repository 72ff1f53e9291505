"""``xenblocks-miner bridge``: the farm's existing XenblocksMiner rigs on this platform.

    xenblocks-miner bridge --api URL --wallet-key-file KEY [--listen HOST:PORT]
                           [--fleet-dir DIR] [--name-prefix P] [--block-pattern P]

Rigs point their MQTT URL at ``--listen`` (plain MQTT, default 127.0.0.1:1883); each rig
id is enrolled on first sight with the same sign-in as ``enroll`` and bridged over its own
mutual-TLS connection.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import requests

from miner.bridge.lan import DEFAULT_HOST, DEFAULT_PORT, LanBroker, LanError, parse_listen
from miner.bridge.link import RigOptions
from miner.bridge.service import Bridge
from miner.enroll import (
    API_URL_ENV,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CertificateBundle,
    EnrollError,
    EnrollInputError,
    PlatformApi,
    PlatformError,
    enroll,
    normalize_api_url,
    resolve_credentials,
    wallet_address,
)
from miner.outbox import OutboxError

log = logging.getLogger(__name__)

DEFAULT_FLEET_DIR = Path("~/.xenblocks/bridge")
SUMMARY_SECONDS = 60.0
_BLOCK_PATTERN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


class ApiEnroller:
    """Enrols rigs through the platform API as ``xenblocks-miner enroll`` does.

    With a wallet key it signs in once and reuses the session token, signing in again when
    the platform refuses it; with a token it uses that token. One enrolment at a time.
    """

    def __init__(
        self,
        api_url: str,
        *,
        token: str | None = None,
        wallet_key: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if (token is None) == (wallet_key is None):
            raise EnrollInputError("give exactly one of a token or a wallet key")
        self.api_url = normalize_api_url(api_url)
        self._token = token
        self._wallet_key = wallet_key
        self._session = session
        self._signed_in: str | None = None
        self._lock = threading.Lock()

    def check(self) -> str:
        """Sign in (or check the token) now: the owner's address, or PlatformError."""
        with self._lock:
            if self._wallet_key is not None:
                self._signed_in = self._sign_in()
                return wallet_address(self._wallet_key)
            assert self._token is not None
            with PlatformApi(self.api_url, session=self._session) as api:
                return api.whoami(self._token)

    def enrol(self, name: str, directory: Path, *, force: bool) -> CertificateBundle:
        with self._lock:
            try:
                return self._enrol(name, directory, force=force)
            except PlatformError as error:
                if error.status != 401 or self._wallet_key is None:
                    raise
                self._signed_in = None  # the session expired: sign in again, once
                return self._enrol(name, directory, force=force)

    def _enrol(self, name: str, directory: Path, *, force: bool) -> CertificateBundle:
        token = self._token
        if token is None:
            if self._signed_in is None:
                self._signed_in = self._sign_in()
            token = self._signed_in
        return enroll(
            self.api_url,
            token=token,
            name=name,
            bundle_dir=directory,
            force=force,
            session=self._session,
        )

    def _sign_in(self) -> str:
        assert self._wallet_key is not None
        with PlatformApi(self.api_url, session=self._session) as api:
            return api.sign_in_with_key(self._wallet_key)


def add_bridge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default=f"{DEFAULT_HOST}:{DEFAULT_PORT}",
        help=f"where rigs connect, plain MQTT (default {DEFAULT_HOST}:{DEFAULT_PORT}); "
        "0.0.0.0 exposes it to the LAN, where anyone who reaches it can speak for a rig: "
        "only on a network of your own rigs",
    )
    parser.add_argument(
        "--api",
        metavar="URL",
        help=f"the platform API, e.g. https://api.example.com (default: ${API_URL_ENV})",
    )
    credentials = parser.add_argument_group(
        "sign-in (one of)", "as for `enroll`: each rig is enrolled under this wallet"
    )
    credentials.add_argument("--token", help="a session token (default: $XENBLOCKS_TOKEN)")
    credentials.add_argument(
        "--wallet-key-file",
        metavar="PATH",
        type=Path,
        help="a file holding the wallet's private key as hex (default: $XENBLOCKS_WALLET_KEY)",
    )
    parser.add_argument(
        "--fleet-dir",
        metavar="DIR",
        type=Path,
        default=DEFAULT_FLEET_DIR,
        help=f"each rig's certificate bundle and outbox, under DIR/<rig id> "
        f"(default {DEFAULT_FLEET_DIR})",
    )
    parser.add_argument(
        "--name-prefix",
        default="",
        help="the platform name of rig <id> is <prefix><id> (default: the rig id)",
    )
    parser.add_argument(
        "--block-pattern",
        help="tell each rig what counts as a block (set_config block_pattern), e.g. XEN1 on "
        "a local platform; default: leave the rig's own (XEN11)",
    )
    parser.add_argument(
        "--mine-for-owner",
        action="store_true",
        help="tell a rig that self-mines for another address to mine for the signed-in wallet "
        "(set_config address); otherwise its self-mined blocks are not the platform's",
    )
    parser.add_argument("--json", action="store_true", help="JSON log lines")
    parser.add_argument("-v", "--verbose", action="store_true")


def run_bridge_command(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the bridge until Ctrl-C / SIGTERM (or ``stop``): 0, 1 failure, 2 bad input."""
    from miner.status import configure_logging

    env = os.environ if environ is None else environ
    err = stderr if stderr is not None else sys.stderr
    if stop is None:
        from miner.cli import install_stop_signals

        configure_logging(json_mode=bool(args.json), verbose=bool(args.verbose))
        # amqtt logs a rig that drops mid-handshake (or a port probe) as an error.
        quiet = logging.WARNING if args.verbose else logging.CRITICAL
        for noisy in ("amqtt", "transitions"):
            logging.getLogger(noisy).setLevel(quiet)
        stop = threading.Event()
        install_stop_signals(stop)
    try:
        host, port = parse_listen(args.listen)
        pattern = args.block_pattern
        if pattern is not None and (
            not 1 <= len(pattern) <= 16 or not set(pattern) <= _BLOCK_PATTERN_CHARS
        ):
            raise EnrollInputError("--block-pattern is 1-16 base64 characters, e.g. XEN11")
        api_url = args.api or env.get(API_URL_ENV, "").strip()
        if not api_url:
            raise EnrollInputError(f"--api URL is required (or set ${API_URL_ENV})")
        credentials = resolve_credentials(args, env, err)
        enroller = ApiEnroller(api_url, token=credentials.token, wallet_key=credentials.wallet_key)
    except (ValueError, EnrollInputError) as error:
        print(f"xenblocks-miner bridge: {error}", file=err)
        return EXIT_USAGE
    try:
        owner = enroller.check()
        log.info("signed in as %s at %s", owner, enroller.api_url)
    except PlatformError as error:
        if error.status is not None and 400 <= error.status < 500:
            print(f"xenblocks-miner bridge: {error}", file=err)
            return EXIT_FAILURE
        # Unreachable for now: rigs are still taken in, their blocks kept until it answers.
        log.warning("%s; rigs are enrolled once it answers", error)
    except EnrollError as error:
        print(f"xenblocks-miner bridge: {error}", file=err)
        return error.exit_code

    options = RigOptions(
        name_prefix=args.name_prefix,
        block_pattern=pattern,
        mine_for_owner=bool(args.mine_for_owner),
    )
    fleet_dir = Path(args.fleet_dir).expanduser()
    bridge = Bridge(fleet_dir, enroller=enroller, options=options)
    lan = LanBroker(host, port, bridge)
    bridge.attach_lan(lan.publish)
    try:
        resumed = bridge.resume()
        if resumed:
            log.info("delivering the blocks %d rig(s) left in their outboxes", len(resumed))
        lan.start()
    except (LanError, OutboxError, OSError) as error:
        print(f"xenblocks-miner bridge: {error}", file=err)
        bridge.stop()
        return EXIT_FAILURE
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        log.warning("listening on %s: every machine that reaches it can speak for a rig", host)
    log.info("rigs: point their MQTT URL at tcp://%s:%d; fleet in %s", host, port, fleet_dir)
    try:
        while not stop.wait(SUMMARY_SECONDS):
            figures = bridge.summary()
            log.info(
                "%d rigs (%d online, %d connected to the platform); blocks: %d received, "
                "%d delivered, %d queued, %d dropped",
                figures["rigs"],
                figures["online"],
                figures["connected"],
                figures["received"],
                figures["delivered"],
                figures["queued"],
                figures["dropped"],
            )
    finally:
        lan.stop()  # the rigs' connections close first: each is reported offline
        bridge.stop()
    return EXIT_OK
