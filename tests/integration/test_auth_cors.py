"""A separately hosted dashboard is allowed by origin; by default no cross-origin browser call is."""

from __future__ import annotations

import httpx

from app.config import Settings
from app.enums import Role
from tests.integration.apps import client_as, running

DASHBOARD = "https://energy-dashboard.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def _preflight(http: httpx.AsyncClient, origin: str) -> httpx.Response:
    return await http.options("/graphql", headers={"Origin": origin, **PREFLIGHT})


async def test_configured_origins_may_call_with_a_bearer_token(settings: Settings) -> None:
    async with running(settings.model_copy(update={"cors_origins": [DASHBOARD]})) as app:
        async with client_as(app, Role.VIEWER) as http:
            allowed = await _preflight(http, DASHBOARD)
            foreign = await _preflight(http, "https://elsewhere.example")
            call = await http.post("/graphql", json={"query": "{ machines { id } }"}, headers={"Origin": DASHBOARD})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == DASHBOARD
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers
    assert call.headers["access-control-allow-origin"] == DASHBOARD
    assert call.json() == {"data": {"machines": []}}


async def test_by_default_no_origin_is_allowed(client: httpx.AsyncClient) -> None:
    preflight = await _preflight(client, DASHBOARD)
    call = await client.post("/graphql", json={"query": "{ machines { id } }"}, headers={"Origin": DASHBOARD})

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in call.headers
