"""The `bff` command: serve, migrate, seed, export-schema, user create."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from bff import logging as bff_logging
from bff.auth.keys import rotate_key_ring_file
from bff.config import Settings
from bff.db import migrate
from bff.db.maintenance import purge
from bff.db.provision import database
from bff.domain import users
from bff.domain.errors import DomainError
from bff.domain.rbac import Role
from bff.runtime import build_runtime
from bff.seed import seed_demo


def _seed(settings: Settings, url: str) -> None:
    async def run() -> None:
        runtime = build_runtime(settings, url)
        try:
            credentials = await seed_demo(runtime)
        finally:
            await runtime.close()
        if credentials is None:
            print("Demo data already present; nothing seeded.")
            return
        print("Demo users (passwords are shown only this once):")
        for credential in credentials:
            print(f"  {credential.email:<24} {credential.password:<20} {credential.roles}")

    asyncio.run(run())


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(settings: Settings, url: str, args: argparse.Namespace) -> None:
    import uvicorn

    if args.migrate:
        migrate.upgrade(url)
    if args.seed:
        if settings.is_production:
            sys.exit("refusing to seed demo data in production")
        _seed(settings, url)
    # Worker processes build their own runtime from the environment (see app_from_environment).
    os.environ["DATABASE_URL"] = url
    # Uvicorn re-raises SIGTERM after its graceful shutdown; turn it into an exception so that
    # the embedded PostgreSQL is stopped on the way out, as it is for Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    print(f"GraphQL API on http://{settings.host}:{settings.port}/graphql", flush=True)
    uvicorn.run(
        "bff.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_config=None,
        # Only trusted load balancers may name the client (login throttling keys on it).
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        ws="websockets-sansio",
        # Account events are a few hundred bytes of JSON: compressing each frame costs more CPU
        # per subscriber than it saves in bandwidth.
        ws_per_message_deflate=False,
        # A stream stuck on a dead client must not hold up a restart for ever.
        timeout_graceful_shutdown=10,
        lifespan="on",
    )


def _create_user(settings: Settings, url: str, args: argparse.Namespace) -> None:
    async def run() -> None:
        runtime = build_runtime(settings, url)
        try:
            command = users.SignUp(args.email, args.password, args.display_name or args.email)
            roles = frozenset(Role(role) for role in args.role)
            user = await users.provision_user(runtime.unit_of_work(), command, roles)
        finally:
            await runtime.close()
        print(f"created {user.email} ({', '.join(sorted(user.roles))}) id={user.id}")

    try:
        asyncio.run(run())
    except DomainError as error:
        sys.exit(f"{error.code.value}: {error.message}")


def _purge(settings: Settings, url: str) -> None:
    async def run() -> None:
        runtime = build_runtime(settings, url)
        try:
            purged = await purge(runtime.database.engine, settings.event_retention_days)
        finally:
            await runtime.close()
        print(
            f"purged {purged.idempotency_keys} expired idempotency keys and "
            f"{purged.account_events} account events older than "
            f"{settings.event_retention_days} days"
        )

    asyncio.run(run())


def _rotate_keys(settings: Settings) -> None:
    if settings.jwt_keys:
        sys.exit("BFF_JWT_KEYS holds the ring: rotate it where that secret is kept")
    kid = rotate_key_ring_file(settings.keys_file, production=settings.is_production)
    print(f"added signing key {kid} to {settings.keys_file}; servers pick it up within 30 s")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bff", description="Fintech GraphQL BFF")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve the API (embedded PostgreSQL without DATABASE_URL)"
    )
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.add_argument("--seed", action="store_true", help="seed demo data into an empty database")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("seed", help="seed demo data into an empty database (development)")
    commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    commands.add_parser(
        "purge", help="delete expired idempotency keys and account events past retention"
    )
    keys = commands.add_parser("keys", help="manage the JWT key ring")
    keys.add_subparsers(dest="action", required=True).add_parser(
        "rotate", help="add a new signing key; older keys keep verifying"
    )
    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create = user.add_parser("create", help="create a user with roles")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--display-name")
    create.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[role.value for role in Role],
        help="repeat for several roles",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "export-schema":
        from bff.app import build_schema
        from schema.sdl import schema_sdl

        print(schema_sdl(build_schema()))
        return
    settings = Settings()
    bff_logging.configure(json_lines=settings.json_logs)
    if args.command == "keys":
        _rotate_keys(settings)
        return
    with database(settings) as url:
        if args.command == "serve":
            _serve(settings, url, args)
        elif args.command == "migrate":
            migrate.upgrade(url)
        elif args.command == "seed":
            _seed(settings, url)
        elif args.command == "purge":
            _purge(settings, url)
        else:
            _create_user(settings, url, args)


if __name__ == "__main__":
    main()
