"""``kilowatch token create|list|revoke``, and the access rules ``kilowatch serve`` applies at start.

A created token is printed once, alone on the last line of standard output, so scripts can take it
with ``tail -n 1``; everything else goes to standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from app.config import Settings
from app.enums import Role
from app.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

console = Console(stderr=True, highlight=False)
CLI_ACTOR = "cli"
UNSPECIFIED_HOSTS = {"0.0.0.0", "::"}
#: One token per line, full ids (they are what ``revoke`` takes), the free-form name last.
LISTING_FORMAT = "{:<36}  {:<8}  {:<16}  {:<16}  {:<16}  {}"


def add_token_commands(commands: Any) -> None:
    """Register ``token`` and its subcommands on the ``kilowatch`` subparsers."""
    token = commands.add_parser("token", help="create, list and revoke API tokens")
    actions = token.add_subparsers(required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create a token and print it (only its hash is stored)")
    create.add_argument("--name", required=True, help="who or what will use it, e.g. 'ci' or 'Ana (operations)'")
    create.add_argument(
        "--role",
        required=True,
        choices=[role.value for role in Role],
        help="viewer reads, operator also ingests, trains and handles alerts, admin also manages tokens and policies",
    )
    create.set_defaults(handler=_create)

    listing = actions.add_parser("list", help="list tokens, newest first, revoked ones included")
    listing.add_argument("--limit", type=int, default=100, help="most tokens listed")
    listing.set_defaults(handler=_list)

    revoke = actions.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id", type=uuid.UUID, help="the token's id, as `kilowatch token list` shows it")
    revoke.set_defaults(handler=_revoke)


def refuse_open_access(settings: Settings, host: str) -> None:
    """With authentication off every caller is an administrator: only the local machine may call."""
    if settings.auth == "off" and not _is_loopback(host):
        raise InvalidInput(
            f"KILOWATCH_AUTH=off is for local development only and cannot listen on {host}: "
            "use --host 127.0.0.1 (or ::1, localhost), or turn authentication on and create tokens"
        )


def announce_bootstrap_token(settings: Settings, host: str, port: int) -> None:
    """First start of the embedded quickstart: create an administrator token and say how to use it.

    Only on SQLite without Redis, with authentication on and no token in the database at all; later
    starts print nothing secret.
    """
    if settings.auth != "on" or not settings.embedded or settings.dialect != "sqlite":
        return
    from app.services.access import tokens

    issued = _in_transaction(settings, tokens.issue_bootstrap_admin, migrate=False)
    if issued is None:
        return
    console.print(
        f"No API token existed, so the administrator token {issued.row.name!r} was created. "
        "It is shown only now; keep it safe (only its hash is stored):",
        soft_wrap=True,
        markup=False,
    )
    console.print(f"  {issued.secret}", soft_wrap=True, markup=False)
    # In the fragment: browsers never send it, so the token reaches no server, proxy or access log.
    console.print(f"Dashboard: {base_url(host, port)}/#token={issued.secret}", soft_wrap=True, markup=False)


def base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches ``serve --host host --port port``."""
    shown_host = "127.0.0.1" if host in UNSPECIFIED_HOSTS else host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    return f"http://{shown_host}:{port}"


def announce_access(settings: Settings, host: str, port: int) -> None:
    """Printed on every start: where to go, and how to get in."""
    url = base_url(host, port)
    console.print(f"Dashboard: {url}/   GraphiQL: {url}/graphql", soft_wrap=True, markup=False)
    if settings.auth == "off":
        console.print("Access control is off (KILOWATCH_AUTH=off): no token needed.", soft_wrap=True, markup=False)
        return
    console.print(
        "Sign in with an API token. To create one, run with the same KILOWATCH_DATABASE_URL: "
        'kilowatch token create --name "your name" --role viewer   (roles: viewer, operator, admin)',
        soft_wrap=True,
        markup=False,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _create(arguments: argparse.Namespace, settings: Settings) -> int:
    from app.services.access import tokens

    role = Role(arguments.role)
    issued = _in_transaction(settings, lambda session: tokens.issue(session, arguments.name, role, CLI_ACTOR))
    console.print(
        f"Created {issued.row.role.value} token {issued.row.name!r} (id {issued.row.id}). "
        "It is shown only now; only its hash is stored.",
        soft_wrap=True,
        markup=False,
    )
    console.file.flush()  # so that, with both streams on one terminal, the token still comes last
    print(issued.secret, flush=True)
    return 0


def _list(arguments: argparse.Namespace, settings: Settings) -> int:
    from app.services.access import tokens

    rows = _in_transaction(settings, lambda session: tokens.list_tokens(session, arguments.limit))
    print(LISTING_FORMAT.format("ID", "ROLE", "CREATED (UTC)", "LAST USED", "REVOKED", "NAME"))
    for row in rows:
        print(
            LISTING_FORMAT.format(
                str(row.id),
                row.role.value,
                f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
                f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "-",
                row.name,
            )
        )
    return 0


def _revoke(arguments: argparse.Namespace, settings: Settings) -> int:
    from app.services.access import tokens

    row = _in_transaction(settings, lambda session: tokens.revoke(session, arguments.id))
    console.print(f"Revoked token {row.name!r} (id {row.id}) at {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC.", markup=False)
    return 0


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]], *, migrate: bool = True) -> T:
    """Run ``work`` in one transaction, first bringing the database to the newest schema if asked.

    Only an engine is opened, not the server's resources, so the command starts in about a second.
    """
    from app.db.engine import create_engine, create_session_factory, transaction
    from app.db.migrate import upgrade_to_head

    async def run() -> T:
        if migrate:
            await upgrade_to_head(settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            async with transaction(create_session_factory(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())
