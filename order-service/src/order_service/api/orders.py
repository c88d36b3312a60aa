"""``/orders``: place (idempotently), read and list the caller's orders (bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status

from order_service.api.deps import OrdersDep, PrincipalDep
from order_service.models import IDEMPOTENCY_KEY_MAX, OrderCreate, OrderPage, OrderPublic
from service_kit.deps import MAX_ID, PageDep
from service_kit.openapi import problem_responses

router = APIRouter(prefix="/orders", tags=["orders"])

OrderId = Annotated[int, Path(ge=1, le=MAX_ID)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=IDEMPOTENCY_KEY_MAX,
        pattern=r"^[\x20-\x7e]+$",
        description=(
            "Makes a retried POST safe: same key and body, same order, no duplicate. A key is "
            "remembered for IDEMPOTENCY_KEY_WINDOW (24 h by default); after that it is new."
        ),
    ),
]

_PROBLEMS = {
    401: "No bearer token, or one that is refused",
    404: "No such order among the caller's",
    422: "Invalid request, unknown user, or Idempotency-Key reused with another body",
    503: "user-service or the database unavailable (see Retry-After)",
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderPublic,
    responses=problem_responses(_PROBLEMS, 401, 413, 422, 503),
)
async def create_order(
    data: OrderCreate,
    principal: PrincipalDep,
    orders: OrdersDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderPublic:
    """Place an order for the caller (the token's subject), with a snapshot of their name and
    email as user-service has them now."""
    placed = await orders.place_order(buyer=principal, data=data, idempotency_key=idempotency_key)
    response.headers["Location"] = f"/orders/{placed.order.id}"
    if placed.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return placed.order


@router.get(
    "/{order_id}",
    response_model=OrderPublic,
    responses=problem_responses(_PROBLEMS, 401, 404, 422, 503),
)
async def get_order(order_id: OrderId, principal: PrincipalDep, orders: OrdersDep) -> OrderPublic:
    """One of the caller's orders; someone else's id is a 404, like a missing one."""
    return await orders.get_order(buyer=principal, order_id=order_id)


@router.get("", response_model=OrderPage, responses=problem_responses(_PROBLEMS, 401, 422, 503))
async def list_orders(principal: PrincipalDep, orders: OrdersDep, page: PageDep) -> OrderPage:
    """The caller's orders, by id."""
    return await orders.list_orders(buyer=principal, limit=page.limit, offset=page.offset)
