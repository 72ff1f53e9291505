"""Lambda packaging without Docker: one code asset and one dependency layer, both compiled.

- **Code**: ``functions/`` and ``protocol/`` (no ``functions/local``, no caches) staged into
  ``build/lambda/code``; CDK hashes the staged files, so the asset changes exactly when the
  code does. Every function shares it (one upload).
- **Dependencies**: ``infra/lambda/requirements.txt`` pins every third-party package the
  Lambdas import, with hashes, resolved for the Lambda platform (CPython 3.11, manylinux
  wheels only) on both architectures (arm64, what the functions run on, and x86_64, so
  ``bench/coldstart.py`` measures the same pinned packages on a developer's machine).
  ``pip install --platform … --only-binary=:all: --no-compile --require-hashes`` puts them
  into ``build/lambda/deps-<hash>/python`` once; after that ``cdk synth`` runs offline. The
  layer's asset hash is the hash of the lock and of these build options, not of the
  installed files, so it is the same on every machine.
- **Byte-code**: ``/var/task`` and ``/opt`` are read-only in Lambda, so a module without a
  ``.pyc`` beside it is compiled again on every cold start (seconds for FastAPI, pydantic,
  eth-account). Both the code and the layer ship ``__pycache__/*.cpython-311.pyc`` made by
  the runtime's own Python version (``PYTHON_VERSION``; ``python3.11`` on PATH when the
  building interpreter is another). They are *unchecked-hash* pycs (PEP 552): CDK zips
  assets with a fixed 1980 timestamp, so timestamp pycs would never match their sources,
  while an unchecked-hash pyc is used as is; the bundle is immutable, so it cannot go
  stale. Compiled with ``PYTHONHASHSEED=0`` and the paths the files have in Lambda
  (``/var/task``, ``/opt/python``), the bytes are the same on every machine.
- boto3/botocore/s3transfer/jmespath are left to the Lambda runtime, which ships them.

The runtime is Python 3.11 because it is what CI and every developer machine run (no
registry this project reaches serves a 3.12 interpreter): what CI tests is what Lambda
runs. Lambda supports python3.11 until 2027-06-30 (creation blocked from 2027-07-31);
move CI and ``PYTHON_VERSION`` to a newer Python together before then.

Commands::

    python -m infra.packaging lock    # re-resolve the lock from pyproject's dependencies
    python -m infra.packaging build   # install the lock into build/ (what synth does)

``-c xenblocks:dependencies=none`` makes synth use an empty placeholder layer instead (the
tests do; such an assembly is for review, not for deploy).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = ROOT / "infra" / "lambda" / "requirements.txt"
BUILD_DIR = ROOT / "build" / "lambda"

# The Lambda platform the lock is resolved for; infra/functions.py uses the same values.
PYTHON_VERSION = "3.11"
ARCHITECTURE = "arm64"
# pip's platform tags for each architecture the lock holds hashes for.
PIP_PLATFORMS: Mapping[str, tuple[str, ...]] = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}
# What the python3.11 runtime already provides; keeping them out of the layer keeps it small.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})
# Packages of the repository that run in Lambda, and what of them does not.
CODE_PACKAGES = ("functions", "protocol")
CODE_EXCLUDED = ("functions/local",)
# Where Lambda puts the code and the layer's packages (the paths tracebacks name).
CODE_ROOT = "/var/task"
LAYER_ROOT = "/opt/python"
BYTECODE_MODE = "unchecked-hash"
# Bump when the way the layer is built changes (it is part of the layer's asset hash).
RECIPE_VERSION = "2"

_MARKER = ".complete"
PLACEHOLDER_NOTE = (
    "Placeholder layer: synthesized with -c xenblocks:dependencies=none. "
    "Not deployable: the Lambdas would not find their packages.\n"
)


class PackagingError(RuntimeError):
    pass


def pip_platform_args(architecture: str = ARCHITECTURE) -> list[str]:
    platforms = [arg for tag in PIP_PLATFORMS[architecture] for arg in ("--platform", tag)]
    return [
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
    ]


def cache_tag() -> str:
    """The runtime's ``sys.implementation.cache_tag`` (``cpython-311``)."""
    return "cpython-" + PYTHON_VERSION.replace(".", "")


def pyc_path(source: Path) -> Path:
    """Where the runtime looks for the byte-code of ``source`` (PEP 3147)."""
    return source.parent / "__pycache__" / f"{source.stem}.{cache_tag()}.pyc"


def bytecode_python() -> str:
    """An interpreter of the runtime's version: this one, or ``python3.11`` on PATH."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION:
        return sys.executable
    found = shutil.which(f"python{PYTHON_VERSION}")
    if found is None:
        raise PackagingError(
            f"the Lambdas run Python {PYTHON_VERSION} and their byte-code must be compiled by "
            f"it: run with python{PYTHON_VERSION} or put it on PATH"
        )
    return found


def compile_bytecode(directory: Path, shown_as: str) -> None:
    """Compile every ``.py`` under ``directory`` into unchecked-hash pycs for the runtime;
    tracebacks name the files as under ``shown_as`` (where Lambda puts them)."""
    command = [
        bytecode_python(),
        "-m",
        "compileall",
        "-q",
        "-f",
        "-j",
        "0",
        "--invalidation-mode",
        BYTECODE_MODE,
        "-d",
        shown_as,
        str(directory),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONPYCACHEPREFIX", None)  # the pycs go beside the sources
    result = subprocess.run(  # noqa: S603 (our own argument list)
        command, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PackagingError(
            f"compiling {directory} for Python {PYTHON_VERSION} failed:\n"
            f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )


def missing_bytecode(directory: Path) -> list[Path]:
    """The ``.py`` files under ``directory`` without the runtime's pyc (empty when built)."""
    return sorted(
        path.relative_to(directory)
        for path in directory.rglob("*.py")
        if not pyc_path(path).is_file()
    )


def dependency_hash(lock_file: Path = LOCK_FILE, architecture: str = ARCHITECTURE) -> str:
    """The layer's identity: the lock's bytes plus every option that shapes the install."""
    digest = hashlib.sha256()
    digest.update(lock_file.read_bytes())
    recipe = {
        "recipe": RECIPE_VERSION,
        "python": PYTHON_VERSION,
        "platforms": PIP_PLATFORMS[architecture],
        "excluded": sorted(RUNTIME_PROVIDED),
        "bytecode": [BYTECODE_MODE, LAYER_ROOT],
    }
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    return digest.hexdigest()


def dependencies_dir(
    lock_file: Path = LOCK_FILE,
    build_dir: Path = BUILD_DIR,
    *,
    architecture: str = ARCHITECTURE,
) -> Path:
    """The layer directory for ``lock_file`` (its ``python/`` holds the packages and their
    byte-code); built with pip the first time, reused afterwards."""
    target = build_dir / f"deps-{dependency_hash(lock_file, architecture)[:16]}"
    if (target / _MARKER).is_file():
        return target
    build_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="deps-", dir=build_dir))
    try:
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--require-hashes",
            "--no-compile",
            *pip_platform_args(architecture),
            "--target",
            str(staging / "python"),
            "-r",
            str(lock_file),
        ]
        print(f"[infra] installing Lambda dependencies into {target}", file=sys.stderr)
        result = subprocess.run(command, check=False)  # noqa: S603 (our own argument list)
        if result.returncode != 0:
            raise PackagingError(
                f"pip could not install {lock_file} for the Lambda platform (exit "
                f"{result.returncode}); synth offline with -c xenblocks:dependencies=none"
            )
        _strip(staging / "python")
        compile_bytecode(staging / "python", LAYER_ROOT)
        (staging / _MARKER).write_text(dependency_hash(lock_file, architecture) + "\n")
        if target.exists():  # a concurrent build finished first
            shutil.rmtree(staging)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _strip(site: Path) -> None:
    """Drop what Lambda never uses and what differs between machines: console scripts
    (their shebang names the building interpreter) and any byte-code not compiled here."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def placeholder_dir(build_dir: Path = BUILD_DIR) -> Path:
    """An empty layer (``xenblocks:dependencies=none``): enough to synthesize and test."""
    target = build_dir / "deps-placeholder"
    (target / "python").mkdir(parents=True, exist_ok=True)
    (target / "python" / "README.txt").write_text(PLACEHOLDER_NOTE)
    return target


def stage_code(root: Path = ROOT, build_dir: Path = BUILD_DIR, *, compiled: bool = True) -> Path:
    """Copy the Lambda packages into ``build/lambda/code`` (fresh each synth) and compile
    them for the runtime (``compiled=False``: the sources alone, as before byte-code was
    shipped; ``bench/coldstart.py`` measures that)."""
    target = build_dir / "code"
    staging = Path(tempfile.mkdtemp(prefix="code-", dir=_ensure(build_dir)))
    try:
        for relative in code_files(root):
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, destination)
        if compiled:
            compile_bytecode(staging, CODE_ROOT)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def code_files(root: Path = ROOT) -> list[Path]:
    """The repository files that make up the code asset, relative to ``root``, sorted."""
    files = []
    for package in CODE_PACKAGES:
        for path in (root / package).rglob("*"):
            relative = path.relative_to(root)
            if not path.is_file() or "__pycache__" in relative.parts:
                continue
            if path.suffix in (".pyc", ".pyo"):
                continue
            if any(relative.as_posix().startswith(f"{excluded}/") for excluded in CODE_EXCLUDED):
                continue
            files.append(relative)
    return sorted(files)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- the lock ------------------------------------------------------------------------------


def core_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """What the Lambdas need: the project's core dependencies (not the extras)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return list(project["dependencies"])


def resolve_lock(requirements: Sequence[str]) -> str:
    """Resolve ``requirements`` for the Lambda platform on every architecture; the lock
    file's text."""
    installs = {}
    for architecture in PIP_PLATFORMS:
        with tempfile.TemporaryDirectory() as scratch:
            report = Path(scratch) / "report.json"
            command = [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--dry-run",
                "--ignore-installed",
                "--report",
                str(report),
                *pip_platform_args(architecture),
                *requirements,
            ]
            subprocess.run(command, check=True)  # noqa: S603 (our own argument list)
            installs[architecture] = json.loads(report.read_text())["install"]
    return render_lock(requirements, installs)


def render_lock(
    requirements: Iterable[str], installs: Mapping[str, Iterable[dict[str, Any]]]
) -> str:
    """The lock from pip's install reports, one per architecture: the same versions on
    each, with every architecture's wheel hash (pip accepts any of them)."""
    requirements = list(requirements)
    platforms = ", ".join(tag for arch in installs for tag in PIP_PLATFORMS[arch])
    lines = [
        "# The Lambda layer's packages, from `python -m infra.packaging lock`: do not edit.",
        f"# Resolved for CPython {PYTHON_VERSION} on {platforms} from pyproject's",
        "# dependencies: " + ", ".join(requirements),
        "# Left to the Lambda runtime: " + ", ".join(sorted(RUNTIME_PROVIDED)),
    ]
    versions: dict[str, dict[str, str]] = {}
    hashes: dict[str, set[str]] = {}
    for architecture, report in installs.items():
        for install in report:
            name = _canonical(str(install["metadata"]["name"]))
            if name in RUNTIME_PROVIDED:
                continue
            versions.setdefault(name, {})[architecture] = str(install["metadata"]["version"])
            digest = install["download_info"].get("archive_info", {}).get("hashes", {})
            if "sha256" not in digest:
                raise PackagingError(f"pip reported no sha256 for {name} ({architecture})")
            hashes.setdefault(name, set()).add(digest["sha256"])
    pinned = []
    for name in sorted(versions):
        found = versions[name]
        if set(found) != set(installs) or len(set(found.values())) != 1:
            raise PackagingError(f"{name} does not resolve alike on every architecture: {found}")
        pins = "".join(f" \\\n    --hash=sha256:{h}" for h in sorted(hashes[name]))
        pinned.append(f"{name}=={next(iter(found.values()))}{pins}")
    return "\n".join(lines + pinned) + "\n"


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.packaging", description=__doc__)
    parser.add_argument("command", choices=("lock", "build"))
    args = parser.parse_args(argv)
    if args.command == "lock":
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        LOCK_FILE.write_text(resolve_lock(core_requirements()))
        print(f"wrote {LOCK_FILE.relative_to(ROOT)}")
    else:
        print(dependencies_dir())
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
