"""A fault only a cluster has: user-service replaced pod by pod while orders keep coming.

order-service must absorb the rolling restart with its retries, so no order is lost or
duplicated, and without a restart of its own pods. (user-service down, slow, failing or frozen
are drilled by `make faults` on local processes, where the timing is exact.)
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from e2e_support.api import Shop, describe
from e2e_support.cluster import Cluster

pytestmark = pytest.mark.cluster

USER_SERVICE = "user-service"
ORDER_SERVICE = "order-service"
ORDER_INTERVAL = 0.05  # seconds between orders during the restart: steady traffic, not a flood


@pytest.fixture
def restore_user_service(cluster: Cluster, pytestconfig: pytest.Config) -> Iterator[None]:
    """Whatever the test does to user-service, it ends with its replicas back and rolled out."""
    replicas = cluster.replicas(USER_SERVICE)
    yield
    cluster.scale(USER_SERVICE, replicas)
    cluster.wait_rollout(USER_SERVICE, timeout=pytestconfig.getoption("rollout_timeout"))


@dataclass
class Outcome:
    """The answers one intended order got until it was settled."""

    key: str
    product_id: str
    statuses: list[int | str] = field(default_factory=list)
    order: dict[str, Any] | None = None


def settle(shop: Shop, body: dict[str, Any], outcome: Outcome, budget: float = 30.0) -> None:
    """Send an order until it is created: a 503 (and a dropped connection, whose result the
    client cannot know) is retried with the same Idempotency-Key, anything else is final."""
    deadline = time.monotonic() + budget
    while True:
        try:
            response = shop.post_order(body, key=outcome.key)
        except httpx.TransportError as exc:
            outcome.statuses.append(type(exc).__name__)
            wait = 0.5
        else:
            outcome.statuses.append(response.status_code)
            if response.status_code == 201:
                outcome.order = response.json()
                return
            if response.status_code != 503:
                raise AssertionError(f"order {outcome.product_id}: {describe(response)}")
            wait = min(float(response.headers.get("retry-after", "1")), 2.0)
        if time.monotonic() + wait > deadline:
            raise AssertionError(f"order {outcome.product_id} not created in {budget:.0f}s: "
                                 f"{outcome.statuses}")  # fmt: skip
        time.sleep(wait)


@pytest.mark.usefixtures("restore_user_service")
def test_rolling_restart_of_user_service_loses_no_order(
    shop: Shop, cluster: Cluster, pytestconfig: pytest.Config
) -> None:
    timeout = pytestconfig.getoption("rollout_timeout")
    user = shop.create_user()
    order_pods = cluster.pod_identities(ORDER_SERVICE)
    user_pods = {pod.uid for pod in cluster.pod_identities(USER_SERVICE)}
    outcomes: list[Outcome] = []

    def order_once() -> None:
        outcome = Outcome(key=shop.new_key(), product_id=f"restart-{len(outcomes)}")
        outcomes.append(outcome)
        settle(shop, shop.order_body(user["id"], product_id=outcome.product_id), outcome)

    for _ in range(5):
        order_once()
    cluster.rollout_restart(USER_SERVICE)
    deadline = time.monotonic() + timeout
    done, state = False, ""
    # Orders keep coming until the old pods are gone (terminated, not only out of the Service),
    # bounded by the rollout timeout.
    while not done:
        assert time.monotonic() < deadline, f"rollout not done after {timeout:.0f}s: {state}"
        order_once()
        time.sleep(ORDER_INTERVAL)
        done, state = cluster.rollout_state(USER_SERVICE, settled=True)
    for _ in range(5):
        order_once()

    assert user_pods.isdisjoint(pod.metadata.uid for pod in cluster.pods(USER_SERVICE))
    stored = Counter(order["items"][0]["product_id"] for order in shop.orders_of(user["id"]))
    assert stored == Counter(o.product_id for o in outcomes), "orders lost or duplicated"
    retried = {o.product_id: o.statuses for o in outcomes if len(o.statuses) > 1}
    print(f"\n{len(outcomes)} orders during the restart; retried: {retried or 'none'}")
    assert cluster.pod_identities(ORDER_SERVICE) == order_pods, "order-service was restarted"
