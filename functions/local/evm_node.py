"""A local EVM chain: hardhat 2's ``hardhat node`` (``chain/``), with the test stablecoin.

``xenblocks local`` runs it so deposits are real transfers on a real chain: ``start`` the
node on a free port (or a given one), wait until it answers JSON-RPC, then deploy
``chain/contracts/TestToken.sol`` (an ERC-20 with 6 decimals, mintable by its deployer)
from its committed artifact (``chain/artifacts/TestToken.json``, compiled with solc-js:
nothing is downloaded) and mint test money to the node's funded accounts. hardhat's
accounts are unlocked: ``eth_sendTransaction`` from any of them needs no key here.

``ChainAdmin`` drives it from tests and scripts (mint, transfer, mine, snapshot, revert)
over plain JSON-RPC; the platform itself reads the chain through web3.py
(``functions/ports/chain.py``) as it would any node. ``xenblocks chain --port N`` runs
one alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from functions.local.children import die_with_parent
from protocol.addresses import to_checksum

log = logging.getLogger(__name__)

CHAIN_DIR = Path(__file__).resolve().parents[2] / "chain"
TOKEN_ARTIFACT = CHAIN_DIR / "artifacts" / "TestToken.json"
HARDHAT = CHAIN_DIR / "node_modules" / "hardhat" / "internal" / "cli" / "bootstrap.js"
CHAIN_ID = 31337  # hardhat's
TOKEN_DECIMALS = 6
DEFAULT_PORT = 8545
# Minted to each of the node's first accounts at deployment: a million tUSD.
MINT_UNITS = 1_000_000 * 10**TOKEN_DECIMALS
MINTED_ACCOUNTS = 5
START_SECONDS = 60

# Function selectors (the first 4 bytes of keccak256 of the signature).
_MINT = "40c10f19"  # mint(address,uint256)
_TRANSFER = "a9059cbb"  # transfer(address,uint256)
_BALANCE_OF = "70a08231"  # balanceOf(address)


class ChainUnavailable(RuntimeError):
    """hardhat is not installed (``npm ci`` in chain/) or the node did not start."""


def hardhat_installed() -> bool:
    return HARDHAT.is_file() and shutil.which("node") is not None


def _word(value: int | str) -> str:
    if isinstance(value, str):  # an address
        return value.lower().removeprefix("0x").rjust(64, "0")
    return f"{value:064x}"


class ChainAdmin:
    """JSON-RPC to a local node, for tests and scripts (hardhat's ``evm_*`` included)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = iter(range(1, 2**62))
        self._lock = threading.Lock()

    def call(self, method: str, *params: Any) -> Any:
        with self._lock:
            request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
        request = urllib.request.Request(  # noqa: S310 - the local node's URL
            self.url, data=json.dumps(body).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
        if answer.get("error"):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result")

    # -- the chain -------------------------------------------------------------------------

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def block_hash(self, number: int) -> str | None:
        block = self.call("eth_getBlockByNumber", hex(number), False)
        return str(block["hash"]) if block else None

    def accounts(self) -> list[str]:
        return [str(a) for a in self.call("eth_accounts")]

    def mine(self, blocks: int = 1) -> None:
        for _ in range(blocks):
            self.call("evm_mine")

    def snapshot(self) -> str:
        return str(self.call("evm_snapshot"))

    def revert(self, snapshot: str) -> bool:
        return bool(self.call("evm_revert", snapshot))

    def set_interval_mining(self, milliseconds: int) -> None:
        """Also mine a block every ``milliseconds`` (0: only on transactions)."""
        self.call("evm_setIntervalMining", milliseconds)

    def set_automine(self, enabled: bool) -> None:
        self.call("evm_setAutomine", enabled)

    # -- transactions ---------------------------------------------------------------------

    def send(self, sender: str, to: str | None, data: str, gas: int = 3_000_000) -> str:
        """``eth_sendTransaction`` from an unlocked account; the transaction hash."""
        transaction: dict[str, Any] = {"from": sender, "data": data, "gas": hex(gas)}
        if to is not None:
            transaction["to"] = to
        return str(self.call("eth_sendTransaction", transaction))

    def receipt(self, tx_hash: str, wait: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while True:
            receipt = self.call("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                if receipt.get("status") != "0x1":
                    raise RuntimeError(f"transaction {tx_hash} failed")
                return dict(receipt)
            if time.monotonic() > deadline:
                raise TimeoutError(f"transaction {tx_hash} was not mined")
            time.sleep(0.05)

    def pay(self, sender: str, to: str, wei: int) -> str:
        """Send ``wei`` of the chain's coin (gas money) from an unlocked account."""
        transaction = {"from": sender, "to": to, "value": hex(wei), "gas": hex(21_000)}
        return str(self.call("eth_sendTransaction", transaction))

    def gas_balance(self, owner: str) -> int:
        return int(self.call("eth_getBalance", owner, "latest"), 16)

    def deploy_token(self, deployer: str | None = None) -> str:
        """Deploy the test token from its committed artifact; its address."""
        artifact = json.loads(TOKEN_ARTIFACT.read_text())
        sender = deployer or self.accounts()[0]
        receipt = self.receipt(self.send(sender, None, artifact["bytecode"]))
        return str(receipt["contractAddress"])

    def mint(self, token: str, to: str, units: int, *, minter: str | None = None) -> str:
        sender = minter or self.accounts()[0]
        return self.send(sender, token, "0x" + _MINT + _word(to) + _word(units))

    def transfer(self, token: str, sender: str, to: str, units: int) -> str:
        """A token transfer from an unlocked account; the transaction hash (mined at once
        with automining, else with the next block)."""
        return self.send(sender, token, "0x" + _TRANSFER + _word(to) + _word(units))

    def balance_of(self, token: str, owner: str) -> int:
        data = "0x" + _BALANCE_OF + _word(owner)
        return int(self.call("eth_call", {"to": token, "data": data}, "latest"), 16)


@dataclass
class EvmNode:
    """A running ``hardhat node``; ``token_address`` once the test token is deployed."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path | None
    chain_id: int = CHAIN_ID
    token_address: str | None = None
    token_decimals: int = TOKEN_DECIMALS
    accounts: list[str] = field(default_factory=list)

    @property
    def admin(self) -> ChainAdmin:
        return ChainAdmin(self.url)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)

    def describe(self) -> dict[str, Any]:
        """What local.json says about the chain."""
        return {
            "chain_rpc_url": self.url,
            "chain_id": self.chain_id,
            "token_address": self.token_address,
            "token_decimals": self.token_decimals,
        }


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start_node(*, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None) -> EvmNode:
    """Start ``hardhat node`` on ``host:port`` (0: a free port) and wait until it answers."""
    if not hardhat_installed():
        raise ChainUnavailable("hardhat is not installed: run `npm ci` in chain/ (scripts/dev)")
    chosen = port or _free_port(host)
    output: IO[bytes] | int = subprocess.DEVNULL
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        output = log_path.open("ab")
    # Never a prompt (hardhat asks for telemetry consent on a terminal, not under CI) and
    # nothing reported anywhere.
    environment = {**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true", "CI": "true"}
    command = ["node", str(HARDHAT), "node", "--hostname", host, "--port", str(chosen)]
    process = subprocess.Popen(  # noqa: S603 - our own command line
        command,
        cwd=CHAIN_DIR,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=environment,
        start_new_session=True,  # its own process group: stopped with its children
        # And gone with us however we die (SIGKILL included): functions/local/children.py.
        preexec_fn=die_with_parent(),
    )
    if not isinstance(output, int):
        output.close()  # the child has its own descriptor
    url = f"http://{host}:{chosen}"
    node = EvmNode(url, chosen, process, log_path)
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            where = f" (see {log_path})" if log_path else ""
            raise ChainUnavailable(f"hardhat node exited with {process.returncode}{where}")
        try:
            node.chain_id = node.admin.chain_id()
            break
        except (OSError, urllib.error.URLError, ValueError):
            if time.monotonic() > deadline:
                node.stop()
                raise ChainUnavailable(f"hardhat node did not answer on {url}") from None
            time.sleep(0.1)
    node.accounts = [to_checksum(account) for account in node.admin.accounts()]
    return node


def deploy(node: EvmNode, *, mint_to: int = MINTED_ACCOUNTS) -> str:
    """Deploy the test token and mint ``MINT_UNITS`` to each of the first accounts."""
    admin = node.admin
    node.token_address = to_checksum(admin.deploy_token(node.accounts[0]))
    for account in node.accounts[:mint_to]:
        admin.receipt(admin.mint(node.token_address, account, MINT_UNITS))
    return node.token_address


@contextlib.contextmanager
def local_chain(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_path: Path | None = None,
    block_seconds: float | None = None,
) -> Iterator[EvmNode]:
    """A node with the token deployed, for the ``with`` block. ``block_seconds``: also mine
    a block that often (confirmations keep coming while nobody transacts)."""
    node = start_node(host=host, port=port, log_path=log_path)
    try:
        deploy(node)
        if block_seconds:
            node.admin.set_interval_mining(int(block_seconds * 1000))
        yield node
    finally:
        node.stop()


def run_chain(*, host: str, port: int, block_seconds: float | None) -> None:
    """``xenblocks chain``: a node with the test token until Ctrl-C or SIGTERM."""
    done = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: done.set())
    with local_chain(host=host, port=port, block_seconds=block_seconds) as node:
        print(describe(node))
        print(f"Accounts         {', '.join(node.accounts[:MINTED_ACCOUNTS])} (unlocked)")
        print("Ctrl-C stops it.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
        print("Stopping…", flush=True)


def describe(node: EvmNode) -> str:
    return (
        f"EVM chain        {node.url}  (hardhat, chain id {node.chain_id}, test token tUSD"
        f" {node.token_address}, {node.token_decimals} decimals, a million minted to each of"
        f" {MINTED_ACCOUNTS} accounts)"
    )
