"""Who a request acts as, and the order of roles; the HTTP edge authenticates, the schema authorizes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.enums import Role

ROLE_RANK: dict[Role, int] = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    #: ``None`` only for the local developer of a server running with authentication off.
    token_id: uuid.UUID | None = None

    def has_role(self, required: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[required]


LOCAL_DEVELOPER = Principal(name="local-dev", role=Role.ADMIN)
