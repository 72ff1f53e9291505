"""web3.py is the chain jobs' alone (deposits, payouts): no other Lambda handler imports it."""

from __future__ import annotations

import subprocess
import sys

HANDLERS = ["api", "ingest", "jobs", "live", "alerts", "schedule", "secrets"]


def _imports_web3(statements: str) -> bool:
    program = f"{statements}; import sys; print('web3' in sys.modules)"
    result = subprocess.run(  # noqa: S603 - this interpreter, our own program
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout.strip() == "True"


def test_no_other_handler_imports_web3() -> None:
    assert not _imports_web3("; ".join(f"import functions.handlers.{n}" for n in HANDLERS))


def test_the_watcher_imports_it_at_its_cold_start_only() -> None:
    assert not _imports_web3("import functions.handlers.deposits")
    assert not _imports_web3("import functions.handlers.payouts")
    assert _imports_web3("import functions.ports.chain")
