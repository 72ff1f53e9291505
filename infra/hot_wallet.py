"""The hot wallet construct (issue #24): the KMS key that signs on-chain withdrawals.

The wallet's secp256k1 private key never leaves KMS (an ``ECC_SECG_P256K1`` ``SIGN_VERIFY``
key); its address is the Ethereum address of the key's public key (``aws kms
get-public-key``). Either the operator names an existing key by its ARN, or the stack
creates one (``xenblocks:withdrawalKmsKey=create``), kept when the stack goes (it holds the
funds' address) and named ``alias/xenblocks-<stage>-hot-wallet``, an alias kept too, so a
stack made again cannot quietly give the wallet a new address: its deploy fails on the
alias until the kept key's ARN is given instead.

Only the payouts job may use the key, and only to sign and to read its public key
(``grant_signing``); the key policy is KMS's default (the account's IAM decides).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import WithdrawalConfig
from infra.functions import PlatformFunction

SIGNING_ACTIONS = ("kms:Sign", "kms:GetPublicKey")


class HotWallet(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: str, withdrawals: WithdrawalConfig
    ) -> None:
        super().__init__(scope, construct_id)
        self.key_id = withdrawals.key_id
        self.alias: kms.Alias | None = None
        if withdrawals.key_arn is not None:
            self.key: kms.IKey = kms.Key.from_key_arn(self, "Key", withdrawals.key_arn)
            return
        key = kms.Key(
            self,
            "Key",
            description=f"xenblocks {stage}: the withdrawals hot wallet (signs payouts)",
            key_spec=kms.KeySpec.ECC_SECG_P256K1,
            key_usage=kms.KeyUsage.SIGN_VERIFY,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.alias = kms.Alias(
            self,
            "Alias",
            alias_name=withdrawals.key_alias,
            target_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.key = key

    @property
    def key_arn(self) -> str:
        return self.key.key_arn

    def grant_signing(self, fn: PlatformFunction) -> None:
        """``kms:Sign`` and ``kms:GetPublicKey`` on this key only, for ``fn`` (the payouts
        job); with a created key, ``fn`` waits for the alias it signs by."""
        fn.add_to_policy(
            iam.PolicyStatement(actions=list(SIGNING_ACTIONS), resources=[self.key_arn])
        )
        if self.alias is not None:
            fn.function.node.add_dependency(self.alias)
