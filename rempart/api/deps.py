"""Dependencies: the service, the calling organisation, and the scope an endpoint needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.concurrency import run_in_threadpool

from rempart.errors import Forbidden, Unauthorized
from rempart.orgs import Principal
from rempart.service import Service


# The dependencies every request runs are coroutines: FastAPI runs a plain function in a worker
# thread, and three thread hops cost more than the match itself (bench_api.py).
async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_principal(
    request: Request,
    service: ServiceDep,
    authorization: Annotated[str | None, Header(description="Bearer <API key>")] = None,
) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
    token = authorization[7:].strip()
    principal = service.cached_principal(token)
    if principal is None:
        principal = await run_in_threadpool(service.authenticate, token)
    request.app.state.key_limits.check(principal.key_id, "requests for this API key")
    return principal


def require(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.can(scope):
            raise Forbidden(f"this API key lacks the '{scope}' scope")
        return principal

    return check


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def limit_cases_per_ip(request: Request) -> None:
    request.app.state.case_limits.check(client_ip(request), "case requests from your address")


MatchScope = Annotated[Principal, Depends(require("match"))]
BankRead = Annotated[Principal, Depends(require("bank:read"))]
BankWrite = Annotated[Principal, Depends(require("bank:write"))]
Admin = Annotated[Principal, Depends(require("admin"))]
CaseLimit = Depends(limit_cases_per_ip)
Pin = Annotated[str | None, Header(alias="X-Rempart-Pin", description="The case's PIN")]
