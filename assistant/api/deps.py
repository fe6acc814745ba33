"""Dependencies shared by the routers: the review desk, the batch worker, and the authenticated principal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from ..auth import Principal, authenticate
from ..errors import InputError
from ..review import Desk
from ..review.batch_worker import BatchWorker

bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey", description="an API key: `Authorization: Bearer tk_...`")


def get_desk(request: Request) -> Desk:
    return request.app.state.desk


def get_worker(request: Request) -> BatchWorker:
    return request.app.state.worker


def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller, from its bearer key (401 when missing, unknown or revoked), after the per-key rate limit."""
    principal = authenticate(get_desk(request).db, credentials.credentials if credentials else None)
    request.state.quota = request.app.state.limiter.check(principal.key_id)  # sent as RateLimit-* headers
    request.state.principal = principal
    return principal


_QUERY_NAMES: dict[int, frozenset[str]] = {}  # id(route) -> its query parameters (routes live as long as the app)


def _query_names(route: APIRoute) -> frozenset[str]:
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        found: set[str] = set()
        todo = [route.dependant]
        while todo:
            dependant = todo.pop()
            for p in dependant.query_params:
                model = getattr(p.field_info, "annotation", None)
                if isinstance(model, type) and issubclass(model, BaseModel):  # a query-parameter model: its fields
                    found.update(f.alias or name for name, f in model.model_fields.items())
                else:
                    found.add(p.alias)
            todo.extend(dependant.dependencies)
        names = _QUERY_NAMES[id(route)] = frozenset(found)
    return names


async def strict_query(request: Request) -> None:
    """Refuse query parameters the route does not declare (a typo should not be silently ignored), and one given
    more than once: every parameter of this API takes one value, and keeping only the last would be silent too."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        unknown = set(request.query_params) - _query_names(route)
        if unknown:
            listed = ", ".join(sorted(repr(u[:40]) for u in unknown)[:5])
            raise InputError(f"unknown query parameter(s): {listed}")
        repeated = sorted(k for k in request.query_params if len(request.query_params.getlist(k)) > 1)
        if repeated:
            listed = ", ".join(repr(k[:40]) for k in repeated[:5])
            raise InputError(f"query parameter(s) given more than once: {listed} (each takes one value)")


def requires(permission: str) -> Callable[[Principal], Principal]:
    """A dependency that yields the principal when its role holds `permission`, else 403."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        principal.require(permission)
        return principal

    return check


DeskDep = Annotated[Desk, Depends(get_desk)]
WorkerDep = Annotated[BatchWorker, Depends(get_worker)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[!-~]([ -~]*[!-~])?$",
           description="repeat a request safely: same key + same body (printable ASCII)"),
]
Broker = Annotated[Principal, Depends(requires("classify"))]
Reader = Annotated[Principal, Depends(requires("read_cases"))]
Lookup = Annotated[Principal, Depends(requires("lookup"))]
Officer = Annotated[Principal, Depends(requires("review"))]
Auditor = Annotated[Principal, Depends(requires("case_audit"))]
Admin = Annotated[Principal, Depends(requires("manage_keys"))]
