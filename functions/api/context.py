"""What the API's routes need, built once per process and passed in (tests swap parts)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from functions.dal.tables import Tables
from functions.dal.workers import WorkerRepository
from functions.logic.enrolment import EnrolmentService
from functions.ports.certificates import CertificateAuthority
from functions.ports.devices import DevicePublisher
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

    @property
    def workers(self) -> WorkerRepository:
        return WorkerRepository(self.tables)

    @property
    def enrolment(self) -> EnrolmentService:
        return EnrolmentService(self.workers, self.ca)
