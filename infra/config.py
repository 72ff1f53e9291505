"""The deployment's parameters, read once from CDK context (``-c xenblocks:<key>=<value>``).

Every key lives under the ``xenblocks:`` prefix; ``cdk.json`` holds the defaults an operator
edits, ``-c`` overrides them for one command. Values that the Lambdas also read are
validated by the platform's own ``Settings`` model, so a bad fee or admin address fails at
``cdk synth`` with the same rule the running code applies, not at the first request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from functions.settings import Settings, integer_default
from infra.packaging import ROOT
from infra.sizing import PAYOUTS_CONCURRENCY

PREFIX = "xenblocks:"
# The defaults an operator edits (the CDK CLI reads its "context").
CDK_JSON = ROOT / "cdk.json"

# IoT Core's account-wide log level (AWS::IoT::Logging), or "unmanaged": another stage of
# the account (or its owner) manages it, since an account has one.
IOT_LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR", "DISABLED")
IOT_LOGGING_UNMANAGED = "unmanaged"
# Lambda keeps this much of an account's concurrency unreserved, whatever is asked.
LAMBDA_UNRESERVED_MINIMUM = 100

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A KMS key's ARN (a single-region key's UUID or a multi-Region key's mrk- id), not an alias's.
_KMS_KEY_ARN = re.compile(
    r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
# xenblocks:withdrawalKmsKey's value asking the stack to create the hot wallet's key.
CREATE_KEY = "create"


class Dependencies(StrEnum):
    """How the Lambdas' third-party packages are provided (``xenblocks:dependencies``)."""

    # pip-install the lock file for the Lambda platform into build/ (once per lock change).
    BUILD = "build"
    # An empty placeholder layer: synth and tests without pip. Not deployable.
    NONE = "none"


class ConfigError(ValueError):
    """A context value is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class DepositConfig:
    """On-chain deposits (issue #24): the stablecoin, the chain, the deposit wallet's xpub,
    the RPC endpoint the watcher reads and how deep a transfer must be to be credited."""

    chain_id: int
    token_address: str
    token_decimals: int
    xpub: str
    rpc_url: str
    confirmations: int
    start_block: int

    def api_values(self) -> dict[str, Any]:
        """What every function gets (the API shows an account's deposit address)."""
        return {
            "deposit_xpub": self.xpub,
            "deposit_chain_id": self.chain_id,
            "deposit_token_address": self.token_address,
            "deposit_token_decimals": self.token_decimals,
            "deposit_confirmations": self.confirmations,
        }

    def watcher_values(self) -> dict[str, Any]:
        """What the deposits job alone gets (an RPC URL may carry a provider's key)."""
        return {"deposit_rpc_url": self.rpc_url, "deposit_start_block": self.start_block}


_DEPOSIT_KEYS = ("depositChainId", "depositTokenAddress", "depositXpub", "depositRpcUrl")


def _deposit_config(reader: _Reader) -> DepositConfig | None:
    """The deposit keys: all four of ``_DEPOSIT_KEYS`` or none (deposits off)."""
    given = {key: reader.optional_str(key) for key in _DEPOSIT_KEYS}
    if all(value is None for value in given.values()):
        return None
    missing = [PREFIX + key for key, value in given.items() if value is None]
    if missing:
        raise ConfigError(f"on-chain deposits also need {', '.join(missing)}")
    xpub = str(given["depositXpub"])
    from functions.logic.hd_keys import ExtendedPublicKey, InvalidKey

    try:
        ExtendedPublicKey.parse(xpub)
    except InvalidKey as error:
        raise ConfigError(f"{PREFIX}depositXpub: {error}") from None
    return DepositConfig(
        chain_id=reader.integer("depositChainId", 0),
        token_address=str(given["depositTokenAddress"]),
        token_decimals=reader.integer("depositTokenDecimals", 6),
        xpub=xpub,
        rpc_url=str(given["depositRpcUrl"]),
        confirmations=reader.integer(
            "depositConfirmations", integer_default("deposit_confirmations")
        ),
        start_block=reader.integer("depositStartBlock", 0),
    )


@dataclass(frozen=True)
class WithdrawalConfig:
    """On-chain withdrawals (issue #24): the hot wallet's KMS key (an existing key's ARN, or
    one this stack creates and names ``key_alias``) and the limits the payouts job keeps.
    Paid in the deposit token on the deposit chain (so only with ``DepositConfig``)."""

    key_arn: str | None  # None: the stack creates the key (xenblocks:withdrawalKmsKey=create)
    key_alias: str  # the created key's alias (unused with an existing key)
    auto_max: int
    daily_limit: int
    confirmations: int
    min_balance: int
    min_gas_wei: int

    @property
    def creates_key(self) -> bool:
        return self.key_arn is None

    @property
    def key_id(self) -> str:
        """What the functions call KMS with: the key's ARN, or the created key's alias (known
        at synth, unlike the new key's ARN; KMS signs by alias, IAM grants on the key)."""
        return self.key_arn or self.key_alias

    def api_values(self) -> dict[str, Any]:
        """What every function gets (the API pays small requests at once, keeps larger ones
        for an admin, and shows the limits); the key id is only a flag there."""
        return {
            "withdrawal_kms_key_id": self.key_id,
            "withdrawal_auto_max": self.auto_max,
            "withdrawal_daily_limit": self.daily_limit,
            "withdrawal_confirmations": self.confirmations,
        }

    def job_values(self) -> dict[str, Any]:
        """What the payouts job alone gets, with the deposit chain's RPC URL."""
        return {
            "hot_wallet_min_balance": self.min_balance,
            "hot_wallet_min_gas_wei": self.min_gas_wei,
        }


# Context key → (Settings field, smallest value) of the withdrawal limits.
_WITHDRAWAL_LIMITS = {
    "withdrawalAutoMax": ("withdrawal_auto_max", 0),
    "withdrawalDailyLimit": ("withdrawal_daily_limit", 0),
    "withdrawalConfirmations": ("withdrawal_confirmations", 1),
    "hotWalletMinBalance": ("hot_wallet_min_balance", 0),
    "hotWalletMinGasWei": ("hot_wallet_min_gas_wei", 0),
}


def _withdrawal_config(
    reader: _Reader, stage: str, deposits: DepositConfig | None
) -> WithdrawalConfig | None:
    """``withdrawalKmsKey`` turns withdrawals on chain on (with the deposit keys); the
    limits default to ``Settings``' and mean nothing without it."""
    key = reader.optional_str("withdrawalKmsKey")
    if key is None:
        given = [PREFIX + name for name in _WITHDRAWAL_LIMITS if reader.raw(name) is not None]
        if given:
            raise ConfigError(
                f"{', '.join(given)}: only with {PREFIX}withdrawalKmsKey (without it, "
                "withdrawals are not paid on chain and these limits do nothing)"
            )
        return None
    if deposits is None:
        needed = ", ".join(PREFIX + name for name in _DEPOSIT_KEYS)
        raise ConfigError(
            f"{PREFIX}withdrawalKmsKey: withdrawals on chain pay the deposit token on the "
            f"deposit chain, so they also need the deposit keys ({needed})"
        )
    creates = key.lower() == CREATE_KEY
    if not creates and not _KMS_KEY_ARN.fullmatch(key):
        raise ConfigError(
            f"{PREFIX}withdrawalKmsKey: {key!r} is neither {CREATE_KEY!r} nor a KMS key ARN "
            "(arn:aws:kms:<region>:<account>:key/<key id>; an alias or a bare key id cannot "
            "be granted on)"
        )
    limits: dict[str, int] = {}
    for name, (field, minimum) in _WITHDRAWAL_LIMITS.items():
        value = reader.integer(name, integer_default(field))
        if value < minimum:
            raise ConfigError(f"{PREFIX}{name}: {minimum} or more, got {value}")
        limits[field] = value
    return WithdrawalConfig(
        key_arn=None if creates else key,
        key_alias=f"alias/xenblocks-{stage}-hot-wallet",
        auto_max=limits["withdrawal_auto_max"],
        daily_limit=limits["withdrawal_daily_limit"],
        confirmations=limits["withdrawal_confirmations"],
        min_balance=limits["hot_wallet_min_balance"],
        min_gas_wei=limits["hot_wallet_min_gas_wei"],
    )


@dataclass(frozen=True)
class DeployConfig:
    stage: str
    fee_bp: int
    admin_addresses: tuple[str, ...]
    network_url: str
    chain_id: int
    difficulty: int | None
    heartbeat_seconds: int
    heartbeat_write_seconds: int
    heartbeat_history_seconds: int
    heartbeat_batch_seconds: int
    heartbeat_shards: int
    domain_name: str | None
    certificate_arn: str | None
    deletion_protection: bool
    log_retention_days: int
    alarm_email: str | None
    api_rate_limit: int
    api_burst_limit: int
    dependencies: Dependencies
    # Storm controls: concurrency reserved for the IoT-invoked functions, out of the
    # account's quota (so the API, live updates and jobs keep the rest), and IoT Core logs.
    lambda_concurrency: int = 1000
    ingest_concurrency: int = 10
    verify_concurrency: int = 50
    iot_log_level: str | None = "WARN"
    # Alert e-mail's From (issue #22): an SES identity verified in the stage's region. None:
    # the stage sends no alert e-mail (rules cannot have an e-mail channel).
    alert_email_sender: str | None = None
    # On-chain deposits (issue #24); None: off (no deposits job, the API answers 404).
    deposits: DepositConfig | None = None
    # On-chain withdrawals (issue #24; with deposits only); None: an admin pays by hand.
    withdrawals: WithdrawalConfig | None = None

    @property
    def reserved_concurrency(self) -> int:
        """What this stage reserves in all: register/status, block/share, one per
        heartbeat shard (the stream's consumer never runs more than one per shard), and one
        for the payouts job where withdrawals are on chain (one run at a time: the hot
        wallet's nonces are handed out in order)."""
        payouts = PAYOUTS_CONCURRENCY if self.withdrawals is not None else 0
        return self.ingest_concurrency + self.verify_concurrency + self.heartbeat_shards + payouts

    @property
    def table_prefix(self) -> str:
        """The physical table name prefix (``functions.dal.tables.physical_table_name``)."""
        return f"xenblocks-{self.stage}"

    def settings_values(self) -> dict[str, Any]:
        """The ``Settings`` fields this configuration fixes for every Lambda."""
        values: dict[str, Any] = {
            "stage": self.stage,
            "table_prefix": self.table_prefix,
            "fee_bp": self.fee_bp,
            "admin_addresses": ",".join(self.admin_addresses),
            "chain_id": self.chain_id,
            "heartbeat_seconds": self.heartbeat_seconds,
            "heartbeat_write_seconds": self.heartbeat_write_seconds,
            "heartbeat_history_seconds": self.heartbeat_history_seconds,
        }
        if self.difficulty is not None:
            values["rules__difficulty"] = self.difficulty
        if self.alert_email_sender is not None:
            # The API accepts e-mail channels, the alerts job sends through SES.
            values["alert_email_sender"] = self.alert_email_sender
        if self.deposits is not None:
            values.update(self.deposits.api_values())
        if self.withdrawals is not None:
            values.update(self.withdrawals.api_values())
        return values

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> DeployConfig:
        """Parse the ``xenblocks:<key>`` values ``get`` returns (None when unset): JSON
        values from cdk.json, strings from ``-c``. ``get`` is ``app.node.try_get_context``
        in the app, a dict's ``get`` in tests."""
        reader = _Reader(get)
        domain = reader.optional_str("domainName")
        certificate = reader.optional_str("certificateArn")
        if domain is not None and not _DOMAIN.fullmatch(domain):
            raise ConfigError(f"{PREFIX}domainName: {domain!r} is not a lower-case DNS name")
        if (domain is None) != (certificate is None):
            raise ConfigError(
                f"{PREFIX}domainName and {PREFIX}certificateArn go together (CloudFront needs "
                "an ACM certificate in us-east-1 for the custom domain)"
            )
        if certificate is not None and not _ACM_ARN.fullmatch(certificate):
            raise ConfigError(
                f"{PREFIX}certificateArn: expected an ACM certificate ARN in us-east-1"
            )
        email = reader.optional_str("alarmEmail")
        if email is not None and not _EMAIL.fullmatch(email):
            raise ConfigError(f"{PREFIX}alarmEmail: {email!r} is not an e-mail address")
        sender = reader.optional_str("alertEmailSender")
        if sender is not None and not _EMAIL.fullmatch(sender):
            raise ConfigError(f"{PREFIX}alertEmailSender: {sender!r} is not an e-mail address")
        retention = reader.integer("logRetentionDays", 30)
        if retention not in LOG_RETENTION_DAYS:
            raise ConfigError(f"{PREFIX}logRetentionDays: one of {LOG_RETENTION_DAYS}")
        network_url = reader.string("xenblocksNodeUrl", "http://xenblocks.io")
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", network_url):
            raise ConfigError(f"{PREFIX}xenblocksNodeUrl: {network_url!r} is not an http(s) URL")
        rate = reader.integer("apiRateLimit", 50)
        burst = reader.integer("apiBurstLimit", 100)
        if rate < 1 or burst < 1:
            raise ConfigError(f"{PREFIX}apiRateLimit and {PREFIX}apiBurstLimit must be positive")
        mode = reader.string("dependencies", Dependencies.BUILD.value)
        try:
            dependencies = Dependencies(mode)
        except ValueError:
            choices = ", ".join(m.value for m in Dependencies)
            raise ConfigError(f"{PREFIX}dependencies: one of {choices}") from None
        difficulty_raw = reader.optional_str("difficulty")
        # The heartbeat stream: Lambda's batching window (at most 300 s) and its shards
        # (one takes 1,000 heartbeats a second: 30,000 rigs at 30 s).
        batch_seconds = reader.integer("heartbeatBatchSeconds", 30)
        if not 0 <= batch_seconds <= 300:
            raise ConfigError(f"{PREFIX}heartbeatBatchSeconds: 0 to 300")
        shards = reader.integer("heartbeatShards", 1)
        if not 1 <= shards <= 100:
            raise ConfigError(f"{PREFIX}heartbeatShards: 1 to 100")
        lambda_concurrency = reader.integer("lambdaConcurrency", 1000)
        ingest_concurrency = reader.integer("ingestConcurrency", 10)
        verify_concurrency = reader.integer("verifyConcurrency", 50)
        if min(ingest_concurrency, verify_concurrency) < 0 or lambda_concurrency < 1:
            raise ConfigError(
                f"{PREFIX}lambdaConcurrency, ingestConcurrency and verifyConcurrency: "
                "positive (0: nothing reserved)"
            )
        iot_log_level: str | None = reader.string("iotLogLevel", "WARN")
        if iot_log_level == IOT_LOGGING_UNMANAGED:
            iot_log_level = None
        elif iot_log_level not in IOT_LOG_LEVELS:
            choices = ", ".join((*IOT_LOG_LEVELS, IOT_LOGGING_UNMANAGED))
            raise ConfigError(f"{PREFIX}iotLogLevel: one of {choices}")
        stage = reader.string("stage", "prod")
        deposits = _deposit_config(reader)
        config = cls(
            stage=stage,
            fee_bp=reader.integer("feeBp", 500),
            admin_addresses=reader.string_list("adminAddresses"),
            network_url=network_url.rstrip("/"),
            chain_id=reader.integer("chainId", 1),
            difficulty=None if difficulty_raw is None else reader.integer("difficulty", 0),
            heartbeat_seconds=reader.integer(
                "heartbeatSeconds", integer_default("heartbeat_seconds")
            ),
            heartbeat_write_seconds=reader.integer(
                "heartbeatWriteSeconds", integer_default("heartbeat_write_seconds")
            ),
            heartbeat_history_seconds=reader.integer(
                "heartbeatHistorySeconds", integer_default("heartbeat_history_seconds")
            ),
            heartbeat_batch_seconds=batch_seconds,
            heartbeat_shards=shards,
            domain_name=domain,
            certificate_arn=certificate,
            deletion_protection=reader.boolean("deletionProtection", True),
            log_retention_days=retention,
            alarm_email=email,
            api_rate_limit=rate,
            api_burst_limit=burst,
            dependencies=dependencies,
            lambda_concurrency=lambda_concurrency,
            ingest_concurrency=ingest_concurrency,
            verify_concurrency=verify_concurrency,
            iot_log_level=iot_log_level,
            alert_email_sender=sender,
            deposits=deposits,
            withdrawals=_withdrawal_config(reader, stage, deposits),
        )
        config.check_concurrency()
        return config.validated()

    def check_concurrency(self) -> None:
        """The reservations leave the API its share: at most half the account's quota is
        reserved, and never what Lambda keeps unreserved."""
        reserved = self.reserved_concurrency
        free = self.lambda_concurrency - reserved
        if reserved * 2 > self.lambda_concurrency or free < LAMBDA_UNRESERVED_MINIMUM:
            raise ConfigError(
                f"{PREFIX}ingestConcurrency + verifyConcurrency + heartbeatShards (+ 1 for "
                f"the payouts job) reserve "
                f"{reserved} of the account's {PREFIX}lambdaConcurrency {self.lambda_concurrency}: "
                f"at most half may be reserved and at least {LAMBDA_UNRESERVED_MINIMUM} must "
                "stay free for the API, live updates and jobs (raise the quota, or lower or "
                "zero the reservations)"
            )

    def validated(self) -> DeployConfig:
        """Check the platform values with ``Settings`` itself; admin addresses come back
        in checksum form."""
        values = self.settings_values()
        if self.deposits is not None:
            values.update(self.deposits.watcher_values())
        if self.withdrawals is not None:
            values.update(self.withdrawals.job_values())
        try:
            settings = Settings.model_validate(_nest(values))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            raise ConfigError(f"invalid deployment settings: {problems}") from None
        deposits = self.deposits
        if deposits is not None and settings.deposit_token_address is not None:
            deposits = replace(deposits, token_address=settings.deposit_token_address)
        return replace(self, admin_addresses=settings.admin_addresses, deposits=deposits)


def deployed_config(cdk_json: Path = CDK_JSON) -> DeployConfig:
    """What ``cdk deploy`` deploys without ``-c`` overrides: cdk.json's context, or the
    defaults where there is no cdk.json (an installed package)."""
    context: Mapping[str, Any] = {}
    if cdk_json.is_file():
        context = json.loads(cdk_json.read_text()).get("context", {})
    return DeployConfig.from_context(context.get)


def _nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"rules__difficulty": 8}`` → ``{"rules": {"difficulty": 8}}`` (the env's nesting)."""
    nested: dict[str, Any] = {}
    for key, value in values.items():
        head, _, tail = key.partition("__")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[key] = value
    return nested


class _Reader:
    def __init__(self, get: Callable[[str], Any]) -> None:
        self._get = get

    def raw(self, key: str) -> Any:
        return self._get(PREFIX + key)

    def string(self, key: str, default: str) -> str:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ConfigError(f"{PREFIX}{key}: expected a string")
        return str(value).strip()

    def optional_str(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        text = self.string(key, "")
        return text or None

    def integer(self, key: str, default: int) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            raise ConfigError(f"{PREFIX}{key}: expected an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        raise ConfigError(f"{PREFIX}{key}: expected an integer, got {value!r}")

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ConfigError(f"{PREFIX}{key}: expected true or false, got {value!r}")

    def string_list(self, key: str) -> tuple[str, ...]:
        """A JSON list (cdk.json), or a JSON list / comma-separated string (``-c``)."""
        value = self.raw(key)
        if value is None:
            return ()
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise ConfigError(f"{PREFIX}{key}: not a JSON list") from None
            else:
                return tuple(part.strip() for part in text.split(",") if part.strip())
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{PREFIX}{key}: expected a list of strings")
        return tuple(v.strip() for v in value if v.strip())
