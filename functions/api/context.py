"""What the API's routes need, built once per process and passed in (tests swap parts).

Repositories are cheap views over ``tables``, so each property builds a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from functions.dal.accounts import AccountRepository
from functions.dal.alerts import AlertRepository
from functions.dal.api_keys import ApiKeyRepository
from functions.dal.blocks import BlockRepository
from functions.dal.insights import InsightsRepository
from functions.dal.leases import LeaseRepository
from functions.dal.ledger import LedgerRepository
from functions.dal.listings import ListingRepository
from functions.dal.network import NetworkRepository
from functions.dal.nonces import NonceRepository
from functions.dal.sessions import SessionRepository
from functions.dal.shares import ShareRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.alert_rules import AlertRuleService
from functions.logic.enrolment import EnrolmentService, worker_id_prefix
from functions.logic.network import NetworkView
from functions.logic.pricing import PriceIndexService
from functions.logic.recommendations import RecommendationService
from functions.ports.certificates import CertificateAuthority
from functions.ports.devices import DeviceCommands, DevicePublisher
from functions.settings import Settings


def wall_clock() -> int:
    return int(time.time())


@dataclass
class ApiContext:
    settings: Settings
    tables: Tables
    ca: CertificateAuthority
    publisher: DevicePublisher
    clock: Callable[[], int] = field(default=wall_clock)
    # The network's difficulty, cached by this process (``network_cache_seconds``).
    _network: NetworkView | None = field(default=None, init=False, repr=False)

    @property
    def workers(self) -> WorkerRepository:
        return WorkerRepository(self.tables)

    @property
    def listings(self) -> ListingRepository:
        return ListingRepository(self.tables)

    @property
    def leases(self) -> LeaseRepository:
        return LeaseRepository(self.tables)

    @property
    def accounts(self) -> AccountRepository:
        return AccountRepository(self.tables)

    @property
    def ledger(self) -> LedgerRepository:
        return LedgerRepository(self.tables)

    @property
    def blocks(self) -> BlockRepository:
        return BlockRepository(self.tables)

    @property
    def shares(self) -> ShareRepository:
        return ShareRepository(self.tables)

    @property
    def telemetry(self) -> TelemetryRepository:
        return TelemetryRepository(self.tables)

    @property
    def nonces(self) -> NonceRepository:
        return NonceRepository(self.tables)

    @property
    def sessions(self) -> SessionRepository:
        return SessionRepository(self.tables)

    @property
    def api_keys(self) -> ApiKeyRepository:
        return ApiKeyRepository(self.tables)

    @property
    def prices(self) -> PriceIndexService:
        return PriceIndexService(self.listings, self.leases, self.telemetry)

    @property
    def commands(self) -> DeviceCommands:
        return DeviceCommands(self.publisher)

    @property
    def alerts(self) -> AlertRuleService:
        return AlertRuleService(self.settings, AlertRepository(self.tables), self.workers)

    @property
    def network(self) -> NetworkView:
        if self._network is None:
            self._network = NetworkView(self.settings, NetworkRepository(self.tables))
        return self._network

    @property
    def insights(self) -> InsightsRepository:
        return InsightsRepository(self.tables)

    @property
    def recommendations(self) -> RecommendationService:
        return RecommendationService(
            workers=self.workers,
            listings=self.listings,
            insights=self.insights,
            prices=self.prices,
            network=self.network,
        )

    @property
    def verdicts(self) -> NetworkRepository:
        return NetworkRepository(self.tables)

    @property
    def enrolment(self) -> EnrolmentService:
        prefix = worker_id_prefix(self.settings.stage)
        return EnrolmentService(self.workers, self.ca, worker_id_prefix=prefix)
