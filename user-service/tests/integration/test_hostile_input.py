"""Odd input on the public identity endpoints: always a 4xx, never a 500, and one email
spelling from registration through login to the admin CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from user_service.config import Settings

if TYPE_CHECKING:
    from conftest import Identity

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"
FORM = {"content-type": "application/x-www-form-urlencoded"}

ODD_FORMS = {
    "NUL in the name": b"username=a%00b%40example.com&password=xxxxxxxxx",
    "raw NUL in the name": b"username=a\x00b@example.com&password=xxxxxxxxx",
    "control character": b"username=a%01b%40example.com&password=xxxxxxxxx",
    "newline": b"username=ada%40example.com%0A&password=xxxxxxxxx",
    "lone surrogate, percent-encoded": b"username=%ED%A0%80%40example.com&password=xxxxxxxxx",
    "not UTF-8": b"username=%FF%FE%40example.com&password=xxxxxxxxx",
    "raw bytes not UTF-8": b"username=\xff\xfe@example.com&password=\xff",
    "NUL in the password": b"username=ada%40example.com&password=%00%00%00%00%00%00%00%00",
    "huge name": b"username=" + b"a" * 60_000 + b"%40example.com&password=xxxxxxxxx",
    "huge password": b"username=ada%40example.com&password=" + b"p" * 60_000,
    "repeated fields": b"username=a%40example.com&username=b%40example.com&password=x&password=y",
    "missing name": b"password=xxxxxxxxx",
    "missing password": b"username=ada%40example.com",
    "empty fields": b"username=&password=",
    "no fields": b"",
    "bad percent-encoding": b"username=%ZZ%4&password=%",
    "bare separators": b"&&&=&=&username&password",
    "grant_type not password": b"grant_type=client_credentials&username=a%40b.com&password=x",
    "display name": b"username=Eve+%3Cada%40example.com%3E&password=xxxxxxxxx",
}


@pytest.mark.parametrize("body", ODD_FORMS.values(), ids=ODD_FORMS.keys())
def test_an_odd_login_form_gets_401_or_422_never_500(identity: Identity, body: bytes) -> None:
    identity.register()
    response = identity.client.post("/token", content=body, headers=FORM)
    assert response.status_code in {401, 422}, response.text
    assert response.headers["content-type"] == "application/problem+json"


ODD_CONTENT = {
    "multipart with a file as username": (
        b'--b\r\nContent-Disposition: form-data; name="username"; filename="x"\r\n\r\n'
        b'ada@example.com\r\n--b\r\nContent-Disposition: form-data; name="password"\r\n\r\n'
        b"xxxxxxxxx\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
    ),
    "multipart, broken": (b"--b\r\nnonsense", "multipart/form-data; boundary=b"),
    "JSON instead of a form": (b'{"username": "a@b.com", "password": "x"}', "application/json"),
    "no content type": (b"username=a%40b.com&password=xxxxxxxxx", ""),
}


@pytest.mark.parametrize(("body", "content_type"), ODD_CONTENT.values(), ids=ODD_CONTENT.keys())
def test_an_odd_login_body_gets_a_4xx_never_500(
    client: TestClient, body: bytes, content_type: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/token", content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text


def test_a_validation_error_never_echoes_the_input(client: TestClient) -> None:
    huge = "\u202e" + "x" * 20_000
    response = client.post("/users", json={"name": huge, "email": huge, "password": huge})
    assert response.status_code == 422
    assert len(response.content) < 2_000
    assert "xxxxxxxxxx" not in response.text


@pytest.mark.parametrize(
    ("registered", "logged_in"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        (" ada@example.com ", "ADA@EXAMPLE.COM"),
        ("ada@xn--bcher-kva.de", "Ada@Bücher.de"),
        ("ADA@BÜCHER.DE", "ada@xn--bcher-kva.de"),
        ("JOSE\u0301@example.com", "josé@example.com"),
        ("用户@例子.广告", " 用户@例子.广告\t"),
    ],
)
def test_whoever_registers_can_log_in_with_any_spelling_of_the_email(
    identity: Identity, registered: str, logged_in: str
) -> None:
    user = identity.register(email=registered)
    assert identity.client.post(
        "/users", json={"name": "Eve", "email": logged_in, "password": PASSWORD}
    ).status_code == 409  # fmt: skip
    token = identity.login(logged_in)
    assert (
        identity.client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).json()["id"]
        == user["id"]
    )


def test_the_admin_cli_finds_the_user_by_any_spelling_of_the_email(
    identity: Identity, settings: Settings
) -> None:
    from user_service import cli
    from user_service.models import Role

    identity.register(email="ada@bücher.de")
    assert cli.set_role(settings, " ADA@XN--BCHER-KVA.DE ", Role.ADMIN) == 0
    assert cli.set_role(settings, "not an email", Role.ADMIN) == 1
