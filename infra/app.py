"""The CDK app: ``npx cdk synth`` / ``npx cdk deploy`` run ``python -m infra.app`` (cdk.json).

Parameters come from CDK context (``cdk.json``, overridden with ``-c xenblocks:<key>=…``;
see ``infra/config.py`` and docs/deploy.md). The stack is environment-agnostic (no look-ups
at synth), so synthesis needs no AWS credentials; only the first synth after a lock change
reaches PyPI, to build the Lambda layer (``infra/packaging.py``), and the rest is offline.
cdk-nag's AwsSolutions rules run over the stack on every synth and fail it on any
unsuppressed error.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import cdk_nag

from infra.config import PREFIX, DeployConfig
from infra.nag import suppress
from infra.packaging import ROOT
from infra.stack import XenblocksStack

DEFAULT_DASHBOARD_DIR = ROOT / "frontend" / "dist"


def stack_name(stage: str) -> str:
    return f"xenblocks-{stage}"


def build_app(app: cdk.App | None = None) -> tuple[cdk.App, XenblocksStack]:
    """The app with its one stack and the cdk-nag checks (``main`` synthesizes it)."""
    app = app or cdk.App()
    context = app.node.try_get_context
    config = DeployConfig.from_context(context)
    dashboard_dir = Path(str(context(f"{PREFIX}dashboardDir") or DEFAULT_DASHBOARD_DIR))
    if not dashboard_dir.is_absolute():
        dashboard_dir = ROOT / dashboard_dir
    stack = XenblocksStack(
        app,
        stack_name(config.stage),
        config=config,
        dashboard_dir=dashboard_dir,
    )
    suppress(stack, has_custom_domain=config.domain_name is not None)
    cdk.Aspects.of(app).add(cdk_nag.AwsSolutionsChecks(verbose=True))
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
