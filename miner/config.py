"""The miner's settings: command-line flags over ``XENBLOCKS_MINER_*`` variables over a
TOML file (``--config``, or ``~/.config/xenblocks/miner.toml`` when it exists).

Every value is validated once here, so a typo in any of the three places is one clear
message naming the setting, never a traceback deep in the miner.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from protocol.addresses import to_checksum
from protocol.errors import ProtocolError
from protocol.xenblocks import MIN_DIFFICULTY

DEFAULT_CONFIG = Path("~/.config/xenblocks/miner.toml")
DEFAULT_BUNDLE_DIR = Path("~/.xenblocks/miner")
DEFAULT_NETWORK_URL = "http://xenblocks.io"
ENV_PREFIX = "XENBLOCKS_MINER_"


class ConfigError(ValueError):
    """A setting is missing or invalid; the message says which and where to fix it."""


class MinerConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)
    _toml_path: ClassVar[Path | None] = None

    dir: Path = Field(default=DEFAULT_BUNDLE_DIR, description="The enrolled certificate bundle")
    backend: Literal["auto", "cpu", "cupy"] = "auto"
    devices: list[Annotated[int, Field(ge=0)]] | None = Field(
        default=None, description="GPU indexes to mine on (default: all)"
    )
    processes: Annotated[int, Field(ge=1, le=1024)] | None = None
    address: str | None = Field(
        default=None, description="Self-mining address (default: the rig's owner)"
    )
    self_mine: bool = True
    submit_to_network: bool = True
    network_url: str = DEFAULT_NETWORK_URL
    network_poll_seconds: Annotated[int, Field(ge=1, le=60)] = Field(
        default=60, description="How often the network's difficulty is read (at most 60 s)"
    )
    difficulty: Annotated[int, Field(ge=MIN_DIFFICULTY)] | None = None
    block_pattern: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{1,16}$")] = "XEN11"
    heartbeat_seconds: Annotated[int, Field(ge=5, le=3600)] = 30
    json_logs: bool = False

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return to_checksum(value)
        except ProtocolError as error:
            raise ValueError(str(error)) from None

    @field_validator("network_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        return tuple(sources)


def load_config(flags: dict[str, Any], config_path: Path | None = None) -> MinerConfig:
    """Flags (None means "not given") over the environment over the TOML file."""
    path = _config_file(config_path)
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        MinerConfig._toml_path = path
        return MinerConfig(**given)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'config'}: {issue['msg']}"
            for issue in error.errors()
        )
        origin = f" (flags, {ENV_PREFIX}* variables or {path})" if path else ""
        raise ConfigError(f"invalid settings{origin}: {problems}") from None
    finally:
        MinerConfig._toml_path = None


def _config_file(config_path: Path | None) -> Path | None:
    if config_path is not None:
        path = config_path.expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    from_env = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if from_env:
        return _config_file(Path(from_env))
    default = DEFAULT_CONFIG.expanduser()
    return default if default.is_file() else None
