"""Cold start: each Lambda handler's import time from its built bundle, before and after.

    .venv/bin/python bench/coldstart.py [--runs 7] [--before-rev REV]

Builds what ``cdk synth`` deploys with ``infra/packaging.py`` (the code asset and the
dependency layer, for this machine's architecture from the same lock), then imports each
handler module the stack names in a fresh interpreter laid out as Lambda lays it out:
``/var/task`` (the code), ``/opt/python`` (the layer), the runtime's boto3, the standard
library, and nothing else (``-S -E``: no site-packages, no ``PYTHON*`` variables). ``-B``
stands for Lambda's read-only file system: nothing compiled during an import is kept, so
every run pays what a cold start pays.

- **before**: the bundle as packaged before byte-code was shipped (``--no-compile``, every
  ``__pycache__`` stripped): the code's sources (the working tree's, or those of
  ``--before-rev``) and the layer without its pycs. Every module is compiled at import.
- **after**: the bundle as packaged now, with the runtime's unchecked-hash pycs.

Each figure is in seconds, the best of ``--runs`` imports (before and after alternate, so
both see the same machine; as ``timeit`` advises, the best run is the one the least
disturbed by whatever else the machine runs, and this 2-core machine is shared): ``before``
and ``after`` wall-clock, ``median`` the after runs' median (how noisy the machine was),
``cpu`` the after import's CPU time, ``+first use`` what a function of that module imports
later, on the request that needs it (``FIRST_USE``); ``compiled`` counts the bundle's
modules that had no usable pyc (before/after). ``ok`` compares the after import's CPU time
with its target: what the import costs, whatever else the machine runs (on an idle machine
wall-clock and CPU time agree; when another process holds a core, wall-clock also counts the
wait for it). The exit status is 1 when one misses its target.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The CDK (the stack's handler names) runs on Node.js; its version banner is noise here.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")

from infra import packaging  # noqa: E402

# The boto3 the Lambda runtime provides (infra/packaging.RUNTIME_PROVIDED), taken from the
# interpreter running this script (its pip compiled them, as the runtime's are).
RUNTIME_MODULES = tuple(sorted(packaging.RUNTIME_PROVIDED))
# The functions deployed with X-Ray tracing on (infra/api.py): Powertools' Tracer then
# builds the X-Ray recorder at import.
TRACED = frozenset({"functions.handlers.api"})
# What some functions import on their first use rather than at their cold start (not in
# "after"; timed apart as "+first use"): eth_account only when a sign-in is verified; the
# HTTP API's views (and FastAPI under them) when a live snapshot or stream batch is built,
# never for $connect/$disconnect nor the fleet job's broadcast.
FIRST_USE = {
    "functions.handlers.api": ("eth_account",),
    "functions.handlers.live": ("functions.api.routers.monitoring", "functions.api.routers.alerts"),
}
# What each handler must import in at most (this machine; issue #21).
TARGET_SECONDS = {"functions.handlers.api": 1.0}
DEFAULT_TARGET = 0.6

# Runs in the probe interpreter: time one import, then count the bundle's modules that were
# compiled on the way (no pyc, or one that is not the runtime's).
_PROBE = """
import json, sys, time
code, layer, runtime, module, later = sys.argv[1:6]
sys.path[:0] = [code, layer, runtime]
start, cpu = time.perf_counter(), time.process_time()
__import__(module)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
import os
compiled = 0
for loaded in list(sys.modules.values()):
    origin = getattr(getattr(loaded, "__spec__", None), "origin", None) or ""
    if origin.endswith(".py") and origin.startswith((code, layer)):
        cached = loaded.__spec__.cached
        compiled += not (cached and os.path.isfile(cached))
start = time.perf_counter()
for name in filter(None, later.split(",")):
    __import__(name)
first_use = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "cpu": cpu, "first_use": first_use, "compiled": compiled}))
"""

# Lambda's own environment, enough for the handlers' module-level code.
_LAMBDA_ENV = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_LAMBDA_FUNCTION_NAME": "coldstart",
    "AWS_EXECUTION_ENV": f"AWS_Lambda_python{packaging.PYTHON_VERSION}",
    "TZ": ":UTC",
    "POWERTOOLS_SERVICE_NAME": "coldstart",
    "POWERTOOLS_METRICS_NAMESPACE": "XenBlocks",
    "LANG": "C.UTF-8",
    "PATH": "/usr/bin:/bin",
}


@dataclass(frozen=True)
class Bundle:
    name: str
    code: Path
    layer: Path


def host_architecture() -> str:
    machine = platform.machine().lower()
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def handler_modules() -> list[str]:
    """Every module the stack names in a function's handler (``module.function``)."""
    from infra.api import API_HANDLER
    from infra.device_plane import BATCH_HANDLER, INGEST_HANDLER
    from infra.live import HANDLERS as LIVE_HANDLERS
    from infra.schedules import JOBS

    handlers = [API_HANDLER, INGEST_HANDLER, BATCH_HANDLER, *LIVE_HANDLERS.values()]
    handlers += [job.handler for job in JOBS]
    return list(dict.fromkeys(handler.rsplit(".", 1)[0] for handler in handlers))


def runtime_dir(work: Path) -> Path:
    """The runtime's packages (``/var/runtime``), linked from this interpreter's."""
    target = work / "runtime"
    target.mkdir()
    for name in RUNTIME_MODULES:
        module = __import__(name)
        origin = Path(module.__file__ or "")
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source)
    return target


def source_tree(work: Path, revision: str | None) -> Path:
    """The repository's Lambda packages: the working tree, or those of ``revision``."""
    if revision is None:
        return ROOT
    tree = work / f"src-{revision}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, *packaging.CODE_PACKAGES],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def build(work: Path, before_rev: str | None) -> tuple[Bundle, Bundle]:
    architecture = host_architecture()
    layer = packaging.dependencies_dir(architecture=architecture) / "python"
    stripped = work / "before-layer"
    shutil.copytree(layer, stripped, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    before_code = packaging.stage_code(
        source_tree(work, before_rev), work / "before", compiled=False
    )
    after_code = packaging.stage_code(ROOT, work / "after")
    return Bundle("before", before_code, stripped), Bundle("after", after_code, layer)


def probe(bundle: Bundle, runtime: Path, module: str) -> dict[str, float]:
    command = [sys.executable, "-S", "-E", "-B", "-c", _PROBE]
    command += [str(bundle.code), str(bundle.layer), str(runtime), module]
    command.append(",".join(FIRST_USE.get(module, ())))
    env = {
        **_LAMBDA_ENV,
        # Set by Lambda; the X-Ray SDK reads it to use Lambda's sampling (no X-Ray client).
        "LAMBDA_TASK_ROOT": str(bundle.code),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "POWERTOOLS_TRACE_DISABLED": str(module not in TRACED).lower(),
    }
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise SystemExit(f"{bundle.name}: importing {module} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def _best(samples: list[dict[str, float]], figure: str) -> float:
    return min(sample[figure] for sample in samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--before-rev",
        help="stage the 'before' code from this git revision (default: the working tree)",
    )
    args = parser.parse_args()

    modules = handler_modules()
    packaging.BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="coldstart-", dir=packaging.BUILD_DIR) as scratch:
        work = Path(scratch)
        before, after = build(work, args.before_rev)
        runtime = runtime_dir(work)
        print(
            f"# {datetime.date.today()} · {platform.machine()} · {os.cpu_count()} CPUs · "
            f"Python {platform.python_version()} · layer "
            f"{packaging.dependency_hash(architecture=host_architecture())[:12]} · "
            f"before: {args.before_rev or 'working tree'}, no byte-code · after: byte-code"
        )
        print(
            f"{'handler':<12}{'before':>8}{'after':>8}{'median':>8}{'cpu':>7}{'target':>8}"
            f"{'+first use':>12}  compiled b/a  ok"
        )
        failed = 0
        for module in modules:
            samples: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            for _ in range(args.runs):
                for bundle in (before, after):
                    samples[bundle.name].append(probe(bundle, runtime, module))
            after_s = _best(samples["after"], "seconds")
            cpu = _best(samples["after"], "cpu")
            target = TARGET_SECONDS.get(module, DEFAULT_TARGET)
            ok = cpu <= target
            failed += not ok
            median = statistics.median(sample["seconds"] for sample in samples["after"])
            first_use = _best(samples["after"], "first_use")
            later = f"{first_use:.2f}" if module in FIRST_USE else "-"
            compiled = "/".join(str(int(samples[k][-1]["compiled"])) for k in samples)
            print(
                f"{module.removeprefix('functions.handlers.'):<12}"
                f"{_best(samples['before'], 'seconds'):>8.2f}{after_s:>8.2f}{median:>8.2f}"
                f"{cpu:>7.2f}{target:>8.1f}{later:>12}"
                f"  {compiled:<12}  {'yes' if ok else 'NO'}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
