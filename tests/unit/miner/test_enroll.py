"""``miner.enroll``: the enrolment names under their old path, for code that imports them."""

from __future__ import annotations

import importlib

import miner.enroll


def test_every_name_of_the_old_module_is_the_one_in_its_new_home():
    homes = [
        importlib.import_module(f"miner.enrolment.{name}")
        for name in ("bundle", "command", "errors", "flow", "keys", "platform")
    ]
    for name in miner.enroll.__all__:
        exported = getattr(miner.enroll, name)
        assert any(getattr(home, name, None) is exported for home in homes), name


def test_the_names_other_packages_import_are_still_there():
    # miner/bridge/ and functions/local/ import these from miner.enroll.
    for name in (
        "API_URL_ENV", "EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "CertificateBundle",
        "EnrollError", "EnrollInputError", "PlatformApi", "PlatformError", "enroll",
        "normalize_api_url", "resolve_credentials", "wallet_address",
    ):  # fmt: skip
        assert name in miner.enroll.__all__, name
