"""The bench's peer: our two hot paths written the way fastapi/full-stack-fastapi-template
writes its routes, the code a user would copy instead of ours.

The floor (baseline_app.py) is what the hardware allows; the peer is what the usual FastAPI +
SQLModel idiom costs. Everything here follows the template's backend/app (core/db.py,
api/deps.py, api/routes/users.py and items.py): ``engine = create_engine(url)``, a sync
generator ``get_db`` yielding ``Session(engine)`` (``SessionDep``), ``OAuth2PasswordBearer``
(``TokenDep``), a sync ``get_current_user`` that decodes the JWT with PyJWT and loads the user
with ``session.get``, sync routes with ``response_model``, and no middleware (the template's only
one, CORS, is left out: the bench sends no ``Origin``). Only what our system forces differs:

- the pool has the services' and the floor's shape (``pool_size`` 10, ``max_overflow`` 0; the
  template keeps SQLAlchemy's default 5 / 10) and, like the template, no ``pool_pre_ping``;
- tokens are user-service's: EdDSA (Ed25519), verified with the public half of its signing key
  (read from its key directory) against its issuer and audience; the template signs HS256 with a
  shared secret;
- "superuser" is our ``role == "admin"``; our users have no ``is_active`` column (not checked);
- ``POST /orders`` is the template's ``create_item`` on order-service's ``orders`` /
  ``order_items`` tables (an ORM ``Relationship``; ``session.add``, ``commit``, ``refresh``, the
  items read back for the response). The buyer is the token's subject: the orders database has
  no users table, so there is no ``get_current_user`` lookup and no call to user-service (order-
  service asks user-service over HTTP and stores a snapshot of the buyer): an upper bound for an
  ORM insert, not a like-for-like order. The ``Idempotency-Key`` header is ignored (the template
  has no such thing), and answers are 201 like order-service's (the template's create_item
  answers 200: the same work).

No ``from __future__ import annotations``: FastAPI resolves the closures' ``Annotated`` aliases
from the signatures, which must not be strings.

One module, one app, like the template; ``PEER_DATABASE_URL`` decides the database, so the bench
runs two processes: one on the users database (reads), one on the orders database (orders).

Settings (environment): ``PEER_DATABASE_URL``, ``PEER_KEYS_DIR`` (user-service's key directory),
``PEER_TOKEN_ISSUER`` / ``PEER_TOKEN_AUDIENCE`` (user-service's defaults), ``PEER_POOL_SIZE`` /
``PEER_MAX_OVERFLOW`` (10 / 0, the services' defaults).
"""

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from jwt.exceptions import InvalidTokenError
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Column, DateTime
from sqlalchemy.orm import registry
from sqlmodel import Field, Relationship, Session, SQLModel, create_engine, text

from order_service.models import OrderCreate, OrderItemPublic
from service_kit.timestamps import UtcTimestamp, utc_now
from service_kit.tokens import ALGORITHM
from user_service.models import Role, User, UserPublic
from user_service.signing import KeyRing


class Settings(BaseSettings):
    """The template's core/config.py, reduced to what these routes read."""

    model_config = SettingsConfigDict(env_prefix="PEER_")

    database_url: str
    keys_dir: Path
    # the services' defaults (service_kit.settings)
    token_issuer: str = "user-service"  # noqa: S105  (not a secret: the iss claim)
    token_audience: str = "shop"  # noqa: S105  (the aud claim)
    pool_size: int = 10
    max_overflow: int = 0


class TokenPayload(SQLModel):
    sub: int | None = None  # user-service's subjects are user ids (the template's are UUIDs)


class PeerTable(SQLModel, registry=registry()):
    """The peer's tables have a registry of their own: order-service's models (imported for
    ``OrderCreate``) map the same table names in SQLModel's default one."""


class PeerOrder(PeerTable, table=True):
    """order-service's ``orders`` table as the template would map it: the columns a plain
    order needs; the nullable idempotency, request-hash and buyer-snapshot columns stay NULL."""

    __tablename__ = "orders"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int
    currency: str
    total: int
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    items: list["PeerOrderItem"] = Relationship(back_populates="order")


class PeerOrderItem(PeerTable, table=True):
    __tablename__ = "order_items"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int | None = Field(default=None, foreign_key="orders.id")
    position: int
    product_id: str
    quantity: int
    unit_price: int
    line_total: int
    order: PeerOrder | None = Relationship(back_populates="items")


class PeerOrderPublic(SQLModel):
    """order-service's ``OrderPublic`` without the buyer snapshot (the peer has none)."""

    id: int
    user_id: int
    currency: str
    items: list[OrderItemPublic]
    total: int
    created_at: UtcTimestamp


def create_app(settings: Settings | None = None) -> FastAPI:
    """The template's modules in order, as closures over this process's settings."""
    settings = settings or Settings()  # from PEER_*
    keys = KeyRing.from_directory(settings.keys_dir)
    public_key = keys.public_keys()[keys.signing_kid]

    # core/db.py
    engine = create_engine(
        settings.database_url, pool_size=settings.pool_size, max_overflow=settings.max_overflow
    )

    # api/deps.py
    reusable_oauth2 = OAuth2PasswordBearer(tokenUrl="/token")

    def get_db() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    SessionDep = Annotated[Session, Depends(get_db)]  # noqa: N806  (the template's names)
    TokenDep = Annotated[str, Depends(reusable_oauth2)]  # noqa: N806

    def decode(token: str) -> TokenPayload:
        try:
            payload = jwt.decode(
                token,
                public_key,
                algorithms=[ALGORITHM],
                audience=settings.token_audience,
                issuer=settings.token_issuer,
            )
            token_data = TokenPayload(**payload)
        except (InvalidTokenError, ValidationError):
            token_data = TokenPayload()
        if token_data.sub is None:  # the template would pass None on to session.get: a 500
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN, detail="Could not validate credentials"
            )
        return token_data

    def get_current_user(session: SessionDep, token: TokenDep) -> User:
        token_data = decode(token)
        user = session.get(User, token_data.sub)
        if not user:
            raise HTTPException(status_code=404, detail="User not found")
        return user

    CurrentUser = Annotated[User, Depends(get_current_user)]  # noqa: N806

    def get_current_user_id(token: TokenDep) -> int:
        """The buyer of an order: the token's subject, not looked up (no users table here)."""
        user_id = decode(token).sub
        assert user_id is not None  # decode() refused a token without one
        return user_id

    CurrentUserId = Annotated[int, Depends(get_current_user_id)]  # noqa: N806

    # api/routes/users.py
    router = APIRouter()

    @router.get("/users/{user_id}", response_model=UserPublic)
    def read_user_by_id(user_id: int, session: SessionDep, current_user: CurrentUser) -> Any:
        user = session.get(User, user_id)
        if user == current_user:
            return user
        if current_user.role != Role.ADMIN:
            raise HTTPException(status_code=403, detail="The user doesn't have enough privileges")
        if user is None:
            raise HTTPException(status_code=404, detail="User not found")
        return user

    # api/routes/items.py, create_item
    @router.post("/orders", response_model=PeerOrderPublic, status_code=201)
    def create_order(*, session: SessionDep, user_id: CurrentUserId, order_in: OrderCreate) -> Any:
        items = [
            PeerOrderItem.model_validate(
                item, update={"position": position, "line_total": item.quantity * item.unit_price}
            )
            for position, item in enumerate(order_in.items)
        ]
        order = PeerOrder(
            user_id=user_id,
            currency=order_in.currency,
            total=sum(item.line_total for item in items),
            items=items,
        )
        session.add(order)
        session.commit()
        session.refresh(order)
        return order

    # the stack's readiness probe (the template's is /api/v1/utils/health-check/)
    @router.get("/health/ready")
    def ready(session: SessionDep) -> dict[str, str]:
        session.connection().execute(text("SELECT 1"))
        return {"status": "ok"}

    app = FastAPI(title="peer (full-stack-fastapi-template style)")
    app.include_router(router)
    return app
