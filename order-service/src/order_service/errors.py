"""The domain errors of order-service; ``service_kit.problems`` translates them to HTTP.

The service and the user-service client raise them; each carries its status, slug and title
(RFC 9457 problem details)::

    ServiceError                        service_kit.problems
    ├── OrderServiceError               a rule of order-service was not met
    │   ├── OrderNotFoundError          404 /problems/order-not-found (another buyer's too)
    │   ├── UnknownUserError            422 /problems/unknown-user
    │   ├── IdempotencyKeyReusedError   422 /problems/idempotency-key-reused
    │   └── UserServiceUnavailableError 503 /problems/user-service-unavailable + Retry-After
    │       └── CircuitOpenError        the breaker failed the lookup fast, no request was sent
    ├── AuthenticationRequiredError     401 /problems/authentication-required (service_kit.auth)
    ├── TokenRejectedError              401 /problems/invalid-token           (service_kit.auth)
    │   └── TokenRefusedError           user-service refused the token we had accepted
    ├── IssuerUnavailableError          503 /problems/token-issuer-unavailable (service_kit.auth)
    └── DatabaseUnavailableError        503 /problems/database-unavailable (service_kit.problems)
"""

from __future__ import annotations

from service_kit.auth import TokenRejectedError
from service_kit.problems import ServiceError


class OrderServiceError(ServiceError):
    """Base of order-service's own errors."""


class OrderNotFoundError(OrderServiceError):
    status, slug, title = 404, "order-not-found", "Order not found"

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        super().__init__(f"No order with id {order_id}.")


class UnknownUserError(OrderServiceError):
    status, slug, title = 422, "unknown-user", "Unknown user"

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__(f"No user with id {user_id} exists; no order was stored.")


class IdempotencyKeyReusedError(OrderServiceError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused"
    detail = (
        "This Idempotency-Key was already used with a different request body; "
        "use a new key for a new order."
    )


class UserServiceUnavailableError(OrderServiceError):
    """user-service could not say whether the user exists; ``retry_after`` is a hint (s).

    ``reason`` (status, exception type) is for logs; clients get a fixed detail.
    """

    status, slug, title = 503, "user-service-unavailable", "User service unavailable"
    detail = (
        "The user service could not confirm the user; no order was stored. "
        "Retry after the time in Retry-After."
    )
    retry_after: float  # never None here: the client's policy raises it to the breaker's cool-down

    def __init__(self, reason: str, *, retry_after: float = 1.0) -> None:
        self.reason = reason
        super().__init__(retry_after=retry_after)

    def __str__(self) -> str:
        return self.reason


class CircuitOpenError(UserServiceUnavailableError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("circuit breaker open", retry_after=retry_after)


class TokenRefusedError(TokenRejectedError):
    """user-service answered 401 /problems/invalid-token to the caller's relayed token."""

    def __init__(self) -> None:
        super().__init__("the user service does not accept it")
