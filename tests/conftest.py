"""Suite-wide setup: markers by folder, no sockets in unit tests, moto tables, GPU skips.

A test skips when this machine lacks something it needs (mosquitto, Node, Chromium, a
compiler). Under ``CI=true`` such a skip fails the run instead: CI installs everything
(``scripts/dev test``), so a skip there means a check that silently did not happen. The one
exception is a test marked ``gpu``: CI has no GPU. ``@pytest.mark.gpu`` skips the test
without an NVIDIA GPU and CuPy; ``@pytest.mark.gpu(device=False)`` runs it anywhere but
lets it skip for a GPU reason (no CUDA toolchain, or a GPU present) even under CI.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import pytest_socket

from functions.local.moto_kms_digest import install as install_moto_kms_digest

# moto's KMS hashes a MessageType=DIGEST message again; make it sign digests as AWS does.
install_moto_kms_digest()

# Tests never reach real AWS: fake credentials, a fixed region, no metadata service look-ups.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "xenblocks-tests",
    }
)

TESTS = Path(__file__).resolve().parent
SUITES = ("unit", "integration", "infra", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(item.fspath).resolve().relative_to(TESTS).parts
        if parts and parts[0] in SUITES:
            item.add_marker(getattr(pytest.mark, parts[0]))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("unit"):
        # Unit tests are in-process: any network socket is a bug. (Unix sockets stay
        # allowed: multiprocessing uses them.)
        pytest_socket.disable_socket(allow_unix_socket=True)
    gpu = item.get_closest_marker("gpu")
    if gpu is not None and gpu.kwargs.get("device", True) and not _gpu_available():
        pytest.skip("no NVIDIA GPU with CuPy on this machine")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under ``CI=true`` a skip is a failure, except in a test marked ``gpu``."""
    report = yield
    # An expected failure (xfail) is reported as a skip too: it stays one.
    if not hasattr(report, "wasxfail") and item.get_closest_marker("gpu") is None:
        _fail_a_skip_under_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A whole module skipped (``pytest.importorskip``) fails under ``CI=true`` too."""
    report = yield
    _fail_a_skip_under_ci(report)
    return report


def _fail_a_skip_under_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.skipped and os.environ.get("CI") == "true":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be missing: {reason}"


def pytest_runtest_teardown(item: pytest.Item) -> None:
    pytest_socket.enable_socket()


def _gpu_available() -> bool:
    try:
        import cupy

        return bool(cupy.cuda.runtime.getDeviceCount() > 0)
    except Exception:
        return False


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    from functions.settings import Settings
    from protocol.xenblocks import BlockRules

    # The tests' heartbeat schedule is spelled out: short slots keep their arithmetic small
    # (the deployed defaults are checked by tests/infra and the cost model).
    return Settings(
        stage="test",
        rules=BlockRules(difficulty=8, block_pattern="XEN"),
        heartbeat_write_seconds=60,
        heartbeat_history_seconds=300,
    )


@pytest.fixture
def tables(settings) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """All tables from the dal specs, in moto, with requests serialized like DynamoDB's."""
    from moto import mock_aws

    from functions.dal.tables import Tables, create_tables
    from functions.local.moto_dynamodb import serialize_dynamodb_requests

    serialize_dynamodb_requests()
    with mock_aws():
        created = Tables(settings)
        create_tables(created)
        yield created
