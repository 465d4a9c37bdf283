from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support import data_of, error_of, graphql

SET = """mutation($input: MonitoringPolicyInput!) { setMonitoringPolicy(input: $input) {
  maxCvRmse maxAbsNmbe minRSquared psiWarning psiCritical autoRetrain retrainCooldownHours isDefault } }"""
GET = """query($id: UUID!) { modelSeries(machineId: $id, modelType: BASELINE) { policy {
  maxCvRmse maxAbsNmbe minRSquared psiWarning psiCritical autoRetrain retrainCooldownHours isDefault } } }"""
DEFAULTS = {
    "maxCvRmse": 0.3,
    "maxAbsNmbe": 0.1,
    "minRSquared": None,
    "psiWarning": 0.1,
    "psiCritical": 0.25,
    "autoRetrain": False,
    "retrainCooldownHours": 24.0,
    "isDefault": True,
}


async def _machine(client: httpx.AsyncClient) -> str:
    result = await graphql(client, 'mutation { registerMachine(name: "Chiller") { id } }')
    return data_of(result)["registerMachine"]["id"]


async def _policy(client: httpx.AsyncClient, machine_id: str) -> dict[str, object]:
    return data_of(await graphql(client, GET, {"id": machine_id}))["modelSeries"]["policy"]


async def test_defaults_then_partial_updates_keep_other_fields(client: httpx.AsyncClient) -> None:
    machine_id = await _machine(client)
    assert await _policy(client, machine_id) == DEFAULTS

    first = {
        "machineId": machine_id,
        "modelType": "BASELINE",
        "maxCvRmse": 0.2,
        "autoRetrain": True,
        "minRSquared": 0.7,
    }
    data_of(await graphql(client, SET, {"input": first}))
    second = {"machineId": machine_id, "modelType": "BASELINE", "psiCritical": 0.4, "minRSquared": None}
    stored = data_of(await graphql(client, SET, {"input": second}))["setMonitoringPolicy"]

    assert stored == {**DEFAULTS, "maxCvRmse": 0.2, "autoRetrain": True, "psiCritical": 0.4, "isDefault": False}
    assert await _policy(client, machine_id) == stored


@pytest.mark.parametrize(
    "change",
    [
        {"psiWarning": 0.3, "psiCritical": 0.2},
        {"maxCvRmse": 0.0},
        {"maxAbsNmbe": -0.1},
        {"retrainCooldownHours": -1.0},
        {"minRSquared": 1.5},
        {"maxCvRmse": None},
    ],
)
async def test_invalid_policy_is_refused_and_stored_policy_unchanged(
    client: httpx.AsyncClient, change: dict[str, object]
) -> None:
    machine_id = await _machine(client)

    error_of(
        await graphql(client, SET, {"input": {"machineId": machine_id, "modelType": "BASELINE", **change}}),
        "BAD_USER_INPUT",
    )

    assert await _policy(client, machine_id) == DEFAULTS


async def test_unknown_machine_is_not_found(client: httpx.AsyncClient) -> None:
    payload = {"machineId": str(uuid.uuid4()), "modelType": "BASELINE", "maxCvRmse": 0.2}

    error_of(await graphql(client, SET, {"input": payload}), "NOT_FOUND")
