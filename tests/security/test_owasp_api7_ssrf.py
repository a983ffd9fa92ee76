"""OWASP API7:2023 Server Side Request Forgery.

The service fetches no URL a user gives: imports take the file's bytes, never a link,
and no module of ``app`` imports an HTTP client. The only outbound connection is to the
operator's job broker (``broker_url``, a setting, never a request's value). Checked
twice: in the source, and by uploading files full of URLs while every outbound
connection attempt fails the test.
"""

from __future__ import annotations

import ast
import socket
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.security.world import build_world

APP_DIR = Path(__file__).resolve().parents[2] / "app"
HTTP_CLIENTS = {
    "urllib.request",
    "http.client",
    "httpx",
    "requests",
    "aiohttp",
    "urllib3",
    "pycurl",
    "ftplib",
    "smtplib",
    "xmlrpc.client",
}
# Modules that may open connections, and to what.
ALLOWED = {
    "app/jobs/broker.py": "the operator's RabbitMQ (settings.broker_url)",
    "app/jobs/worker.py": "the operator's RabbitMQ (settings.broker_url)",
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.unit
def test_no_module_of_the_app_imports_an_http_client() -> None:
    offenders = {}
    for path in sorted(APP_DIR.rglob("*.py")):
        relative = path.relative_to(APP_DIR.parent).as_posix()
        names = {
            n
            for n in _imports(path)
            if n in HTTP_CLIENTS or n.split(".")[0] in {"httpx", "requests", "aiohttp", "urllib3"}
        }
        if names and relative not in ALLOWED:
            offenders[relative] = sorted(names)
    assert not offenders, f"modules that could fetch a URL: {offenders}"


URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:5432/",
    "file:///etc/passwd",
    "https://example.org/needs.csv",
]


@pytest.mark.integration
def test_imports_with_urls_open_no_connection(
    session: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(session, client)
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"outbound connection attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    open_round = world.ids["open"]
    headers = world.headers("local_team/own")
    for url in URLS:
        csv = (
            "item,location,quantity,need_by,priority,justification\n"
            f"{url},{url},5,2099-01-01,normal,{url}\n"
        )
        for route in ("import", "import-hxl"):
            response = client.post(
                f"/api/v1/rounds/{open_round}/needs/import{'' if route == 'import' else '-hxl'}",
                files={"file": (url, csv.encode(), "text/csv")},
                headers=headers,
            )
            assert response.status_code == 422, response.text
        for kind in ("offers", "routes"):
            response = client.post(
                f"/api/v1/{kind}/import",
                files={"file": ("x.csv", f"supplier,url\n{url},{url}\n".encode(), "text/csv")},
                headers=world.headers("technical_specialist/own"),
            )
            assert response.status_code == 422, response.text
        link = client.post(
            f"/api/v1/rounds/{open_round}/needs",
            json={
                "item_id": url,
                "location_id": url,
                "quantity": 1,
                "need_by": "2099-01-01",
                "priority": "normal",
                "justification": url,
            },
            headers=headers,
        )
        assert link.status_code == 422
    assert attempts == []
