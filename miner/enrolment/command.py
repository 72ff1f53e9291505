"""``xenblocks-miner enroll``: the flags, where the sign-in comes from, what is printed.

The command turns a rig into a platform worker with its own certificate (``flow.enroll``)
and exits 0 enrolled, 2 bad input, 1 when the platform or the network failed.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import requests

from miner.enrolment.bundle import BUNDLE_DIR_ENV, DEFAULT_BUNDLE_DIR, resolve_bundle_dir
from miner.enrolment.errors import EXIT_FAILURE, EXIT_OK, EnrollError, EnrollInputError
from miner.enrolment.flow import enroll
from miner.enrolment.keys import MAX_NAME_LENGTH, default_name, parse_wallet_key
from miner.enrolment.platform import normalize_api_url

API_URL_ENV = "XENBLOCKS_API_URL"
TOKEN_ENV = "XENBLOCKS_TOKEN"  # noqa: S105 (a variable name, not a secret)
WALLET_KEY_ENV = "XENBLOCKS_WALLET_KEY"


def add_enroll_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``enroll`` subcommand's flags."""
    parser.add_argument(
        "--api",
        metavar="URL",
        help=f"the platform API, e.g. https://api.example.com (default: ${API_URL_ENV})",
    )
    credentials = parser.add_argument_group(
        "sign-in (one of)",
        f"a session token from the dashboard, or the provider wallet's private key read "
        f"from a file; or ${TOKEN_ENV} / ${WALLET_KEY_ENV}",
    )
    credentials.add_argument("--token", help=f"a session token (default: ${TOKEN_ENV})")
    credentials.add_argument(
        "--wallet-key-file",
        metavar="PATH",
        type=Path,
        help="a file holding the wallet's private key as hex (never pass a key as a flag)",
    )
    parser.add_argument(
        "--name",
        help=f"a label for the rig, at most {MAX_NAME_LENGTH} characters (default: host name)",
    )
    parser.add_argument(
        "--dir",
        metavar="PATH",
        type=Path,
        help=f"where the certificate bundle goes (default: ${BUNDLE_DIR_ENV} or "
        f"{DEFAULT_BUNDLE_DIR})",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing certificate bundle"
    )


@dataclass(frozen=True)
class Credentials:
    """How to sign in: a session token, or a wallet key (hex, as given; never shown)."""

    token: str | None = None
    wallet_key: str | None = field(default=None, repr=False)


def resolve_credentials(
    args: argparse.Namespace, env: Mapping[str, str], err: IO[str]
) -> Credentials:
    """The sign-in from ``--token`` / ``--wallet-key-file``, else the environment.

    A flag wins over the environment; both flags, or both variables, are refused.
    Warnings (a wallet key file others can read) go to ``err``.
    """
    token_flag: str | None = getattr(args, "token", None)
    key_file: Path | None = getattr(args, "wallet_key_file", None)
    if token_flag is not None and key_file is not None:
        raise EnrollInputError("give --token or --wallet-key-file, not both")
    if token_flag is not None:
        if not token_flag.strip():
            raise EnrollInputError("--token is empty")
        return Credentials(token=token_flag)
    if key_file is not None:
        return Credentials(wallet_key=_read_wallet_key_file(key_file, err))
    env_token = env.get(TOKEN_ENV, "").strip()
    env_key = env.get(WALLET_KEY_ENV, "").strip()
    if env_token and env_key:
        raise EnrollInputError(
            f"both ${TOKEN_ENV} and ${WALLET_KEY_ENV} are set: unset one, or pass "
            "--token / --wallet-key-file"
        )
    if env_token:
        return Credentials(token=env_token)
    if env_key:
        return Credentials(wallet_key=env_key)
    raise EnrollInputError(
        "sign in with --token TOKEN or --wallet-key-file PATH "
        f"(or set ${TOKEN_ENV} / ${WALLET_KEY_ENV})"
    )


def _warn_if_plain_http(base_url: str, err: IO[str]) -> None:
    """Plain http is for a local stack; anywhere else the token crosses the network bare."""
    host = urlsplit(base_url).hostname or ""
    if (
        urlsplit(base_url).scheme == "http"
        and host not in ("localhost", "::1")
        and not host.startswith("127.")
    ):
        print(
            f"xenblocks-miner: warning: {base_url} is plain http: the sign-in and the "
            "session token travel unencrypted; use https outside a local network",
            file=err,
        )


def _read_wallet_key_file(path: Path, err: IO[str]) -> str:
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
        mode = stat.S_IMODE(path.stat().st_mode)
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise EnrollInputError(f"cannot read the wallet key file {path}: {reason}") from None
    if os.name == "posix" and mode & 0o077:
        print(
            f"xenblocks-miner: warning: {path} is readable by others (mode {mode:04o}); "
            f"`chmod 600 {path}`",
            file=err,
        )
    try:
        return parse_wallet_key(text)
    except EnrollInputError as error:
        raise EnrollInputError(f"{path}: {error}") from None


def run_enroll_command(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run ``xenblocks-miner enroll``: 0 enrolled, 2 bad input, 1 platform/network failure."""
    env = os.environ if environ is None else environ
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    try:
        api_url = getattr(args, "api", None) or env.get(API_URL_ENV, "").strip()
        if not api_url:
            raise EnrollInputError(f"--api URL is required (or set ${API_URL_ENV})")
        _warn_if_plain_http(normalize_api_url(api_url), err)
        credentials = resolve_credentials(args, env, err)
        name_flag: str | None = getattr(args, "name", None)
        name = name_flag if name_flag is not None else default_name()
        directory = resolve_bundle_dir(getattr(args, "dir", None), env)
        bundle = enroll(
            api_url,
            token=credentials.token,
            wallet_key=credentials.wallet_key,
            name=name,
            bundle_dir=directory,
            force=bool(getattr(args, "force", False)),
            session=session,
        )
    except EnrollError as error:
        print(f"xenblocks-miner enroll: {error}", file=err)
        return error.exit_code
    except Exception as error:  # a bug: still one line, never a traceback
        print(f"xenblocks-miner enroll: unexpected {type(error).__name__}: {error}", file=err)
        return EXIT_FAILURE
    owner = f" for {bundle.owner}" if bundle.owner else ""
    print(f"enrolled worker {bundle.worker_id} ({bundle.name}){owner}", file=out)
    print(f"certificate bundle: {bundle.directory}", file=out)
    print(f"MQTT broker: {bundle.mqtt_host}:{bundle.mqtt_port}", file=out)
    default = resolve_bundle_dir(None, env)
    next_command = "xenblocks-miner run"
    if bundle.directory != default:
        next_command += f" --dir {bundle.directory}"
    print(f"next: {next_command}", file=out)
    return EXIT_OK
