"""The committed test-token artifact is what its Solidity source compiles to (solc-js, the
npm ``solc`` pinned in chain/package.json: nothing downloaded), and it is what the local
chain deploys."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from functions.local.evm_node import CHAIN_DIR, TOKEN_ARTIFACT, TOKEN_DECIMALS

SOLC = CHAIN_DIR / "node_modules" / "solc" / "package.json"


def test_the_committed_artifact_matches_the_source() -> None:
    if shutil.which("node") is None or not SOLC.is_file():
        pytest.skip("solc-js is not installed: npm ci in chain/ (scripts/dev)")
    result = subprocess.run(
        ["node", "scripts/compile.js", "--check"],  # noqa: S607 - node on PATH
        cwd=CHAIN_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_the_compiler_is_the_pinned_solc() -> None:
    artifact = json.loads(TOKEN_ARTIFACT.read_text())
    package = json.loads((CHAIN_DIR / "package.json").read_text())
    pinned = package["devDependencies"]["solc"]
    assert artifact["compiler"].startswith(pinned + "+commit.")
    assert f"pragma solidity {pinned};" in (CHAIN_DIR / artifact["sourceName"]).read_text()


def test_hardhat_is_pinned_to_an_exact_2x() -> None:
    package = json.loads((CHAIN_DIR / "package.json").read_text())
    version = package["devDependencies"]["hardhat"]
    assert version.split(".")[0] == "2"
    assert version.replace(".", "").isdigit()
    lock = json.loads((CHAIN_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/hardhat"]["version"] == version


def test_the_artifact_has_the_erc20_surface_and_six_decimals() -> None:
    artifact = json.loads(TOKEN_ARTIFACT.read_text())
    names = {item.get("name") for item in artifact["abi"]}
    assert {"transfer", "transferFrom", "approve", "balanceOf", "mint", "Transfer"} <= names
    assert artifact["bytecode"].startswith("0x60")
    assert len(artifact["bytecode"]) > 1000
    source = (CHAIN_DIR / artifact["sourceName"]).read_text()
    assert f"uint8 public constant decimals = {TOKEN_DECIMALS};" in source
