"""Constrained field types shared by the message models.

Every string has a maximum length and every integer is strict (no floats, strings or
bools) and within int64, so a hostile payload cannot smuggle in oversize or odd values.
"""

import re
from typing import Annotated, TypeGuard

from pydantic import AfterValidator, Field, StrictFloat, StrictInt, StrictStr, StringConstraints

from protocol.shares import SharePattern
from protocol.topics import WORKER_ID_PATTERN
from protocol.xenblocks import MIN_DIFFICULTY

INT64_MAX = 2**63 - 1
MAX_GPUS = 64

NonNegativeInt = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
PositiveInt = Annotated[StrictInt, Field(ge=1, le=INT64_MAX)]
Timestamp = NonNegativeInt  # Unix epoch seconds
Hashrate = Annotated[StrictFloat, Field(ge=0, allow_inf_nan=False)]  # hashes per second
# The Argon2 memory cost in KiB that a hash is (to be) computed with.
Difficulty = Annotated[StrictInt, Field(ge=MIN_DIFFICULTY, le=2**32 - 1)]

WorkerId = Annotated[StrictStr, StringConstraints(pattern=WORKER_ID_PATTERN)]
# Lease and consumer ids are ours; keep them to characters safe in keys, logs and topics.
Identifier = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
OptionalIdentifier = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{0,128}$")]
# Ties one piece of work together across API, commands, rig statuses and logs: a caller's
# ``X-Correlation-Id``, an API Gateway request id or a uuid4 hex.
CORRELATION_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
CorrelationId = Annotated[StrictStr, StringConstraints(pattern=CORRELATION_ID_PATTERN)]
_CORRELATION_ID = re.compile(CORRELATION_ID_PATTERN)  # fullmatch: no trailing newline
ShortText = Annotated[StrictStr, StringConstraints(max_length=128)]
LongText = Annotated[StrictStr, StringConstraints(max_length=512)]

# What the model accepts as a hash and key; whether they make a real block is checked by
# protocol.xenblocks (v2 peers send hex hashes and keys longer than ours).
HashText = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9+/]{1,128}$")]
KeyText = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9a-fA-F]{16,128}$")]
# A decimal hashrate string like "1250.75", as v2 block messages carry it.
DecimalText = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{1,20}(\.[0-9]{1,20})?$")]
# A key prefix a lease reserves; kept lowercase so keys built from it stay valid.
KeyPrefix = Annotated[
    StrictStr, StringConstraints(pattern=r"^([0-9a-fA-F]{16})?$"), AfterValidator(str.lower)
]


def _canonical_share_pattern(text: str) -> str:
    return str(SharePattern.parse(text))


SharePatternText = Annotated[
    StrictStr, StringConstraints(max_length=80), AfterValidator(_canonical_share_pattern)
]


def is_correlation_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` may be a ``CorrelationId`` (1 to 64 of ``[A-Za-z0-9._-]``)."""
    return isinstance(value, str) and _CORRELATION_ID.fullmatch(value) is not None
