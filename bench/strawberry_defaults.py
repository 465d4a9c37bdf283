"""The yardsticks of bench/query.py: Strawberry as it comes, answering the same query.

A Starlette app with Strawberry's GraphQL view and no extensions (so no parser or validation cache),
beside the same plain JSON route, under the same uvicorn settings as `kilowatch serve`. Given a
database URL, its ``machines`` resolver reads the machines table with SQLAlchemy's defaults; without
one it answers from a fixed list, an upper bound for any resolver. Measuring these in the same run as
Kilowatch keeps the comparison independent of how fast this machine happens to be at the time.

    python bench/strawberry_defaults.py PORT [DATABASE_URL]
"""

from __future__ import annotations

import sys
import uuid

import sqlalchemy as sa
import strawberry
import uvicorn
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.types import Info

MACHINES = sa.table("machines", sa.column("id", sa.Uuid()), sa.column("name", sa.String()))


@strawberry.type
class Machine:
    id: uuid.UUID
    name: str


FIXED = [Machine(id=uuid.uuid4(), name=f"m{index}") for index in range(5)]


@strawberry.type
class Query:
    @strawberry.field
    async def machines(self, info: Info) -> list[Machine]:
        engine = info.context["request"].app.state.engine
        if engine is None:
            return FIXED
        async with engine.connect() as connection:
            rows = await connection.execute(sa.select(MACHINES.c.id, MACHINES.c.name).order_by(MACHINES.c.name))
        return [Machine(id=row.id, name=row.name) for row in rows]


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def main() -> None:
    graphql = GraphQL(strawberry.Schema(query=Query))
    app = Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"]), Route("/healthz", healthz)])
    app.state.engine = create_async_engine(sys.argv[2]) if len(sys.argv) > 2 else None
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", log_level="warning")


if __name__ == "__main__":
    main()
