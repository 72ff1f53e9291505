"""``/api/workers/{id}/commands``: operational commands to a rig the caller owns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ValidationError

from functions.api.auth import Context, CurrentPrincipal
from functions.api.schemas import Body
from functions.errors import Conflict, InvalidInput, NotFound
from functions.ports.devices import DeviceCommands
from protocol.downlink import Control, ControlAction, SetConfig
from protocol.errors import ProtocolError
from protocol.topics import WORKER_ID_PATTERN

router = APIRouter(prefix="/api/workers", tags=["workers"])


class CommandRequest(Body):
    action: ControlAction
    config: SetConfig | None = None


class CommandSent(BaseModel):
    worker_id: str
    action: ControlAction
    topic: str


@router.post("/{worker_id}/commands", status_code=202)
def send_command(
    worker_id: Annotated[str, Path(pattern=WORKER_ID_PATTERN)],
    body: CommandRequest,
    principal: CurrentPrincipal,
    context: Context,
) -> CommandSent:
    """Publish ``pause``, ``resume``, ``shutdown`` or ``set_config`` on the rig's control topic.

    Accepted (202) means the broker has the message; the rig's next status tells the result.
    """
    worker = context.workers.get(worker_id)
    if worker is None or (worker.owner != principal.address and not principal.is_admin):
        raise NotFound(f"worker {worker_id} not found")
    if worker.revoked:
        raise Conflict(f"worker {worker_id} was revoked")
    try:
        control = Control(action=body.action, config=body.config)
    except ValidationError as error:
        problem = ProtocolError.from_validation(error, "command")
        raise InvalidInput(f"{problem.field}: {problem.reason}") from None
    DeviceCommands(context.publisher).control(worker_id, control)
    return CommandSent(
        worker_id=worker_id, action=body.action, topic=f"xenminer/{worker_id}/control"
    )
