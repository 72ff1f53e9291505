"""Lambda packaging: the lock is current and complete, the code asset is self-contained,
the layer is built once per lock (pip stands in; these tests never download), both carry
byte-code for the runtime, which is the Python CI runs."""

from __future__ import annotations

import ast
import importlib.util
import marshal
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from infra import packaging
from infra.functions import RUNTIME
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
    pins = [i for i, line in enumerate(lines) if "==" in line]
    assert len(pins) > 10
    for start, end in zip(pins, [*pins[1:], len(lines)], strict=True):
        hashes = [line for line in lines[start + 1 : end] if "--hash=sha256:" in line]
        assert hashes, lines[start]
    assert _lock_names().isdisjoint(packaging.RUNTIME_PROVIDED)
    header = packaging.LOCK_FILE.read_text().splitlines()[1]
    assert f"CPython {packaging.PYTHON_VERSION} " in header
    for tags in packaging.PIP_PLATFORMS.values():
        assert all(tag in header for tag in tags)


def test_the_lambdas_run_the_python_ci_tests_with() -> None:
    # CI (and scripts/dev's venv) run this interpreter: the Lambdas must run the same one,
    # and their byte-code is compiled for it.
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert running == packaging.PYTHON_VERSION
    assert RUNTIME.name == f"python{packaging.PYTHON_VERSION}"
    assert packaging.cache_tag() == sys.implementation.cache_tag


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


# What runs on a workstation only: the local stack, the CLI, the cost model (and moto).
WORKSTATION_ONLY = ("functions.local", "tools", "moto")


def _workstation_only(module: str) -> bool:
    return any(module == top or module.startswith(f"{top}.") for top in WORKSTATION_ONLY)


def test_the_bundle_holds_no_tool_and_imports_none(staged_code: Path) -> None:
    # The bundle as infra/packaging.py builds it for Lambda (``staged_code``).
    modules = {
        ".".join(path.relative_to(staged_code).with_suffix("").parts)
        for path in staged_code.rglob("*.py")
    }
    assert "functions.handlers.live" in modules
    assert sorted(m for m in modules if _workstation_only(m)) == []
    assert sorted(m for m in modules if m.rsplit(".", 1)[-1] in ("cost", "cli")) == []
    imported = {
        f"{path.relative_to(staged_code)}: {module}"
        for path in staged_code.rglob("*.py")
        for module, _ in _imports(path)
        if _workstation_only(module)
    }
    assert sorted(imported) == []


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
    real_run = subprocess.run

    def fake_pip(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if command[1:3] != ["-m", "pip"]:
            return real_run(command, **kwargs)  # the byte-code compiler runs for real
        calls.append(command)
        site = Path(command[command.index("--target") + 1])
        (site / "pkg" / "__pycache__").mkdir(parents=True)
        (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
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
        packaging.PIP_PLATFORMS[packaging.ARCHITECTURE]
    )
    files = sorted(p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file())
    pyc = f"python/pkg/__pycache__/__init__.{sys.implementation.cache_tag}.pyc"
    assert files == [".complete", "python/pkg/__init__.py", pyc]
    # What Lambda will name in a traceback: the layer's path there, not this machine's.
    assert _pyc_code(built / pyc).co_filename == "/opt/python/pkg/__init__.py"


def test_each_architecture_is_its_own_layer(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text("a==1\n")
    assert packaging.dependency_hash(lock, "arm64") != packaging.dependency_hash(lock, "x86_64")


def _pyc_code(path: Path) -> CodeType:
    data = path.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    # PEP 552 flags: bit 0 = hash-based, bit 1 = check the source. Unchecked-hash: 0b01.
    assert int.from_bytes(data[4:8], "little") == 0b01, path
    code = marshal.loads(data[16:])  # noqa: S302 (a pyc this test just built)
    assert isinstance(code, CodeType)
    return code


@pytest.fixture(scope="module")
def staged_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return packaging.stage_code(ROOT, tmp_path_factory.mktemp("build"))


def test_code_bundle_has_bytecode_for_every_module(staged_code: Path) -> None:
    sources = sorted(staged_code.rglob("*.py"))
    assert len(sources) == len([p for p in packaging.code_files(ROOT) if p.suffix == ".py"])
    assert packaging.missing_bytecode(staged_code) == []
    for source in sources:
        code = _pyc_code(packaging.pyc_path(source))
        relative = source.relative_to(staged_code).as_posix()
        assert code.co_filename == f"/var/task/{relative}"


def test_the_bundles_bytecode_is_used_without_reading_the_sources(
    staged_code: Path, tmp_path: Path
) -> None:
    # An unchecked-hash pyc is loaded as is: change a source after the build and the
    # module the bundle was built with is still what imports (as in Lambda, where nothing
    # may be written and nothing is recompiled).
    bundle = tmp_path / "task"
    shutil.copytree(staged_code, bundle)
    (bundle / "protocol" / "errors.py").write_text("raise RuntimeError('recompiled')\n")
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import protocol.errors as m; "
        "print(m.__cached__)"
    )
    result = subprocess.run(  # noqa: S603 (our own command line)
        [sys.executable, "-B", "-c", probe, str(bundle)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"errors.{sys.implementation.cache_tag}.pyc")


def test_the_bundles_bytecode_is_the_same_on_every_build(staged_code: Path, tmp_path: Path) -> None:
    # CDK hashes the staged files: a rebuild of the same sources is the same asset.
    again = packaging.stage_code(ROOT, tmp_path)
    first = {p.relative_to(staged_code): p.read_bytes() for p in staged_code.rglob("*.pyc")}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*.pyc")}
    assert first == second


def test_uncompiled_staging_is_the_sources_alone(tmp_path: Path) -> None:
    staged = packaging.stage_code(ROOT, tmp_path, compiled=False)
    files = sorted(p.relative_to(staged) for p in staged.rglob("*") if p.is_file())
    assert files == packaging.code_files(ROOT)


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


def _install(name: str, version: str, digest: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "version": version},
        "download_info": {"archive_info": {"hashes": {"sha256": digest}}},
    }


def test_lock_rendering_drops_runtime_packages_and_keeps_every_architectures_hash() -> None:
    installs = {
        "arm64": [_install("Foo_Bar", "1.0", "ab" * 32), _install("botocore", "1.0", "cd" * 32)],
        "x86_64": [_install("foo-bar", "1.0", "ef" * 32), _install("pure", "2", "11" * 32)],
    }
    installs["arm64"].append(_install("pure", "2", "11" * 32))  # one wheel for both
    text = packaging.render_lock(["foo-bar>=1"], installs)
    assert (
        "foo-bar==1.0 \\\n    --hash=sha256:" + "ab" * 32 + " \\\n    --hash=sha256:" + "ef" * 32
    ) in text
    assert "pure==2 \\\n    --hash=sha256:" + "11" * 32 + "\n" in text
    assert "botocore==" not in text
    assert text.splitlines()[2] == "# dependencies: foo-bar>=1"


def test_lock_rendering_refuses_architectures_that_disagree() -> None:
    installs = {
        "arm64": [_install("foo", "1.0", "ab" * 32)],
        "x86_64": [_install("foo", "1.1", "cd" * 32)],
    }
    with pytest.raises(packaging.PackagingError, match="foo"):
        packaging.render_lock(["foo"], installs)
    with pytest.raises(packaging.PackagingError, match="bar"):
        packaging.render_lock(
            ["foo"], {**installs, "x86_64": [*installs["arm64"], _install("bar", "1", "00")]}
        )
