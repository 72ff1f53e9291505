"""``xenblocks local --miners N``: CPU rigs of a local provider, enrolled through the API.

The local provider is a wallet generated once per state directory (``provider.key``, 0600),
so its rigs, listings and earnings survive a restart and a test or a browser can sign in as
it. Its rigs are enrolled exactly as an operator's are (``POST /api/devices`` with a CSR),
then run as one ``xenblocks-miner fleet`` process in its own process group, which the stack
stops (and, if it must, kills) on the way out. Should the stack die without a way out
(SIGKILL, a crash), the fleet dies with it (``functions.local.children``): the kernel's
parent-death signal on Linux, and a lifeline pipe everywhere; its hashing workers follow
it. Once a rig reports a hashrate, it is listed on the marketplace at its measured
hashrate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions.local.children import die_with_parent, lifeline
from protocol.jsonlimits import restore_recursion_limit

log = logging.getLogger(__name__)

PROVIDER_KEY_FILE = "provider.key"
FLEET_DIR = "fleet"
MINERS_LOG = "miners.log"
# Local rigs heartbeat often so a dashboard moves; the platform writes every one locally.
HEARTBEAT_SECONDS = 5
# What a local rig is listed at: 0.25 credits an hour (prices are micro-credits).
LISTING_PRICE_PER_HOUR = 250_000
STOP_GRACE_SECONDS = 20


class MinersError(RuntimeError):
    pass


def provider_key(state_dir: Path) -> tuple[str, Path]:
    """The local provider's wallet key (hex) and its file, made on first use."""
    from eth_account import Account

    restore_recursion_limit()  # py_ecc raised it: see protocol.jsonlimits
    path = state_dir / PROVIDER_KEY_FILE
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(bytes(Account.create().key).hex() + "\n")
    return path.read_text().strip(), path


def wallet_address(private_key: str) -> str:
    from eth_account import Account

    restore_recursion_limit()  # py_ecc raised it: see protocol.jsonlimits
    return str(Account.from_key(private_key).address)


@dataclass
class LocalMiners:
    count: int
    provider: str
    process: subprocess.Popen[bytes]
    log_path: Path
    worker_ids: list[str]
    listed: set[str] = field(default_factory=set)


@contextlib.contextmanager
def local_miners(
    count: int,
    *,
    api_url: str,
    state_dir: Path,
    difficulty: int,
    block_pattern: str,
    network_url: str | None = None,
) -> Iterator[LocalMiners]:
    """Enrol ``count`` rigs (once), run them, list them; stop them all on exit.

    With ``network_url`` (the local XenBlocks node) the rigs submit their blocks there and
    follow its difficulty, as on the network; without it they submit nowhere."""
    from miner.enroll import EnrollError
    from miner.fleet import enrol_fleet

    key, key_path = provider_key(state_dir)
    fleet_dir = state_dir / FLEET_DIR
    try:
        bundles = enrol_fleet(count, fleet_dir, api_url, token=None, wallet_key=key)
    except EnrollError as error:
        raise MinersError(f"could not enrol the local miners: {error}") from error
    log_path = state_dir / MINERS_LOG
    command = [
        sys.executable,
        "-m",
        "miner.cli",
        "fleet",
        f"--count={count}",
        f"--api={api_url}",
        f"--wallet-key-file={key_path}",
        f"--fleet-dir={fleet_dir}",
        "--backend=cpu",
        "--processes=1",
        # The local node, never the real network: a local platform's blocks are not its.
        f"--network-url={network_url}" if network_url else "--no-submit",
        f"--difficulty={difficulty}",
        f"--block-pattern={block_pattern}",
        f"--heartbeat-seconds={HEARTBEAT_SECONDS}",
        "--json",
    ]
    # The lifeline's write end stays open here until the fleet has stopped.
    with lifeline() as lifeline_fd:
        with log_path.open("ab") as output:
            # Its own session: Ctrl-C in the terminal reaches the stack, which stops the
            # fleet in order (outboxes flushed) instead of the fleet dying mid-publish.
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*command, f"--lifeline-fd={lifeline_fd}"],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(lifeline_fd,),
                preexec_fn=die_with_parent(),  # one prctl between fork and exec
            )
        miners = LocalMiners(
            count=count,
            provider=wallet_address(key),
            process=process,
            log_path=log_path,
            worker_ids=[bundle.worker_id for bundle in bundles],
        )
        stop = threading.Event()
        lister = threading.Thread(
            target=_list_when_measured,
            args=(miners, api_url, key, stop),
            name="lister",
            daemon=True,
        )
        lister.start()
        try:
            yield miners
        finally:
            stop.set()
            _stop_group(process)
            lister.join(timeout=10)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the fleet's process group, wait, then SIGKILL whatever is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("the local miners did not stop in %ss: killing them", STOP_GRACE_SECONDS)
    # The group may outlive its leader (worker processes): make sure nothing is left, and
    # wait until the kernel agrees, so "stopped" means gone when the stack exits.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    log.warning("processes of the local miners' group %d are still exiting", process.pid)


def _list_when_measured(miners: LocalMiners, api_url: str, key: str, stop: threading.Event) -> None:
    """List each rig once it reports a hashrate (a listing advertises what was measured)."""
    import requests

    from miner.enroll import PlatformApi, PlatformError

    try:
        token = PlatformApi(api_url).sign_in_with_key(key)
    except PlatformError as error:
        log.warning("local miners will not be listed: %s", error)
        return
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    base = api_url.rstrip("/")
    while not stop.wait(2.0) and len(miners.listed) < len(miners.worker_ids):
        try:
            _list_ready(miners, session, base)
        except (requests.RequestException, ValueError) as error:
            log.warning("listing the local miners: %s", error)


def _list_ready(miners: LocalMiners, session: Any, base: str) -> None:
    listings = session.get(f"{base}/api/listings", timeout=10)
    listings.raise_for_status()
    miners.listed |= {item["worker_id"] for item in listings.json()["items"]}
    for worker_id in miners.worker_ids:
        if worker_id in miners.listed:
            continue
        worker = session.get(f"{base}/api/workers/{worker_id}", timeout=10)
        worker.raise_for_status()
        if not worker.json().get("hashrate"):
            continue
        created = session.post(
            f"{base}/api/listings",
            json={"worker_id": worker_id, "price_per_hour": LISTING_PRICE_PER_HOUR},
            timeout=10,
        )
        if created.status_code in (201, 409):  # 409: listed meanwhile
            miners.listed.add(worker_id)
            log.info("listed local miner %s", worker_id)
        else:
            log.warning("could not list %s: %s", worker_id, created.text[:200])
