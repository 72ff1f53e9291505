"""``xenblocks sweep`` on a real local chain (hardhat 2, chain/): two accounts' deposits,
credited by the watcher, are swept into the hot wallet with keys derived from the seed,
the gas topped up from hardhat's account #0; the plan alone sends nothing; afterwards
``xenblocks reconcile`` still finds zero differences (a sweep into the hot wallet is
neither a deposit nor a withdrawal)."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.dal.deposits import DepositRepository
from functions.logic.deposits import DepositAddresses, DepositWatcher
from functions.logic.hd_keys import deposit_xpub_from_seed
from functions.ports.chain import Web3ChainReader
from tests.factories import NOW, address
from tools.cli import main as xenblocks
from tools.reconcile import reconcile

N = 3
SEED = bytes(range(100, 132))
# hardhat's account #0: its well-known key (a test mnemonic's, funded with ETH at start).
GAS_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ALICE, BOB = address(0xA11CE), address(0xB0B)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    seed, key = tmp_path / "deposit.seed", tmp_path / "gas.key"
    seed.write_text(SEED.hex() + "\n")
    key.write_text(GAS_KEY + "\n")
    for path in (seed, key):
        path.chmod(0o600)
    return {"seed": str(seed), "key": str(key)}


def _sweep(chain, files: dict[str, str], hot: str, *extra: str) -> int:
    return xenblocks(
        [
            "sweep",
            "--seed-file",
            files["seed"],
            "--to",
            hot,
            "--rpc-url",
            chain.url,
            "--chain-id",
            str(chain.chain_id),
            "--token",
            chain.token_address,
            "--count",
            "3",
            *extra,
        ]
    )


def test_deposits_are_swept_into_the_hot_wallet_and_still_reconcile(
    chain, settings, tables, files, capsys
):
    admin, token = chain.admin, chain.token_address
    hot = chain.accounts[2]
    chain_settings = settings.model_copy(
        update={
            "deposit_xpub": deposit_xpub_from_seed(SEED),
            "deposit_rpc_url": chain.url,
            "deposit_chain_id": chain.chain_id,
            "deposit_token_address": token,
            "deposit_token_decimals": chain.token_decimals,
            "deposit_confirmations": N,
            "deposit_start_block": admin.block_number() + 1,
            "withdrawal_confirmations": N,
        }
    )
    deposits = DepositRepository(tables)
    addresses = DepositAddresses(chain_settings, deposits)
    alice = addresses.of(ALICE, now=NOW).deposit_address
    bob = addresses.of(BOB, now=NOW).deposit_address
    admin.receipt(admin.transfer(token, chain.accounts[1], alice, 250 * 10**6))
    admin.receipt(admin.transfer(token, chain.accounts[1], bob, 3_500_001))
    admin.mine(N)
    watcher = DepositWatcher(chain_settings, deposits, Web3ChainReader(chain.url, timeout=10))
    assert watcher.run(NOW + 1).credited == 2
    assert (admin.gas_balance(alice), admin.gas_balance(bob)) == (0, 0)
    hot_before = admin.balance_of(token, hot)

    # The plan: both need gas; nothing is sent (no block is mined on hardhat either).
    head = admin.block_number()
    assert _sweep(chain, files, hot, "--gas-key-file", files["key"]) == 0
    out = capsys.readouterr().out
    assert out.count("top up gas, then sweep") == 2
    assert "Nothing sent" in out
    assert admin.block_number() == head
    assert admin.balance_of(token, alice) == 250 * 10**6
    assert admin.gas_balance(alice) == 0

    # Without a gas key and with --apply: both are left, nothing sent, exit 1.
    assert _sweep(chain, files, hot, "--apply") == 1
    assert "needs gas" in capsys.readouterr().out
    assert admin.block_number() == head

    # Applied: topped up from account #0, swept, every token on the hot wallet.
    assert _sweep(chain, files, hot, "--gas-key-file", files["key"], "--apply") == 0
    out = capsys.readouterr().out
    assert "Swept 2, failed 0." in out
    assert (admin.balance_of(token, alice), admin.balance_of(token, bob)) == (0, 0)
    assert admin.balance_of(token, hot) == hot_before + 250 * 10**6 + 3_500_001
    assert f"--to {hot}: {hot_before + 253_500_001}" in out
    swept_by = admin.block_number()  # hardhat mines each transaction in its own block

    # Again: nothing left to sweep.
    assert _sweep(chain, files, hot, "--gas-key-file", files["key"], "--apply") == 0
    assert "Nothing to send" in capsys.readouterr().out

    # The ledger against the chain: the two deposits match; the sweeps are not read as
    # deposits (not to a deposit address) nor as withdrawals (not from the hot wallet).
    admin.mine(N)
    report = reconcile(
        chain_settings, tables, Web3ChainReader(chain.url, timeout=10), hot_wallets=[hot]
    )
    assert report.last_block >= swept_by  # the sweeps are in the blocks compared
    assert report.differences == []
    assert (report.deposits_on_chain, report.withdrawals_on_chain, report.matched) == (2, 0, 2)


def test_the_wrong_chain_id_sends_nothing(chain, files, capsys):
    head = chain.admin.block_number()
    argv = ["sweep", "--seed-file", files["seed"], "--to", chain.accounts[2]]
    argv += ["--rpc-url", chain.url, "--chain-id", "1", "--token", chain.token_address]
    assert xenblocks([*argv, "--count", "2", "--apply"]) == 2
    assert f"on chain {chain.chain_id}, not 1" in capsys.readouterr().err
    assert chain.admin.block_number() == head
