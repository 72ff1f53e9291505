"""Lambda packaging: the lock is current and complete, the code asset is self-contained,
the layer is built once per lock (pip stands in; these tests never download)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest

from infra import packaging
from tests.infra.conftest import ROOT


def _lock_names() -> set[str]:
    text = packaging.LOCK_FILE.read_text()
    return {m.group(1) for m in re.finditer(r"^([a-z0-9-]+)==", text, re.MULTILINE)}


def test_lock_is_resolved_from_the_current_dependencies() -> None:
    header = packaging.LOCK_FILE.read_text().splitlines()[2]
    locked_from = header.removeprefix("# dependencies: ").split(", ")
    assert locked_from == packaging.core_requirements(), (
        "pyproject's dependencies changed: run `python -m infra.packaging lock`"
    )


def test_lock_pins_every_package_with_a_hash() -> None:
    lines = [
        line for line in packaging.LOCK_FILE.read_text().splitlines() if not line.startswith("#")
    ]
    pins = [line for line in lines if "==" in line]
    hashes = [line for line in lines if "--hash=sha256:" in line]
    assert len(pins) == len(hashes)
    assert len(pins) > 10
    assert _lock_names().isdisjoint(packaging.RUNTIME_PROVIDED)


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """(module, level) of every import in ``path``, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, node.level
            for alias in node.names:  # `from functions.dal import codec`
                yield f"{node.module}.{alias.name}", node.level


def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    for candidate in (
        ROOT.joinpath(*parts).with_suffix(".py"),
        ROOT.joinpath(*parts, "__init__.py"),
    ):
        if candidate.is_file():
            return candidate
    return None


def _closure() -> tuple[set[Path], set[str]]:
    """The repository files the handlers import (transitively), and the third-party
    top-level modules those files import."""
    todo = sorted((ROOT / "functions" / "handlers").glob("*.py"))
    seen: set[Path] = set()
    third_party: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module, level in _imports(path):
            assert level == 0, f"relative import in {path}"
            top = module.split(".")[0]
            if top in ("functions", "protocol"):
                found = _module_file(module)
                if found is not None:
                    todo.append(found)
                    # Importing a.b.c runs a/__init__.py and a/b/__init__.py too.
                    for parent in found.relative_to(ROOT).parents:
                        init = ROOT / parent / "__init__.py"
                        if parent != Path(".") and init.is_file():
                            todo.append(init)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    return seen, third_party


def test_code_asset_holds_everything_the_handlers_import() -> None:
    files, _ = _closure()
    asset = {ROOT / path for path in packaging.code_files(ROOT)}
    missing = sorted(str(path.relative_to(ROOT)) for path in files - asset)
    assert missing == []


def test_every_third_party_import_is_in_the_layer_or_the_runtime() -> None:
    _, modules = _closure()
    distributions = packages_distributions()
    provided = _lock_names() | packaging.RUNTIME_PROVIDED
    missing = {}
    for module in sorted(modules):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        if not names & provided:
            missing[module] = sorted(names)
    assert missing == {}


def test_code_asset_leaves_out_the_local_stack_and_caches() -> None:
    files = [path.as_posix() for path in packaging.code_files(ROOT)]
    assert "functions/handlers/ingest.py" in files
    assert "protocol/xenblocks.py" in files
    assert not [f for f in files if f.startswith("functions/local/")]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if not f.startswith(("functions/", "protocol/"))]


def test_dependency_hash_follows_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("a==1 \\\n    --hash=sha256:00\n")
    first = packaging.dependency_hash(lock)
    assert packaging.dependency_hash(lock) == first
    lock.write_text("a==2 \\\n    --hash=sha256:00\n")
    assert packaging.dependency_hash(lock) != first


def test_layer_is_built_once_per_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("a==1 \\\n    --hash=sha256:00\n")
    calls: list[list[str]] = []

    def fake_pip(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        site = Path(command[command.index("--target") + 1])
        (site / "pkg" / "__pycache__").mkdir(parents=True)
        (site / "pkg" / "__init__.py").write_text("")
        (site / "pkg" / "__pycache__" / "x.pyc").write_text("")
        (site / "bin").mkdir()
        (site / "bin" / "tool").write_text("#!/some/machine/python\n")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(packaging.subprocess, "run", fake_pip)
    built = packaging.dependencies_dir(lock, tmp_path / "build")
    assert built == packaging.dependencies_dir(lock, tmp_path / "build")
    assert len(calls) == 1
    command = calls[0]
    for flag in ("--only-binary=:all:", "--no-compile", "--require-hashes", "--no-deps"):
        assert flag in command
    assert command[command.index("--python-version") + 1] == packaging.PYTHON_VERSION
    assert {command[i + 1] for i, arg in enumerate(command) if arg == "--platform"} == set(
        packaging.PIP_PLATFORMS
    )
    files = sorted(p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file())
    assert files == [".complete", "python/pkg/__init__.py"]


def test_failed_pip_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("a==1\n")
    monkeypatch.setattr(
        packaging.subprocess,
        "run",
        lambda command, **_: subprocess.CompletedProcess(command, 1),
    )
    with pytest.raises(packaging.PackagingError, match="dependencies=none"):
        packaging.dependencies_dir(lock, tmp_path / "build")
    assert list((tmp_path / "build").iterdir()) == []


def test_lock_rendering_drops_runtime_packages_and_keeps_hashes() -> None:
    installs = [
        {
            "metadata": {"name": "Foo_Bar", "version": "1.0"},
            "download_info": {"archive_info": {"hashes": {"sha256": "ab" * 32}}},
        },
        {
            "metadata": {"name": "botocore", "version": "1.0"},
            "download_info": {"archive_info": {"hashes": {"sha256": "cd" * 32}}},
        },
    ]
    text = packaging.render_lock(["foo-bar>=1"], installs)
    assert "foo-bar==1.0 \\\n    --hash=sha256:" + "ab" * 32 in text
    assert "botocore==" not in text
    assert text.splitlines()[2] == "# dependencies: foo-bar>=1"
