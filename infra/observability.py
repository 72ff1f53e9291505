"""The observability construct: alarms, a notification topic and a CloudWatch dashboard.

Every platform function has an error, a throttle and a duration alarm (p99 at 80% of its
timeout: it is about to time out); the dead-letter queue alarms on its first message; the
HTTP API alarms on 5xx answers; the heartbeat stream on writes or reads over its shards'
throughput (the rules' puts or the consumer throttled); every table on throttled reads or
writes; a job's own metrics where it raises a flag for an operator (the payouts job's
hot wallet running low, its daily limit reached, withdrawals stuck or failed). Alarms
notify an SNS topic (with an e-mail subscription when ``xenblocks:alarmEmail`` is set).
The functions' Powertools settings (service name, metrics namespace, log level) are set
where each is made (``infra/functions.py``); log retention is ``xenblocks:logRetentionDays``.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import METRICS_NAMESPACE, PlatformFunction
from infra.sizing import PAYOUTS_FIGURES, PAYOUTS_SERVICE, MetricAlarm

PERIOD = Duration.minutes(5)
ITERATOR_AGE_MS = 120_000
# A function whose p99 duration reaches this share of its timeout is about to time out.
DURATION_ALARM_SHARE = 0.8
# Ingest metrics (functions.handlers.ingest: <Accepted|Rejected|Malformed><Route>).
INGEST_METRICS = (
    "AcceptedHeartbeat",
    "AcceptedBlock",
    "RejectedBlock",
    "AcceptedShare",
    "RejectedShare",
    "MalformedHeartbeat",
)


class Observability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        functions: Sequence[PlatformFunction],
        stream_consumers: Sequence[PlatformFunction],
        dead_letters: sqs.IQueue,
        heartbeats: kinesis.IStream,
        http_api: apigw.HttpApi,
        tables: Sequence[dynamodb.Table],
        alarm_email: str | None,
        metric_alarms: Sequence[MetricAlarm] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Alarms",
            display_name=f"xenblocks {stage} alarms",
            enforce_ssl=True,
        )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        notify = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        def alarm(
            construct_id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 1
        ) -> cloudwatch.Alarm:
            created = cloudwatch.Alarm(
                self,
                construct_id,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"xenblocks {stage}: {description}",
            )
            created.add_alarm_action(notify)
            self.alarms.append(created)
            return created

        for fn in functions:
            name = _construct_name(fn)
            alarm(
                f"{name}Errors",
                fn.function.metric_errors(period=PERIOD, statistic="Sum"),
                f"{fn.handler} raised errors",
            )
            alarm(
                f"{name}Throttles",
                fn.function.metric_throttles(period=PERIOD, statistic="Sum"),
                f"{fn.handler} was throttled",
            )
            limit_ms = fn.timeout.to_milliseconds() * DURATION_ALARM_SHARE
            alarm(
                f"{name}Duration",
                fn.function.metric_duration(period=PERIOD, statistic="p99"),
                f"{fn.handler}: p99 duration at {DURATION_ALARM_SHARE:.0%} of its timeout",
                threshold=limit_ms,
            )
        alarm(
            "DeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            "IoT rule or ingest failures waiting in the dead-letter queue",
        )
        for fn in stream_consumers:
            # A stream consumer falling behind: heartbeats or live figures arrive late.
            alarm(
                f"{_construct_name(fn)}IteratorAge",
                cloudwatch.Metric(
                    namespace="AWS/Lambda",
                    metric_name="IteratorAge",
                    dimensions_map={"FunctionName": fn.function.function_name},
                    period=PERIOD,
                    statistic="Maximum",
                ),
                f"{fn.handler} is more than {ITERATOR_AGE_MS // 1000} s behind its stream",
                threshold=ITERATOR_AGE_MS,
            )
        alarm(
            "HeartbeatsWriteThrottled",
            heartbeats.metric_write_provisioned_throughput_exceeded(period=PERIOD, statistic="Sum"),
            "heartbeats refused by the stream (add xenblocks:heartbeatShards)",
        )
        alarm(
            "HeartbeatsReadThrottled",
            heartbeats.metric_read_provisioned_throughput_exceeded(period=PERIOD, statistic="Sum"),
            "the heartbeat consumer's reads were throttled",
        )
        for table in tables:
            throttled = cloudwatch.MathExpression(
                expression="reads + writes",
                using_metrics={
                    "reads": table.metric("ReadThrottleEvents", period=PERIOD, statistic="Sum"),
                    "writes": table.metric("WriteThrottleEvents", period=PERIOD, statistic="Sum"),
                },
                period=PERIOD,
                label="throttled requests",
            )
            alarm(
                f"{table.node.id}Throttled",
                throttled,
                "a table throttled requests (on-demand: a hot key or a sudden jump past "
                "twice the previous peak)",
            )
        alarm(
            "Api5xx",
            http_api.metric_server_error(period=PERIOD, statistic="Sum"),
            "the HTTP API answered 5xx",
            threshold=5,
        )
        # A job's own flag or count (e.g. the payouts job's HotWalletTokenLow), raised in
        # any run of the period.
        job_alarms = [
            alarm(
                f"{job_alarm.service.title()}{job_alarm.metric}",
                _job_metric(job_alarm.service, job_alarm.metric, "Maximum"),
                f"{job_alarm.service}: {job_alarm.description}",
            )
            for job_alarm in metric_alarms
        ]

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"xenblocks-{stage}",
            default_interval=Duration.hours(6),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Ingest messages",
                left=[
                    cloudwatch.Metric(
                        namespace=METRICS_NAMESPACE,
                        metric_name=name,
                        dimensions_map={"service": "ingest"},
                        statistic="Sum",
                        period=PERIOD,
                    )
                    for name in INGEST_METRICS
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="HTTP API",
                left=[
                    http_api.metric_count(period=PERIOD, statistic="Sum"),
                    http_api.metric_client_error(period=PERIOD, statistic="Sum"),
                    http_api.metric_server_error(period=PERIOD, statistic="Sum"),
                ],
                right=[http_api.metric_latency(period=PERIOD, statistic="p90")],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Lambda errors",
                left=[
                    fn.function.metric_errors(period=PERIOD, statistic="Sum") for fn in functions
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Lambda duration p90 (ms)",
                left=[
                    fn.function.metric_duration(period=PERIOD, statistic="p90") for fn in functions
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="DynamoDB consumed write units",
                left=[
                    table.metric_consumed_write_capacity_units(period=PERIOD, statistic="Sum")
                    for table in tables
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    dead_letters.metric_approximate_number_of_messages_visible(
                        period=PERIOD, statistic="Maximum"
                    )
                ],
                width=12,
            ),
        )
        payouts_alarms = [
            created
            for created, job_alarm in zip(job_alarms, metric_alarms, strict=True)
            if job_alarm.service == PAYOUTS_SERVICE
        ]
        if payouts_alarms:
            # On-chain withdrawals (issue #24): what the payouts job did, and its alarms.
            self.dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="On-chain withdrawals",
                    left=[_job_metric(PAYOUTS_SERVICE, name, "Sum") for name in PAYOUTS_FIGURES],
                    width=12,
                ),
                cloudwatch.AlarmStatusWidget(
                    title="Hot wallet and payouts alarms", alarms=payouts_alarms, width=12
                ),
            )


def _job_metric(service: str, name: str, statistic: str) -> cloudwatch.Metric:
    """A job's Powertools metric (namespace XenBlocks, dimension ``service``)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic=statistic,
        period=PERIOD,
    )


def _construct_name(fn: PlatformFunction) -> str:
    # The construct path below the stack, e.g. DevicePlane/Ingest → DevicePlaneIngest.
    parts = fn.node.path.split("/")[1:]
    return "".join(part[:1].upper() + part[1:] for part in parts)
