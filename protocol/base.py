"""The base of every wire message model."""

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    """Immutable, no unknown fields (the schemas forbid them), no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
