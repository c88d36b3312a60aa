"""The pagination parameters every list route takes: defaults, bounds, and the schema they
declare (no I/O)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service_kit.deps import MAX_ID, Page, PageDep
from service_kit.problems import install_error_handlers

pytestmark = pytest.mark.unit


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/things")
    async def things(page: PageDep) -> dict[str, int]:
        assert isinstance(page, Page)
        return {"limit": page.limit, "offset": page.offset}

    return app


@pytest.mark.parametrize(
    ("query", "page"),
    [
        ("", {"limit": 50, "offset": 0}),
        ("?limit=1&offset=0", {"limit": 1, "offset": 0}),
        (f"?limit=100&offset={MAX_ID}", {"limit": 100, "offset": MAX_ID}),
    ],
)
def test_a_page_is_50_items_from_the_first_unless_asked(query: str, page: dict[str, int]) -> None:
    response = TestClient(_app()).get("/things" + query)
    assert (response.status_code, response.json()) == (200, page)


@pytest.mark.parametrize(
    "query", ["?limit=0", "?limit=101", "?offset=-1", f"?offset={MAX_ID + 1}", "?limit=abc"]
)
def test_a_page_out_of_bounds_is_a_422_validation_problem(query: str) -> None:
    response = TestClient(_app()).get("/things" + query)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation"


def test_the_openapi_document_declares_both_parameters_with_their_bounds() -> None:
    parameters = {p["name"]: p for p in _app().openapi()["paths"]["/things"]["get"]["parameters"]}
    assert parameters["limit"]["in"] == parameters["offset"]["in"] == "query"
    assert parameters["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 50,
        "title": "Limit",
    }
    assert parameters["offset"]["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_ID,
        "default": 0,
        "title": "Offset",
    }
