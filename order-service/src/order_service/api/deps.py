"""What order-service's routes get injected: the caller, and the ``Orders`` use cases the app
built at startup; override these with ``app.dependency_overrides`` in tests.

``service_kit.deps.app_state``, like the kit's: they hand out what the lifespan built (no I/O),
on the event loop instead of the thread pool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPBearer

from order_service.service import Orders
from service_kit.auth import bearer_principal
from service_kit.deps import app_state
from service_kit.tokens import Principal

# Declares bearer auth in the OpenAPI document; auto_error=False: a missing token gets the kit's
# problem (401 + WWW-Authenticate), not FastAPI's 403.
bearer_scheme = HTTPBearer(
    auto_error=False, description="An access token from user-service's POST /token"
)

# the caller (the order's buyer), from a bearer token verified locally against user-service's
# JWKS: 401 when it is missing or refused, 503 when its key cannot be fetched
get_principal = bearer_principal(bearer_scheme)
# the app's one Orders (built by the lifespan, over the app's user-service client)
get_orders = app_state("orders", Orders)

PrincipalDep = Annotated[Principal, Depends(get_principal)]
OrdersDep = Annotated[Orders, Depends(get_orders)]
