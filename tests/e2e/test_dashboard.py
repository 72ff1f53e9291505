"""The dashboard in a real browser against ``xenblocks local --miners 2 --seed-demo``.

``frontend/e2e/dashboard.e2e.mjs`` drives Debian's Chromium (headless, through
playwright-core) with an injected test wallet: it signs in, credits the account from the
local faucet, withdraws a credit on chain and sees it settled (paid from the stack's
hot wallet), sets an electricity price, rents a listing, sees the lease go active and a
live hashrate update arrive over the stack's WebSocket hub, and screenshots every page (the
Insights page among them); any console error, page error or
failed request fails it. A second run signs in as the local provider (no rental) for the
provider's own pages with its rigs in them.

It needs node, Chromium, ``frontend/node_modules`` and a built dashboard (``scripts/dev
test`` provides all four). Without them the test skips, except in CI (``CI=true``), where
the suite's conftest turns that skip into a failure. ``UPDATE_SCREENSHOTS=1`` copies the
screenshots the README shows into ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
E2E_TIMEOUT = 240  # seconds, each browser run (the script's own limit)

PAGES = (
    "overview",
    "account",
    "marketplace",
    "renter",
    "monitoring",
    "provider",
    "alerts",
    "insights",
    "worker",
    "overview-phone",
    "renter-phone",
    "menu-phone",
)
# Which run's screenshot of a page the README's gallery shows.
GALLERY = {
    "renter": ("overview", "marketplace", "rent-dialog", "renter", "account", "overview-phone"),
    "provider": ("monitoring", "provider", "worker", "alerts", "insights"),
}


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


@pytest.fixture
def browser() -> dict[str, str]:
    """node and Chromium, with the dashboard built; a skip (CI: a failure) without them."""
    node, chromium = shutil.which("node"), _chromium()
    missing = [
        what
        for what, there in (
            ("node", node),
            ("Chromium (/usr/bin/chromium)", chromium),
            ("frontend/node_modules (npm ci)", (FRONTEND / "node_modules").is_dir()),
            ("a built dashboard (npm run build)", (FRONTEND / "dist/index.html").is_file()),
        )
        if not there
    ]
    if missing:
        pytest.skip(
            f"the dashboard e2e needs {', '.join(missing)} (scripts/dev test provides them)"
        )
    assert node is not None
    assert chromium is not None
    return {"node": node, "chromium": chromium}


@pytest.mark.timeout(900)
def test_dashboard_in_chromium_rents_a_rig_and_sees_it_live(
    start_platform: Callable[..., dict[str, Any]], browser: dict[str, str], tmp_path: Path
) -> None:
    platform = start_platform("--miners=2", "--seed-demo")
    assert platform["dashboard_url"], "xenblocks local serves no dashboard (frontend/dist)"
    # It pays withdrawals on its chain: each browser run withdraws a credit to settled.
    assert platform["hot_wallet_address"], "xenblocks local runs no hot wallet (no chain?)"
    _wait_until_measured(platform["api_url"], set(platform["miners"]))

    # The README's gallery: what fits a 1280×800 window, not the whole page.
    update = os.environ.get("UPDATE_SCREENSHOTS") == "1"
    view = {"E2E_FULL_PAGE": "0"} if update else {}

    renter = tmp_path / "renter"
    _run_e2e(browser, platform, "0x" + secrets.token_hex(32), renter, **view)
    assert set(_pages(renter)) == {*PAGES, "rent-dialog"}

    provider = tmp_path / "provider"
    provider_key = Path(platform["provider_key_path"]).read_text().strip()
    _run_e2e(browser, platform, provider_key, provider, E2E_RENT="0", **view)
    assert set(_pages(provider)) == set(PAGES)

    if update:
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for run, folder in (("renter", renter), ("provider", provider)):
            for page in GALLERY[run]:
                shutil.copyfile(_pages(folder)[page], DOCS_SCREENSHOTS / f"{page}.png")


def _wait_until_measured(api: str, miners: set[str], timeout: float = 150) -> None:
    """Both miners listed on the marketplace (they list once they have measured a hashrate),
    then fleet figures computed since, so the overview counts them."""
    deadline = time.monotonic() + timeout
    listed_at = None
    while True:
        if listed_at is None:
            market = requests.get(f"{api}/api/marketplace", timeout=10)
            market.raise_for_status()
            if {item["worker_id"] for item in market.json()["items"]} >= miners:
                listed_at = time.time()
        if listed_at is not None:
            stats = requests.get(f"{api}/api/overview/stats", timeout=10)
            stats.raise_for_status()
            if (stats.json().get("as_of") or 0) >= listed_at:
                return
        what = "listed" if listed_at is None else "counted in the fleet figures"
        assert time.monotonic() < deadline, f"the local miners were not {what} in {timeout:.0f}s"
        time.sleep(1)


def _run_e2e(
    browser: dict[str, str], platform: dict[str, Any], key: str, shots: Path, **env: str
) -> None:
    process = subprocess.Popen(  # noqa: S603
        [browser["node"], "e2e/dashboard.e2e.mjs"],
        cwd=FRONTEND,
        env={
            **os.environ,
            "PLATFORM_URL": platform["dashboard_url"],
            "WALLET_KEY": key,
            "SCREENSHOT_DIR": str(shots),
            "CHROMIUM": browser["chromium"],
            "E2E_TIMEOUT_S": str(E2E_TIMEOUT),
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the browser with it, to stop all on a timeout
    )
    try:
        output, _ = process.communicate(timeout=E2E_TIMEOUT + 60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
    print(output)  # shown with the test's report when it fails
    assert process.returncode == 0, f"the e2e failed (screenshots: {shots}):\n{output[-8000:]}"


def _pages(folder: Path) -> dict[str, Path]:
    """The screenshots by page: ``03-marketplace.png`` is the marketplace's."""
    return {shot.stem.split("-", 1)[1]: shot for shot in sorted(folder.glob("[0-9][0-9]-*.png"))}
