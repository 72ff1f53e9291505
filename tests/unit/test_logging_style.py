"""The Lambda code logs one way (``functions/observability.py``): through the one Powertools
logger, with a constant message and every variable part a field. An AST scan of
``functions/`` (but the local stack, ``functions/local/``, which may keep stdlib logging)
fails on a stdlib logger, a second Powertools logger, or a message that is %-formatted,
an f-string, ``.format``-ed, concatenated or not a literal at all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
EXEMPT = (FUNCTIONS / "local",)
OBSERVABILITY = FUNCTIONS / "observability.py"

LEVELS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "log"})
# ``%s``, ``%(name)s``, ``%d``, ``%.1f``, ``%r``...: a placeholder waiting for arguments.
PLACEHOLDER = re.compile(r"%(\([^)]*\))?[-+ #0]*\d*(\.\d+)?[sdifgeExXorc]")


def lambda_modules() -> list[Path]:
    return sorted(
        path
        for path in FUNCTIONS.rglob("*.py")
        if not any(path.is_relative_to(exempt) for exempt in EXEMPT)
    )


def _is_logger(node: ast.expr) -> bool:
    """``logger``, ``self._logger``, ``log``, ``logging``...: what a level is called on."""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return "log" in name.lower()


def _message_problem(message: ast.expr) -> str | None:
    if isinstance(message, ast.IfExp):  # "accepted" if ok else "rejected": two constants
        return _message_problem(message.body) or _message_problem(message.orelse)
    if isinstance(message, ast.JoinedStr):
        return "an f-string message"
    if isinstance(message, ast.BinOp):
        return "a %-formatted or concatenated message"
    if isinstance(message, ast.Call):
        return "a computed (.format or other) message"
    if not (isinstance(message, ast.Constant) and isinstance(message.value, str)):
        return "a message that is not a string literal"
    if PLACEHOLDER.search(message.value):
        return "a %-style placeholder in the message"
    return None


def problems(source: str, *, builds_the_logger: bool = False) -> list[str]:
    """What in ``source`` breaks the house style, as ``line: what``. The observability
    module (``builds_the_logger``) makes the one Logger and its stdlib filter."""
    found: list[str] = []
    aliases: set[str] = set()  # names bound to a level: ``log = logger.info if ...``
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.IfExp | ast.Attribute):
            parts = (
                [node.value.body, node.value.orelse]
                if isinstance(node.value, ast.IfExp)
                else [node.value]
            )
            if all(
                isinstance(p, ast.Attribute) and p.attr in LEVELS and _is_logger(p.value)
                for p in parts
            ):
                aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    for node in ast.walk(tree):
        if builds_the_logger:
            pass
        elif isinstance(node, ast.ImportFrom) and node.module == "logging":
            found.append(f"{node.lineno}: imports from the stdlib logging module")
        elif isinstance(node, ast.Import) and any(a.name == "logging" for a in node.names):
            found.append(f"{node.lineno}: imports the stdlib logging module")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "getLogger":
            found.append(f"{node.lineno}: a stdlib logging.getLogger")
            continue
        if isinstance(func, ast.Name) and func.id == "Logger" and not builds_the_logger:
            found.append(f"{node.lineno}: a Logger of its own (use functions.observability)")
            continue
        is_level = (
            isinstance(func, ast.Attribute) and func.attr in LEVELS and _is_logger(func.value)
        )
        if not (is_level or (isinstance(func, ast.Name) and func.id in aliases)):
            continue
        level = func.attr if isinstance(func, ast.Attribute) else "an alias"
        positional = node.args[1:] if level == "log" else node.args
        if not positional:
            found.append(f"{node.lineno}: a log call without a message")
            continue
        problem = _message_problem(positional[0])
        if problem is None and len(positional) > 1:
            problem = "arguments for a %-formatted message"
        if problem is not None:
            found.append(f"{node.lineno}: {problem}")
    return found


@pytest.mark.parametrize("path", lambda_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_lambda_code_logs_in_the_one_style(path: Path) -> None:
    source = path.read_text()
    assert problems(source, builds_the_logger=path == OBSERVABILITY) == []


def test_the_scan_covers_the_lambda_code_and_skips_the_local_stack() -> None:
    scanned = {path.relative_to(FUNCTIONS).as_posix() for path in lambda_modules()}
    assert {"observability.py", "handlers/ingest.py", "logic/settlement.py"} <= scanned
    assert not any(name.startswith("local/") for name in scanned)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("import logging\n", "imports the stdlib logging module"),
        ("from logging import getLogger\n", "imports from the stdlib logging module"),
        ("log = logging.getLogger(__name__)\n", "a stdlib logging.getLogger"),
        ("logger = Logger(service='x')\n", "a Logger of its own"),
        ("logger.warning('lease %s: gone', lease_id)\n", "a %-style placeholder"),
        ("logger.info('lease %(id)s settled')\n", "a %-style placeholder"),
        ("logger.info('delivered %.1f%%')\n", "a %-style placeholder"),
        ("logger.warning('lease %s' % lease_id)\n", "a %-formatted or concatenated message"),
        ("logger.warning('lease ' + lease_id)\n", "a %-formatted or concatenated message"),
        ("logger.info(f'lease {lease_id} settled')\n", "an f-string message"),
        ("logger.info('lease {} settled'.format(lease_id))\n", "a computed"),
        ("logger.exception(message)\n", "not a string literal"),
        ("logger.error('failed', error)\n", "arguments for a %-formatted message"),
        ("self._logger.debug(f'x {y}')\n", "an f-string message"),
        ("logger.log(30, f'x {y}')\n", "an f-string message"),
        ("log = logger.info if ok else logger.warning\nlog(f'{kind} done')\n", "an f-string"),
        ("logger.info('ok' if done else f'{n} left')\n", "an f-string message"),
    ],
)
def test_the_scan_catches_each_old_habit(source: str, problem: str) -> None:
    [found] = problems(source)
    assert problem in found


@pytest.mark.parametrize(
    "source",
    [
        "logger.warning('release not published', extra={'lease_id': l}, exc_info=True)\n",
        "logger.exception('alert rule failed', extra={'rule_id': r})\n",
        "log = logger.info if ok else logger.warning\nlog('network run', extra=summary)\n",
        "logger.info('accepted' if ok else 'rejected', extra={'route': r})\n",
        "logger.info('100% verified')\n",  # a percent sign that is no placeholder
        "values.info(3)\nparser.error(message)\n",  # not loggers
    ],
)
def test_the_house_style_passes(source: str) -> None:
    assert problems(source) == []
