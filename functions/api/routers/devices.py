"""``/api/devices``: enrol a rig (certificate for its key), list them, revoke one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import Body, PageOut
from functions.dal.pagination import clamp_limit
from functions.logic.enrolment import MAX_NAME_LENGTH
from functions.models.workers import Worker
from functions.ports.csr import MAX_CSR_BYTES
from functions.routing import ROUTES
from functions.settings import Settings
from protocol.messages import WorkerState
from protocol.topics import WORKER_ID_PATTERN, topic

router = APIRouter(prefix="/api/devices", tags=["devices"])


class EnrolRequest(Body):
    csr_pem: str | None = Field(
        default=None,
        max_length=MAX_CSR_BYTES,
        description="A PEM CSR made on the rig (preferred: its key never leaves it). "
        "Without one the response carries a generated private key, once.",
    )
    name: str = Field(default="", max_length=MAX_NAME_LENGTH, description="A label for the rig")


class EnrolResponse(BaseModel):
    worker_id: str
    name: str
    certificate_id: str
    certificate_pem: str
    ca_pem: str
    mqtt_host: str
    mqtt_port: int
    publish_topics: dict[str, str] = Field(
        description="Where the rig publishes each message type: in AWS, heartbeats go "
        "through a Basic Ingest topic ($aws/rules/...), which costs no broker messaging"
    )
    private_key_pem: str | None = None


class DeviceOut(BaseModel):
    worker_id: str
    name: str
    created_at: int
    revoked_at: int | None
    online: bool
    state: WorkerState
    last_seen: int | None
    gpu_model: str | None
    hashrate: float
    listing_id: str | None

    @classmethod
    def of(cls, worker: Worker) -> DeviceOut:
        return cls.model_validate(worker.model_dump(), from_attributes=False)


@router.post("", status_code=201, response_model_exclude_none=True)
def enrol_device(
    body: EnrolRequest, principal: CurrentPrincipal, context: Context
) -> EnrolResponse:
    enrolment = context.enrolment.enrol(
        principal.address, csr_pem=body.csr_pem, name=body.name, now=context.clock()
    )
    return EnrolResponse(
        worker_id=enrolment.worker.worker_id,
        name=enrolment.worker.name,
        certificate_id=enrolment.certificate.certificate_id,
        certificate_pem=enrolment.certificate.certificate_pem,
        ca_pem=enrolment.certificate.ca_pem,
        mqtt_host=context.settings.mqtt_host,
        mqtt_port=context.settings.mqtt_port,
        publish_topics=publish_topics(context.settings, enrolment.worker.worker_id),
        private_key_pem=enrolment.private_key_pem,
    )


def publish_topics(settings: Settings, worker_id: str) -> dict[str, str]:
    """Each uplink's topic for this rig; the local broker has no Basic Ingest."""
    return {
        route.suffix.value: (
            topic(worker_id, route.suffix)
            if settings.is_local
            else route.ingest_topic(settings.stage, topic(worker_id, route.suffix))
        )
        for route in ROUTES
    }


@router.get("")
def list_devices(
    principal: CurrentPrincipal,
    context: Context,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> PageOut[DeviceOut]:
    page = context.enrolment.devices(principal.address, limit=clamp_limit(limit), cursor=cursor)
    return PageOut[DeviceOut].of(page, DeviceOut.of)


@router.delete("/{worker_id}", status_code=204)
def revoke_device(
    worker_id: Annotated[str, Path(pattern=WORKER_ID_PATTERN)],
    principal: CurrentPrincipal,
    context: Context,
) -> Response:
    context.enrolment.revoke(principal.address, worker_id, now=context.clock())
    return Response(status_code=204)
