"""The enrolment names under their old module path, for code that still imports them.

The code lives in ``miner.enrolment`` (one concern a module); import from there.
"""

from __future__ import annotations

from miner.enrolment.bundle import (
    BUNDLE_DIR_ENV,
    DEFAULT_BUNDLE_DIR,
    CertificateBundle,
    resolve_bundle_dir,
)
from miner.enrolment.command import (
    API_URL_ENV,
    TOKEN_ENV,
    WALLET_KEY_ENV,
    Credentials,
    add_enroll_arguments,
    resolve_credentials,
    run_enroll_command,
)
from miner.enrolment.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    BundleError,
    EnrollError,
    EnrollInputError,
    PlatformError,
)
from miner.enrolment.flow import enroll
from miner.enrolment.keys import make_key_and_csr, parse_wallet_key, wallet_address
from miner.enrolment.platform import EnrolResult, PlatformApi, normalize_api_url

__all__ = [
    "API_URL_ENV",
    "BUNDLE_DIR_ENV",
    "DEFAULT_BUNDLE_DIR",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "TOKEN_ENV",
    "WALLET_KEY_ENV",
    "BundleError",
    "CertificateBundle",
    "Credentials",
    "EnrolResult",
    "EnrollError",
    "EnrollInputError",
    "PlatformApi",
    "PlatformError",
    "add_enroll_arguments",
    "enroll",
    "make_key_and_csr",
    "normalize_api_url",
    "parse_wallet_key",
    "resolve_bundle_dir",
    "resolve_credentials",
    "run_enroll_command",
    "wallet_address",
]
