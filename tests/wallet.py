"""A test wallet that signs in through the API the way a browser wallet would."""

from __future__ import annotations

from typing import Any, Protocol

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from protocol.jsonlimits import restore_recursion_limit

restore_recursion_limit()  # eth_account's py_ecc raised it: see protocol.jsonlimits


class HttpClient(Protocol):
    """Anything with starlette TestClient's ``get``/``post`` (TestClient, httpx.Client)."""

    def get(self, url: str, **kwargs: Any) -> Any: ...

    def post(self, url: str, **kwargs: Any) -> Any: ...


class Wallet:
    """An Ethereum key that can sign in; ``Wallet.numbered(n)`` gives a fixed, repeatable one."""

    def __init__(self, private_key: str | bytes | None = None) -> None:
        self.account: LocalAccount = (
            Account.create() if private_key is None else Account.from_key(private_key)
        )

    @classmethod
    def numbered(cls, n: int) -> Wallet:
        """The same key every run for the same ``n`` (1, 2, …): deterministic tests."""
        if n < 1:
            raise ValueError("wallet numbers start at 1")
        return cls(n.to_bytes(32, "big"))

    @property
    def address(self) -> str:
        """The checksum address."""
        return str(self.account.address)

    def sign(self, message: str) -> str:
        """An EIP-191 personal_sign signature of ``message``, 0x-prefixed hex."""
        signed = self.account.sign_message(encode_defunct(text=message))
        return "0x" + bytes(signed.signature).hex()

    def challenge(self, client: HttpClient) -> dict[str, Any]:
        """``GET /api/auth/nonce`` for this address: ``{nonce, message, ...}``."""
        response = client.get("/api/auth/nonce", params={"address": self.address})
        if response.status_code != 200:
            raise AssertionError(f"nonce request failed: {response.status_code} {response.text}")
        body: dict[str, Any] = response.json()
        return body

    def sign_in(self, client: HttpClient) -> str:
        """Nonce, sign, verify: the session token."""
        message = self.challenge(client)["message"]
        response = client.post(
            "/api/auth/verify", json={"address": self.address, "signature": self.sign(message)}
        )
        if response.status_code != 200:
            raise AssertionError(f"sign-in failed: {response.status_code} {response.text}")
        return str(response.json()["token"])

    def headers(self, client: HttpClient) -> dict[str, str]:
        """A fresh sign-in as an ``Authorization`` header."""
        return {"Authorization": f"Bearer {self.sign_in(client)}"}
