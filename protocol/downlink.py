"""Messages the cloud publishes to a rig (cloud → rig), as in ``platform_to_worker.json``.

``difficulty`` and ``share_pattern`` on ``register_ack``/``assign_task``, the
``set_config`` control action and ``correlation_id`` on every command are this platform's
extensions, all optional. ``correlation_id`` ties a command to the request or run that
sent it; this platform's miner echoes it in the ``status`` the command causes.
"""

from typing import Annotated, Literal, Self

from pydantic import Field, StrictBool, StrictInt, model_validator

from protocol.addresses import EthAddress
from protocol.base import Message
from protocol.errors import ProtocolError
from protocol.fields import (
    CorrelationId,
    Difficulty,
    Identifier,
    KeyPrefix,
    LongText,
    OptionalIdentifier,
    PositiveInt,
    SharePatternText,
)

ControlAction = Literal["pause", "resume", "shutdown", "set_config"]


MeasuredBy = Literal["shares", "blocks"]
"""What the platform counts as a rig's delivered work under a lease: its verified shares,
or (a rig that sends none) its verified blocks."""


class RegisterAck(Message):
    command: Literal["register_ack"] = "register_ack"
    accepted: StrictBool
    reason: LongText | None = None  # required when accepted is false
    difficulty: Difficulty | None = None
    share_pattern: SharePatternText | None = None
    measured_by: MeasuredBy | None = None  # on acceptance: how leases will measure this rig
    correlation_id: CorrelationId | None = None

    @model_validator(mode="after")
    def _rejection_has_reason(self) -> Self:
        if not self.accepted and self.reason is None:
            raise ProtocolError("required when accepted is false", field="reason")
        return self


class AssignTask(Message):
    command: Literal["assign_task"] = "assign_task"
    lease_id: Identifier
    consumer_id: Identifier
    consumer_address: EthAddress
    prefix: KeyPrefix = ""  # "" lets the rig pick its whole key
    duration_sec: PositiveInt = 3600
    difficulty: Difficulty | None = None
    share_pattern: SharePatternText | None = None
    correlation_id: CorrelationId | None = None


class Release(Message):
    command: Literal["release"] = "release"
    lease_id: OptionalIdentifier = ""  # "" or another lease: the rig ignores the release
    correlation_id: CorrelationId | None = None


TaskMessage = RegisterAck | AssignTask | Release
"""Everything the cloud sends on a rig's ``task`` topic."""

TaskCommand = Annotated[TaskMessage, Field(discriminator="command")]
"""``TaskMessage`` as a pydantic field type, told apart by ``command``."""


class SetConfig(Message):
    """Settings the cloud may change on a running rig; None leaves a setting as it is."""

    difficulty: Difficulty | None = None
    heartbeat_sec: Annotated[StrictInt, Field(ge=5, le=3600)] | None = None
    share_pattern: SharePatternText | None = None


class Control(Message):
    """An operational command on a rig's ``control`` topic."""

    action: ControlAction
    config: SetConfig | None = None  # with action "set_config" only, and then required
    correlation_id: CorrelationId | None = None

    @model_validator(mode="after")
    def _config_iff_set_config(self) -> Self:
        if (self.action == "set_config") != (self.config is not None):
            raise ProtocolError("given with action set_config, and only then", field="config")
        return self
