from __future__ import annotations

import uuid

import httpx

from tests.support import data_of, error_of, graphql

REGISTER = "mutation($name: String!) { registerMachine(name: $name) { id name createdAt readingsCount } }"


async def test_register_and_list_machines(client: httpx.AsyncClient) -> None:
    first = data_of(await graphql(client, REGISTER, {"name": "  Press   7 "}))["registerMachine"]
    data_of(await graphql(client, REGISTER, {"name": "Compressor A"}))

    assert first["name"] == "Press 7"
    assert first["readingsCount"] == 0
    listed = data_of(await graphql(client, "{ machines { id name firstReadingAt lastReadingAt } }"))["machines"]
    assert [machine["name"] for machine in listed] == ["Compressor A", "Press 7"]
    assert all(machine["firstReadingAt"] is None for machine in listed)
    found = data_of(await graphql(client, "query($id: UUID!) { machine(id: $id) { name } }", {"id": first["id"]}))
    assert found["machine"]["name"] == "Press 7"


async def test_duplicate_name_is_a_conflict_and_changes_nothing(client: httpx.AsyncClient) -> None:
    data_of(await graphql(client, REGISTER, {"name": "Oven"}))

    error = error_of(await graphql(client, REGISTER, {"name": "Oven"}), "CONFLICT")

    assert "Oven" in error["message"]
    assert len(data_of(await graphql(client, "{ machines { id } }"))["machines"]) == 1


async def test_blank_and_overlong_names_are_refused(client: httpx.AsyncClient) -> None:
    error_of(await graphql(client, REGISTER, {"name": "   "}), "BAD_USER_INPUT")
    error = error_of(await graphql(client, REGISTER, {"name": "x" * 201}), "BAD_USER_INPUT")
    assert "200" in error["message"]
    assert data_of(await graphql(client, "{ machines { id } }"))["machines"] == []


async def test_unknown_machine_is_null_and_malformed_id_is_bad_input(client: httpx.AsyncClient) -> None:
    query = "query($id: UUID!) { machine(id: $id) { id } }"
    assert data_of(await graphql(client, query, {"id": str(uuid.uuid4())}))["machine"] is None

    error = error_of(await graphql(client, query, {"id": "not-a-uuid"}), "BAD_USER_INPUT")

    assert "UUID" in error["message"]


async def test_every_machine_has_one_series_per_model_type(client: httpx.AsyncClient) -> None:
    machine = data_of(await graphql(client, REGISTER, {"name": "Chiller"}))["registerMachine"]
    query = """query($id: UUID!) { machine(id: $id) { models { modelType champion { id } versions { id }
        trainingJobs { id } openAlerts { id } activeAbTest { id } policy { maxCvRmse maxAbsNmbe isDefault }
        machine { name } } } }"""

    models = data_of(await graphql(client, query, {"id": machine["id"]}))["machine"]["models"]

    assert [series["modelType"] for series in models] == ["BASELINE", "ANOMALY", "FORECAST_ARIMA", "FORECAST_PROPHET"]
    for series in models:
        assert series["champion"] is None and series["versions"] == [] and series["trainingJobs"] == []
        assert series["policy"] == {"maxCvRmse": 0.3, "maxAbsNmbe": 0.1, "isDefault": True}
        assert series["machine"]["name"] == "Chiller"
