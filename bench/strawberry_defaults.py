"""The yardstick of bench/query.py: Strawberry as it comes, answering the same query.

A Starlette app with Strawberry's GraphQL view and no extensions (so no parser or validation cache),
serving ``{ machines { id name } }`` from a fixed list, beside the same plain JSON route, under the
same uvicorn settings as `kilowatch serve`. With no database behind it, it is an upper bound of what
Strawberry's defaults give here; measuring it in the same run as Kilowatch keeps the comparison
independent of how fast this machine happens to be at the time.

    python bench/strawberry_defaults.py PORT
"""

from __future__ import annotations

import sys
import uuid

import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL


@strawberry.type
class Machine:
    id: uuid.UUID
    name: str


MACHINES = [Machine(id=uuid.uuid4(), name=f"m{index}") for index in range(5)]


@strawberry.type
class Query:
    @strawberry.field
    async def machines(self) -> list[Machine]:
        return MACHINES


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def main() -> None:
    graphql = GraphQL(strawberry.Schema(query=Query))
    app = Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"]), Route("/healthz", healthz)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", log_level="warning")


if __name__ == "__main__":
    main()
