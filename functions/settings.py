"""The platform's configuration: one typed model, read once at start.

Logic never reads ``os.environ``; handlers build a ``Settings`` (from ``XENBLOCKS_*``
environment variables, which the CDK app and the local stack set) and pass it down.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from protocol.addresses import to_checksum
from protocol.xenblocks import BlockRules

# An environment/stage name ends up in table names, so keep it DNS- and ARN-safe.
_STAGE_PATTERN = r"^[a-z][a-z0-9-]{0,23}$"


class Settings(BaseSettings):
    """Deployment settings. Environment variables: ``XENBLOCKS_<FIELD>`` (nested: ``__``)."""

    model_config = SettingsConfigDict(
        env_prefix="XENBLOCKS_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    stage: Annotated[str, Field(pattern=_STAGE_PATTERN)] = "local"
    # Physical table names are f"{table_prefix}-{spec.name}"; empty means f"xenblocks-{stage}".
    table_prefix: str = ""
    aws_region: str = "us-east-1"
    # Only the local stack sets this (the moto server's URL); in AWS it stays None.
    dynamodb_endpoint_url: str | None = None
    # Likewise for KMS (the hot wallet's key locally lives in moto; issue #24).
    kms_endpoint_url: str | None = None
    # The platform fee on settled leases, in basis points (500 = 5 %).
    fee_bp: Annotated[int, Field(ge=0, le=10_000)] = 500
    # NoDecode: the environment gives "0xA,0xB" (split below), not JSON.
    admin_addresses: Annotated[tuple[str, ...], NoDecode] = ()
    # The deployment's XenBlocks rules: network values in AWS, easier ones locally.
    rules: BlockRules = BlockRules()
    # The XenBlocks network the platform follows (issue #19): the ``network`` job reads
    # ``{network_url}/difficulty`` every minute and keeps the value and its recent changes;
    # ``register_ack``, ``assign_task`` and verification use them. ``follow_network=False``
    # pins ``rules.difficulty`` instead (tests, a local stack without a node): an explicit
    # choice, never a fallback taken silently. While following, ``rules.difficulty`` is
    # only what applies until the job has read the network once.
    network_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")] | None = None
    follow_network: bool = True
    network_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 5.0
    # After a change the previous difficulty still counts this long (rigs poll once a
    # minute, and their clocks stray): a block mined just before it heard is not lost.
    network_grace_seconds: Annotated[int, Field(ge=0, le=3600)] = 120
    # A warm process reads the network item at most this often (ingest, the API).
    network_cache_seconds: Annotated[int, Field(ge=0, le=300)] = 30

    # Where rigs connect (returned by enrolment): the IoT data endpoint in AWS, the local
    # broker locally. The IoT policy every device certificate gets (made by the CDK app).
    mqtt_host: str = "localhost"
    mqtt_port: Annotated[int, Field(ge=1, le=65535)] = 8883
    iot_policy_name: str = ""
    # Signs the API's session tokens (HS256). AWS: from Secrets Manager at cold start;
    # locally: generated once per state directory. None means the API refuses sign-ins.
    jwt_secret: SecretStr | None = None
    jwt_secret_arn: str | None = None  # AWS: the Secrets Manager secret holding it
    jwt_ttl_seconds: Annotated[int, Field(ge=60, le=7 * 86_400)] = 3600

    # Heartbeats: rigs send one every ``heartbeat_seconds``. To keep DynamoDB writes per
    # heartbeat well under one, a worker's summary is written once per
    # ``heartbeat_write_seconds`` slot and a history point once per
    # ``heartbeat_history_seconds``; a worker silent ``offline_after_seconds`` past its
    # summary slot is marked offline by the next fleet sweep.
    heartbeat_seconds: Annotated[int, Field(ge=5, le=3600)] = 30
    heartbeat_write_seconds: Annotated[int, Field(ge=1, le=3600)] = 600
    heartbeat_history_seconds: Annotated[int, Field(ge=60, le=86_400)] = 1800
    offline_after_seconds: Annotated[int, Field(ge=10, le=3600)] = 90
    # How long telemetry history is kept (TTL).
    telemetry_retention_days: Annotated[int, Field(ge=1, le=400)] = 30
    # Block reports may arrive late (a rig's on-disk queue after an outage), never early.
    block_max_age_seconds: Annotated[int, Field(ge=60)] = 7 * 86_400
    clock_skew_seconds: Annotated[int, Field(ge=0, le=3600)] = 120

    # Sign-in with Ethereum (EIP-4361): the domain and URI the message names, the chain,
    # and how long a nonce may wait for its signature.
    siwe_domain: str = "localhost"
    siwe_uri: str = "http://localhost:8080"
    chain_id: Annotated[int, Field(ge=1)] = 1
    nonce_ttl_seconds: Annotated[int, Field(ge=30, le=3600)] = 300

    # Leases: shares are tuned so a rig at its advertised hashrate sends one about every
    # ``share_interval_seconds``; a lease delivering under ``delivery_threshold_bp`` of its
    # advertised hashrate is charged only for what it delivered.
    share_interval_seconds: Annotated[int, Field(ge=5, le=3600)] = 60
    delivery_threshold_bp: Annotated[int, Field(ge=0, le=10_000)] = 9000

    # Alerts: webhook deliveries (timeout per attempt, attempts) and the default cooldown.
    # Deployed stages only POST to https:// URLs; the local stage also allows http://.
    webhook_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 5.0
    webhook_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    alert_cooldown_seconds: Annotated[int, Field(ge=60, le=7 * 86_400)] = 3600
    # Alert channels beside webhooks (issue #22). Telegram's Bot API and Discord's webhooks
    # are reached at these bases (the local stack points both at its stand-in,
    # functions/local/chat_apis.py). E-mail goes over SMTP when ``smtp_host`` is set (the
    # local sink), else through SES from ``alert_email_sender`` (a verified identity);
    # with neither, rules cannot have an e-mail channel. Channel secrets are sealed with a
    # key derived from ``jwt_secret`` (functions/logic/secret_box.py).
    telegram_api_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+$")] = (
        "https://api.telegram.org"
    )
    discord_api_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+$")] = "https://discord.com"
    alert_email_sender: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25

    # Live updates (WebSocket). AWS: the WebSocket API's management endpoint
    # (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}); None: no live updates
    # from this function. Each connection gets at most one frame per coalescing window.
    live_endpoint_url: str | None = None
    live_coalesce_seconds: Annotated[float, Field(ge=0, le=60)] = 1.0
    # API Gateway closes a WebSocket after 2 hours; the row outlives it a little (TTL).
    live_connection_ttl_seconds: Annotated[int, Field(ge=60, le=86_400)] = 2 * 3600 + 600

    # Fleet intelligence (functions/logic/insights.py): the baselines job refreshes
    # 1/``insights_slices`` of the online fleet each run (hourly in AWS: each rig's
    # baseline once a day); ingest scores every heartbeat against it and re-reads a rig's
    # baseline and findings at most every ``insights_cache_seconds``.
    insights_slices: Annotated[int, Field(ge=1, le=168)] = 24
    insights_cache_seconds: Annotated[int, Field(ge=0, le=86_400)] = 6 * 3600

    # On-chain deposits (issue #24, functions/logic/deposits.py): a stablecoin (ERC-20 at
    # ``deposit_token_address`` with ``deposit_token_decimals``) on the EVM chain
    # ``deposit_chain_id``, read at ``deposit_rpc_url`` by the ``deposits`` job. Each
    # account deposits to its own address, child ``i`` of ``deposit_xpub`` (the extended
    # public key of the deposit wallet's m/44'/60'/0'/0; its seed stays offline). A
    # transfer is credited once it has ``deposit_confirmations`` confirmations (deeper
    # than any reorganisation expected). The watcher starts at ``deposit_start_block``
    # and reads at most ``deposit_max_blocks`` blocks of logs per request. Without an
    # xpub and a token, deposits are off (the API answers 404 for deposit addresses).
    deposit_xpub: str | None = None
    deposit_rpc_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")] | None = None
    deposit_chain_id: Annotated[int, Field(ge=1)] | None = None
    deposit_token_address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = None
    deposit_token_decimals: Annotated[int, Field(ge=0, le=36)] = 6
    deposit_confirmations: Annotated[int, Field(ge=1, le=10_000)] = 12
    deposit_start_block: Annotated[int, Field(ge=0)] = 0
    deposit_max_blocks: Annotated[int, Field(ge=1, le=100_000)] = 2000
    deposit_rpc_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0

    # On-chain withdrawals (issue #24, functions/logic/payouts.py): the same chain and token,
    # paid from a hot wallet whose secp256k1 key never leaves AWS KMS
    # (``withdrawal_kms_key_id``: an ECC_SECG_P256K1 SIGN_VERIFY key; without it an admin
    # pays approved withdrawals by hand, as before). A request up to
    # ``withdrawal_auto_max`` micro-credits is paid without an admin; a larger one waits
    # for one. The ``payouts`` job sends at most ``withdrawal_daily_limit`` a UTC day,
    # settles a payment after ``withdrawal_confirmations``, re-sends one unmined for
    # ``withdrawal_rebroadcast_seconds`` with fees raised by ``withdrawal_fee_bump_percent``
    # (never over ``withdrawal_max_fee_gwei``), and raises alarms when the hot wallet holds
    # less than ``hot_wallet_min_balance`` micro-credits of the token or
    # ``hot_wallet_min_gas_wei`` of the chain's coin.
    withdrawal_kms_key_id: (
        Annotated[str, Field(pattern=r"^[A-Za-z0-9:/_+=,.@-]{1,2048}$")] | None
    ) = None
    withdrawal_auto_max: Annotated[int, Field(ge=0)] = 100 * 1_000_000
    withdrawal_daily_limit: Annotated[int, Field(ge=0)] = 10_000 * 1_000_000
    withdrawal_confirmations: Annotated[int, Field(ge=1, le=10_000)] = 12
    withdrawal_rebroadcast_seconds: Annotated[int, Field(ge=10, le=86_400)] = 300
    withdrawal_fee_bump_percent: Annotated[int, Field(ge=13, le=500)] = 25
    withdrawal_max_fee_gwei: Annotated[int, Field(ge=1, le=100_000)] = 300
    withdrawal_gas_limit: Annotated[int, Field(ge=21_000, le=1_000_000)] = 100_000
    hot_wallet_min_balance: Annotated[int, Field(ge=0)] = 1_000 * 1_000_000
    hot_wallet_min_gas_wei: Annotated[int, Field(ge=0)] = 10**16

    @property
    def deposits_enabled(self) -> bool:
        """The deposit address of an account can be given (and the watcher run)."""
        return bool(self.deposit_xpub and self.deposit_token_address and self.deposit_chain_id)

    @property
    def withdrawals_on_chain(self) -> bool:
        """Withdrawals are paid on chain by the ``payouts`` job (else by an admin by hand);
        the job alone also needs ``deposit_rpc_url``."""
        return bool(
            self.withdrawal_kms_key_id and self.deposit_token_address and self.deposit_chain_id
        )

    @field_validator("deposit_token_address")
    @classmethod
    def _checksum_token(cls, value: str | None) -> str | None:
        return to_checksum(value) if value is not None else None

    @field_validator("admin_addresses", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        # Accept "0xA,0xB" from an environment variable as well as a JSON list.
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("admin_addresses")
    @classmethod
    def _checksum_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(to_checksum(address) for address in value)

    @property
    def resolved_table_prefix(self) -> str:
        return self.table_prefix or f"xenblocks-{self.stage}"

    @property
    def is_local(self) -> bool:
        return self.stage == "local"


def integer_default(name: str) -> int:
    """An integer setting's declared default (the CDK app and the cost model start there)."""
    value = Settings.model_fields[name].default
    if not isinstance(value, int):
        raise TypeError(f"Settings.{name} has no integer default")
    return value


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process-wide settings, read from the environment once (Lambda cold start)."""
    return Settings()
