"""The scheduled jobs, built from settings and tables: one object the Lambdas and the local
stack's scheduler share, so a job does the same thing wherever it runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from functions.dal.blocks import BlockRepository
from functions.dal.leases import LeaseRepository
from functions.dal.listings import ListingRepository
from functions.dal.network import NetworkRepository
from functions.dal.tables import Tables
from functions.dal.telemetry import TelemetryRepository
from functions.dal.workers import WorkerRepository
from functions.logic.fleet_stats import FleetTotals, aggregate_fleet
from functions.logic.insights import InsightsJob, InsightsRun
from functions.logic.network import NetworkFollower, NetworkRun
from functions.logic.pricing import PriceIndex, PriceIndexService
from functions.logic.reputation import ReputationService
from functions.logic.settlement import SettlementRun, SettlementService
from functions.ports.devices import DeviceCommands, DevicePublisher
from functions.ports.xenblocks_node import XenBlocksNode, node_for
from functions.settings import Settings


@dataclass
class Jobs:
    settings: Settings
    tables: Tables
    publisher: DevicePublisher
    # The XenBlocks node the network job reads; by default the one at settings'
    # ``network_url`` (none where it is unset).
    node: XenBlocksNode | None = field(default=None)

    def __post_init__(self) -> None:
        if self.node is None:
            self.node = node_for(
                self.settings.network_url, timeout=self.settings.network_timeout_seconds
            )

    @property
    def network(self) -> NetworkFollower:
        return NetworkFollower(
            settings=self.settings,
            network=NetworkRepository(self.tables),
            leases=LeaseRepository(self.tables),
            blocks=BlockRepository(self.tables),
            commands=DeviceCommands(self.publisher),
            node=self.node,
        )

    @property
    def settlement(self) -> SettlementService:
        return SettlementService(
            LeaseRepository(self.tables),
            DeviceCommands(self.publisher),
            threshold_bp=self.settings.delivery_threshold_bp,
        )

    @property
    def prices(self) -> PriceIndexService:
        return PriceIndexService(
            ListingRepository(self.tables),
            LeaseRepository(self.tables),
            TelemetryRepository(self.tables),
        )

    @property
    def reputation(self) -> ReputationService:
        return ReputationService(
            workers=WorkerRepository(self.tables),
            listings=ListingRepository(self.tables),
            leases=LeaseRepository(self.tables),
            blocks=BlockRepository(self.tables),
            telemetry=TelemetryRepository(self.tables),
            history_seconds=self.settings.heartbeat_history_seconds,
        )

    def settle(self, now: int) -> SettlementRun:
        return self.settlement.settle_due(now)

    def refresh_prices(self, now: int) -> PriceIndex:
        return self.prices.refresh(now)

    def refresh_reputation(self, now: int) -> int:
        return self.reputation.refresh_online(now)

    def aggregate_fleet(self, now: int) -> FleetTotals:
        return aggregate_fleet(self.tables, self.settings, now)

    def follow_network(self, now: int) -> NetworkRun:
        return self.network.run(now)

    def refresh_insights(self, now: int) -> InsightsRun:
        return InsightsJob(self.settings, self.tables).run(now)
