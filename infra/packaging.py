"""Lambda packaging without Docker: one code asset and one dependency layer.

- **Code**: ``functions/`` and ``protocol/`` (no ``functions/local``, no caches) staged into
  ``build/lambda/code``; CDK hashes the staged files, so the asset changes exactly when the
  code does. Every function shares it (one upload).
- **Dependencies**: ``infra/lambda/requirements.txt`` pins every third-party package the
  Lambdas import, with hashes, resolved for the Lambda platform (CPython 3.12, arm64,
  manylinux wheels only). ``pip install --platform … --only-binary=:all: --no-compile
  --require-hashes`` puts them into ``build/lambda/deps-<lock hash>/python`` once; after
  that ``cdk synth`` runs offline. The layer's asset hash is the hash of the lock and of
  these build options, not of the installed files, so it is the same on every machine.
- boto3/botocore/s3transfer/jmespath are left to the Lambda runtime, which ships them.

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
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = ROOT / "infra" / "lambda" / "requirements.txt"
BUILD_DIR = ROOT / "build" / "lambda"

# The Lambda platform the lock is resolved for; infra/functions.py uses the same values.
PYTHON_VERSION = "3.12"
ARCHITECTURE = "arm64"
PIP_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# What the python3.12 runtime already provides; keeping them out of the layer keeps it small.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})
# Packages of the repository that run in Lambda, and what of them does not.
CODE_PACKAGES = ("functions", "protocol")
CODE_EXCLUDED = ("functions/local",)
# Bump when the way the layer is built changes (it is part of the layer's asset hash).
RECIPE_VERSION = "1"

_MARKER = ".complete"
PLACEHOLDER_NOTE = (
    "Placeholder layer: synthesized with -c xenblocks:dependencies=none. "
    "Not deployable: the Lambdas would not find their packages.\n"
)


class PackagingError(RuntimeError):
    pass


def pip_platform_args() -> list[str]:
    platforms = [arg for platform in PIP_PLATFORMS for arg in ("--platform", platform)]
    return [
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
    ]


def dependency_hash(lock_file: Path = LOCK_FILE) -> str:
    """The layer's identity: the lock's bytes plus every option that shapes the install."""
    digest = hashlib.sha256()
    digest.update(lock_file.read_bytes())
    recipe = {
        "recipe": RECIPE_VERSION,
        "python": PYTHON_VERSION,
        "platforms": PIP_PLATFORMS,
        "excluded": sorted(RUNTIME_PROVIDED),
    }
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    return digest.hexdigest()


def dependencies_dir(lock_file: Path = LOCK_FILE, build_dir: Path = BUILD_DIR) -> Path:
    """The layer directory for ``lock_file`` (its ``python/`` holds the packages); built
    with pip the first time, reused afterwards."""
    target = build_dir / f"deps-{dependency_hash(lock_file)[:16]}"
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
            *pip_platform_args(),
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
        (staging / _MARKER).write_text(dependency_hash(lock_file) + "\n")
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
    (their shebang names the building interpreter) and byte-code caches."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def placeholder_dir(build_dir: Path = BUILD_DIR) -> Path:
    """An empty layer (``xenblocks:dependencies=none``): enough to synthesize and test."""
    target = build_dir / "deps-placeholder"
    (target / "python").mkdir(parents=True, exist_ok=True)
    (target / "python" / "README.txt").write_text(PLACEHOLDER_NOTE)
    return target


def stage_code(root: Path = ROOT, build_dir: Path = BUILD_DIR) -> Path:
    """Copy the Lambda packages into ``build/lambda/code`` (fresh each synth)."""
    target = build_dir / "code"
    staging = Path(tempfile.mkdtemp(prefix="code-", dir=_ensure(build_dir)))
    try:
        for relative in code_files(root):
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / relative, destination)
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
    """Resolve ``requirements`` for the Lambda platform; the lock file's text."""
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
            *pip_platform_args(),
            *requirements,
        ]
        subprocess.run(command, check=True)  # noqa: S603 (our own argument list)
        installs = json.loads(report.read_text())["install"]
    return render_lock(requirements, installs)


def render_lock(requirements: Iterable[str], installs: Iterable[dict[str, object]]) -> str:
    lines = [
        "# The Lambda layer's packages, from `python -m infra.packaging lock`: do not edit.",
        f"# Resolved for CPython {PYTHON_VERSION} on {', '.join(PIP_PLATFORMS)} from pyproject's",
        "# dependencies: " + ", ".join(requirements),
        "# Left to the Lambda runtime: " + ", ".join(sorted(RUNTIME_PROVIDED)),
    ]
    pinned = []
    for install in installs:
        metadata = install["metadata"]
        download = install["download_info"]
        assert isinstance(metadata, dict)
        assert isinstance(download, dict)
        name = _canonical(str(metadata["name"]))
        if name in RUNTIME_PROVIDED:
            continue
        hashes = download.get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise PackagingError(f"pip reported no sha256 for {name}")
        pinned.append(f"{name}=={metadata['version']} \\\n    --hash=sha256:{hashes['sha256']}")
    return "\n".join(lines + sorted(pinned)) + "\n"


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
