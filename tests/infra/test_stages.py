"""Two stages in one AWS account: synthesized side by side, nothing of one reaches the other.

IoT Core is per account and region: every stage's rules see every message published in it,
and a rig's topics are ``xenminer/<worker id>/…`` whatever its stage (the rigs' contract).
The stages are told apart by the worker ids their APIs issue (``<stage>_rig-…``): each rule
takes only its stage's ids, and the device policy reaches only its stage's Basic Ingest
rules. ``prod`` and ``prod-eu`` are the hard pair: one stage name starts the other.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.logic.enrolment import new_worker_id, worker_id_prefix
from functions.ports.aws_iot import THING_NAME_VARIABLE
from functions.routing import ROUTES
from protocol.topics import topic
from tests.infra.assembly import as_list, resolve
from tests.infra.conftest import ADMIN

STAGES = ("prod", "prod-eu")
# What names a resource in the account or region (such names must not collide between
# stages), by resource type.
NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IoT::TopicRule": "RuleName",
    "AWS::IoT::Policy": "PolicyName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::ApiGatewayV2::Api": "Name",
    "AWS::Kinesis::Stream": "Name",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::S3::Bucket": "BucketName",
}
# What an account has one of: at most one stage may manage it.
ACCOUNT_SINGLETONS = ("AWS::IoT::Logging",)
_SQL = re.compile(
    r"^SELECT .+ FROM '(?P<filter>[^']+)' WHERE startswith\(topic\(2\), '(?P<prefix>[^']+)'\)$"
)


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Both stages' stacks, synthesized in one app (one account, one region)."""
    if shutil.which("node") is None:
        pytest.skip("the CDK needs Node.js (scripts/dev test installs it)")
    import aws_cdk as cdk

    from infra.app import stack_name
    from infra.config import DeployConfig
    from infra.stack import XenblocksStack

    work = tmp_path_factory.mktemp("stages")
    dist = work / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>stand-in</title>")
    app = cdk.App(outdir=str(work / "cdk.out"))
    for stage in STAGES:
        context = {
            "xenblocks:stage": stage,
            "xenblocks:dependencies": "none",
            "xenblocks:adminAddresses": ADMIN,
            # IoT Core's logging is the account's: the first stage manages it.
            "xenblocks:iotLogLevel": "WARN" if stage == STAGES[0] else "unmanaged",
        }
        config = DeployConfig.from_context(context.get)
        XenblocksStack(app, stack_name(stage), config=config, dashboard_dir=Path(dist))
    assembly = app.synth()
    return {stage: assembly.get_stack_by_name(stack_name(stage)).template for stage in STAGES}


def _of_type(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == kind]


def _names(template: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for resource in template["Resources"].values():
        key = NAME_PROPERTIES.get(resource["Type"])
        name = resource.get("Properties", {}).get(key) if key else None
        if name is not None:
            yield resource["Type"], json.dumps(resolve(name), sort_keys=True)


def _matches(topic_filter: str, concrete: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest)."""
    levels, parts = topic_filter.split("/"), concrete.split("/")
    for i, level in enumerate(levels):
        if level == "#":
            return True
        if i >= len(parts) or (level != "+" and level != parts[i]):
            return False
    return len(levels) == len(parts)


def _rules_taking(template: dict[str, Any], concrete: str) -> list[str]:
    """The rules of ``template`` whose SQL takes a message published on ``concrete``."""
    taking = []
    for rule in _of_type(template, "AWS::IoT::TopicRule"):
        sql = rule["TopicRulePayload"]["Sql"]
        match = _SQL.fullmatch(sql)
        assert match is not None, f"a rule that does not filter by stage: {sql}"
        worker_id = concrete.split("/")[1]
        if _matches(match["filter"], concrete) and worker_id.startswith(match["prefix"]):
            taking.append(rule["RuleName"])
    return taking


def _rigs(stage: str, count: int = 20) -> list[str]:
    return [new_worker_id(worker_id_prefix(stage)) for _ in range(count)]


def test_no_stages_prefix_starts_another() -> None:
    for a in STAGES:
        for b in STAGES:
            if a != b:
                assert not worker_id_prefix(a).startswith(worker_id_prefix(b))


def test_the_stages_name_nothing_alike(templates: dict[str, dict[str, Any]]) -> None:
    names = {stage: set(_names(templates[stage])) for stage in STAGES}
    for stage in STAGES:
        kinds = {kind for kind, _ in names[stage]}
        assert {"AWS::DynamoDB::Table", "AWS::IoT::TopicRule", "AWS::IoT::Policy"} <= kinds
    assert names["prod"] & names["prod-eu"] == set()
    for kind in ACCOUNT_SINGLETONS:
        assert sum(len(_of_type(templates[stage], kind)) for stage in STAGES) <= 1, kind


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_each_stages_rules_take_its_own_rigs_only(
    templates: dict[str, dict[str, Any]], route: Any
) -> None:
    for stage in STAGES:
        other = next(s for s in STAGES if s != stage)
        for rig in _rigs(stage):
            concrete = topic(rig, route.suffix)
            assert _rules_taking(templates[stage], concrete) == [route.rule_name(stage)]
            assert _rules_taking(templates[other], concrete) == []


def _publishable(template: dict[str, Any], rig: str) -> list[str]:
    """What the stage's device policy lets ``rig`` publish to (resource patterns)."""
    (policy,) = _of_type(template, "AWS::IoT::Policy")
    document = resolve(policy["PolicyDocument"])
    patterns = []
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        if statement["Action"] == "iot:Publish":
            for resource in as_list(statement["Resource"]):
                patterns.append(resource.replace(THING_NAME_VARIABLE, rig).split(":topic/", 1)[1])
    return patterns


def test_a_rig_reaches_only_its_own_stages_basic_ingest_rules(
    templates: dict[str, dict[str, Any]],
) -> None:
    rule_names = {
        stage: {r["RuleName"] for r in _of_type(templates[stage], "AWS::IoT::TopicRule")}
        for stage in STAGES
    }
    for stage in STAGES:
        other = next(s for s in STAGES if s != stage)
        rig = _rigs(stage, 1)[0]
        patterns = _publishable(templates[stage], rig)
        basic_ingest = [p for p in patterns if p.startswith("$aws/rules/")]
        assert basic_ingest, "heartbeats go through Basic Ingest"
        for pattern in basic_ingest:
            rule = pattern.split("/")[2]
            assert "*" not in rule
            assert rule in rule_names[stage]
        # No topic the other stage's rules are reached on (plain or Basic Ingest) is one
        # this rig may publish to, except its own plain topics, which the other stage's
        # rules do not take (previous test).
        for route in ROUTES:
            for other_rule in rule_names[other]:
                target = f"$aws/rules/{other_rule}/{topic(rig, route.suffix)}"
                assert not any(fnmatch.fnmatchcase(target, p) for p in patterns), target


def test_each_stages_api_attaches_its_own_policy(templates: dict[str, dict[str, Any]]) -> None:
    names = {}
    for stage in STAGES:
        (policy,) = _of_type(templates[stage], "AWS::IoT::Policy")
        names[stage] = policy["PolicyName"]
        functions = _of_type(templates[stage], "AWS::Lambda::Function")
        (api,) = [f for f in functions if f.get("Handler") == "functions.handlers.api.handler"]
        assert api["Environment"]["Variables"]["XENBLOCKS_IOT_POLICY_NAME"] == names[stage]
        assert api["Environment"]["Variables"]["XENBLOCKS_STAGE"] == stage
    assert len(set(names.values())) == len(STAGES)
