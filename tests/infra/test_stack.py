"""The stack as a whole: cdk-nag, outputs, alarms, deployability, the pinned CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.dal.specs import ALL_TABLES
from infra.functions import RUNTIME
from infra.nag import stack_suppressions
from infra.packaging import PLACEHOLDER_NOTE, code_files, pyc_path
from tests.infra.assembly import Assembly
from tests.infra.conftest import ROOT


def test_no_cdk_nag_errors(assembly: Assembly) -> None:
    errors = list(assembly.annotations("aws:cdk:error"))
    assert errors == []
    (report,) = assembly.directory.glob("AwsSolutions-*-NagReport.csv")
    with report.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "cdk-nag ran no rules"
    unsuppressed = [
        (r["Rule ID"], r["Resource ID"])
        for r in rows
        if r["Compliance"] == "Non-Compliant" and r["Rule Level"] == "Error"
    ]
    assert unsuppressed == []
    for row in rows:
        if row["Compliance"] == "Suppressed":
            assert len(row["Exception Reason"]) >= 20, row


def test_tls_finding_is_only_suppressed_without_a_custom_domain() -> None:
    ids = {s.id for s in stack_suppressions(has_custom_domain=False)}
    assert "AwsSolutions-CFR4" in ids
    assert "AwsSolutions-CFR4" not in {s.id for s in stack_suppressions(has_custom_domain=True)}


def test_outputs(assembly: Assembly) -> None:
    outputs = assembly.template["Outputs"]
    for name in ("ApiUrl", "WebSocketUrl", "IotDataEndpoint", "DashboardUrl", "IotPolicyName"):
        assert name in outputs
    for spec in ALL_TABLES:
        key = "Table" + "".join(part.title() for part in spec.name.split("_"))
        assert key in outputs, spec.name


def test_alarms_cover_errors_throttles_and_dead_letters(assembly: Assembly) -> None:
    alarms = [r["Properties"] for r in assembly.of_type("AWS::CloudWatch::Alarm").values()]
    (topic,) = assembly.of_type("AWS::SNS::Topic")
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic}]
    for function_id in assembly.functions():
        for metric in ("Errors", "Throttles"):
            assert any(
                a["MetricName"] == metric
                and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
                for a in alarms
            ), (function_id, metric)
    assert any(a["MetricName"] == "ApproximateNumberOfMessagesVisible" for a in alarms)
    for function_id in assembly.functions():
        # p99 duration at 80% of the timeout: about to time out.
        (duration,) = [
            a
            for a in alarms
            if a.get("MetricName") == "Duration"
            and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
        ]
        assert duration["ExtendedStatistic"] == "p99"
        timeout_ms = assembly.props(function_id)["Timeout"] * 1000
        assert duration["Threshold"] == pytest.approx(0.8 * timeout_ms)
    assert len(assembly.of_type("AWS::CloudWatch::Dashboard")) == 1
    subscriptions = assembly.of_type("AWS::SNS::Subscription").values()
    assert [s["Properties"]["Endpoint"] for s in subscriptions] == ["ops@example.com"]


def test_alarms_cover_stream_and_table_throttling(assembly: Assembly) -> None:
    alarms = [r["Properties"] for r in assembly.of_type("AWS::CloudWatch::Alarm").values()]
    (stream,) = assembly.of_type("AWS::Kinesis::Stream")
    for metric in ("WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded"):
        assert any(
            a.get("MetricName") == metric
            and a["Dimensions"] == [{"Name": "StreamName", "Value": {"Ref": stream}}]
            and a["Threshold"] == 1
            for a in alarms
        ), metric
    throttles: dict[str, set[str]] = {}
    for alarm in alarms:
        for query in alarm.get("Metrics", []):
            stat = query.get("MetricStat", {}).get("Metric", {})
            if stat.get("MetricName") in ("ReadThrottleEvents", "WriteThrottleEvents"):
                (dimension,) = stat["Dimensions"]
                throttles.setdefault(dimension["Value"]["Ref"], set()).add(stat["MetricName"])
    tables = set(assembly.of_type("AWS::DynamoDB::Table"))
    assert throttles == {t: {"ReadThrottleEvents", "WriteThrottleEvents"} for t in tables}


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def test_resources_form_no_dependency_cycle(assembly: Assembly) -> None:
    resources = assembly.resources
    edges = {
        name: {
            ref
            for ref in [*_references(r.get("Properties", {})), *_listed(r.get("DependsOn"))]
            if ref in resources
        }
        for name, r in resources.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        assert state.get(node) != 1, " -> ".join([*trail, node])
        state[node] = 1
        for nxt in edges[node]:
            visit(nxt, [*trail, node])
        state[node] = 2

    for node in edges:
        visit(node, [])


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def test_code_asset_is_the_lambda_packages(assembly: Assembly) -> None:
    function_id = next(iter(assembly.functions()))
    key = assembly.props(function_id)["Code"]["S3Key"]
    files = set(assembly.asset_files(key))
    sources = code_files(ROOT)
    # The sources and the runtime's byte-code of each module, nothing else.
    compiled = [pyc_path(path) for path in sources if path.suffix == ".py"]
    assert files == {path.as_posix() for path in [*sources, *compiled]}
    for function_id in assembly.functions():
        assert assembly.props(function_id)["Code"]["S3Key"] == key  # one upload for all


def test_tests_synthesize_with_the_placeholder_layer(assembly: Assembly) -> None:
    layers = assembly.of_type("AWS::Lambda::LayerVersion")
    ours = next(r for r in layers.values() if RUNTIME.name in r["Properties"]["CompatibleRuntimes"])
    files = assembly.asset_files(ours["Properties"]["Content"]["S3Key"])
    assert files == {"python/README.txt": PLACEHOLDER_NOTE.encode()}


def test_synthesized_by_the_pinned_cli(assembly: Assembly) -> None:
    if not assembly.via_cli:
        pytest.skip("the CDK CLI is not installed here (npm ci installs the pinned one)")
    package = json.loads((ROOT / "package.json").read_text())
    pinned = package["devDependencies"]["aws-cdk"]
    installed = json.loads((ROOT / "node_modules" / "aws-cdk" / "package.json").read_text())
    assert installed["version"] == pinned
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == pinned
    manifest = json.loads(Path(assembly.directory / "manifest.json").read_text())
    assert assembly.stack_name in manifest["artifacts"]
