"""The `bff` command: serve, migrate, seed, export-schema, purge, keys, user create.

A failure the operator can fix (settings, database, key ring, input) is one line on stderr
starting with `bff:` and a non-zero exit status, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic_core import ErrorDetails

from bff import document_commands
from bff import logging as bff_logging
from bff.audit import commands as audit_commands
from bff.audit.anchor import AnchorError
from bff.auth.keys import KeyRingError, create_key_ring_file, rotate_key_ring_file
from bff.config import Settings
from bff.db import migrate
from bff.db.maintenance import purge
from bff.db.provision import DatabaseUnavailable, database
from bff.domain import users
from bff.domain.errors import DomainError
from bff.domain.rbac import Role
from bff.edge.tls import check_key_pair, tls13_context
from bff.fraud.commands import train_model
from bff.metrics import exposition
from bff.notify.commands import dead_letters, run_worker
from bff.runtime import build_runtime
from bff.seed import reset_demo_passwords, seed_demo


class CommandError(Exception):
    """A failure of a command that its operator can fix; printed as one line."""


def _settings() -> Settings:
    """The settings from the environment and `.env`; a bad value names its variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)  # values may be secrets
        raise CommandError(
            "invalid settings: " + "; ".join(_explain(problem) for problem in problems)
        ) from None


def _explain(problem: ErrorDetails) -> str:
    message = problem["msg"].removeprefix("Value error, ")
    if not problem["loc"]:  # a check across settings (production needs a key ring, say)
        return message
    field = str(problem["loc"][0])
    alias = (
        Settings.model_fields[field].validation_alias if field in Settings.model_fields else None
    )
    variable = alias.choices[0] if isinstance(alias, AliasChoices) else f"BFF_{field.upper()}"
    return f"{variable}: {message}"


def _seed(settings: Settings, url: str, *, reset_passwords: bool = False) -> None:
    if settings.is_production:
        raise CommandError("refusing demo users and their passwords in production")

    async def run() -> None:
        runtime = build_runtime(settings, url)
        try:
            if reset_passwords:
                credentials = await reset_demo_passwords(runtime)
                print("New passwords of the demo users (their sessions have ended):")
            else:
                seeded = await seed_demo(runtime)
                if seeded is None:
                    print(
                        "Demo data already present; nothing seeded. Lost the passwords? "
                        "`.venv/bin/bff seed --reset-passwords` sets and prints new ones."
                    )
                    return
                credentials = seeded
                print("Demo users (passwords are shown only this once):")
        finally:
            await runtime.close()
        for credential in credentials:
            print(f"  {credential.email:<24} {credential.password:<20} {credential.roles}")

    try:
        asyncio.run(run())
    except DomainError as error:
        raise CommandError(f"{error.code.value}: {error.message}") from None


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(settings: Settings, url: str, args: argparse.Namespace) -> None:
    import uvicorn

    tls = _tls_options(settings)  # checked before anything else is done
    if args.migrate:
        migrate.upgrade(url)
    if args.seed:
        _seed(settings, url)
    if settings.fraud_screening and not settings.fraud_model_path.exists():
        print("training the fraud risk model (first start)", flush=True)
        train_model(settings, url)
    # Worker processes build their own runtime from the environment (see app_from_environment).
    os.environ["DATABASE_URL"] = url
    if settings.workers > 1:
        exposition.prepare_multiprocess(settings.data_dir / "metrics")
    if settings.metrics_port is not None:
        exposition.serve(settings.metrics_host, settings.metrics_port)
    # Uvicorn re-raises SIGTERM after its graceful shutdown; turn it into an exception so that
    # the embedded PostgreSQL is stopped on the way out, as it is for Ctrl-C.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    scheme = "https" if settings.tls_enabled else "http"
    print(f"GraphQL API on {scheme}://{settings.host}:{settings.port}/graphql", flush=True)
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
        # Answers do not name the software serving them (uvicorn's `server` header).
        server_header=False,
        **tls,
    )


def _tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options when the server terminates TLS itself: the certificate and key,
    TLS 1.3 at least. The files are checked here, so that a bad one is a line, not a traceback."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return {}
    try:
        check_key_pair(settings.tls_cert_file, settings.tls_key_file)
    except (OSError, ssl.SSLError) as error:
        raise CommandError(f"cannot use BFF_TLS_CERT_FILE and BFF_TLS_KEY_FILE: {error}") from None
    return {
        "ssl_certfile": settings.tls_cert_file,
        "ssl_keyfile": settings.tls_key_file,
        "ssl_context_factory": tls13_context,
    }


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
        raise CommandError(f"{error.code.value}: {error.message}") from None


def _documents(settings: Settings, url: str, args: argparse.Namespace) -> None:
    try:
        if args.action == "register":
            document_commands.register(settings, url, args.manifest, args.app, args.version)
        elif args.action == "retire":
            document_commands.retire(settings, url, args.app, args.version)
        else:
            document_commands.list_builds(settings, url)
    except DomainError as error:
        raise CommandError(f"{error.code.value}: {error.message}") from None
    except ValueError as error:  # an unreadable manifest file
        raise CommandError(str(error)) from None


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


def _create_keys(path: Path | None) -> None:
    # Settings are read only to find the path: creating a ring needs nothing else.
    path = path or _settings().jwt_keys_file
    if path is None:
        raise CommandError("name the ring file: bff keys create --file PATH")
    kid = create_key_ring_file(path)
    print(
        f"created key ring {path} (owner-only) with signing key {kid}; "
        "point BFF_JWT_KEYS_FILE at it, or pass its content in BFF_JWT_KEYS"
    )


def _rotate_keys(settings: Settings) -> None:
    if settings.jwt_keys:
        raise CommandError("BFF_JWT_KEYS holds the ring: rotate it where that secret is kept")
    kid = rotate_key_ring_file(settings.keys_file, production=settings.is_production)
    print(f"added signing key {kid} to {settings.keys_file}; servers pick it up within 30 s")


def _audit(settings: Settings, url: str, args: argparse.Namespace) -> None:
    if args.action == "verify":
        intact = audit_commands.verify(settings, url, args.anchor)
    else:
        intact = audit_commands.anchor(settings, url, args.out)
    if not intact:
        sys.exit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bff", description="Fintech GraphQL BFF")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve the API (embedded PostgreSQL without DATABASE_URL)"
    )
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    serve.add_argument("--seed", action="store_true", help="seed demo data into an empty database")
    commands.add_parser("migrate", help="apply database migrations")
    seed = commands.add_parser("seed", help="seed demo data into an empty database (development)")
    seed.add_argument(
        "--reset-passwords",
        action="store_true",
        help="give the demo users new passwords, print them, and end their sessions",
    )
    commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    commands.add_parser(
        "purge", help="delete expired idempotency keys and account events past retention"
    )
    keys = commands.add_parser("keys", help="manage the JWT key ring (no database needed)")
    key_actions = keys.add_subparsers(dest="action", required=True)
    create_ring = key_actions.add_parser(
        "create", help="write a new production key ring (mode 0600); never overwrites"
    )
    create_ring.add_argument(
        "--file", type=Path, help="where to write it (default: BFF_JWT_KEYS_FILE)"
    )
    key_actions.add_parser(
        "rotate", help="add a new signing key to BFF_JWT_KEYS_FILE; older keys keep verifying"
    )
    audit = commands.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="action", required=True
    )
    verify = audit.add_parser(
        "verify",
        help="walk the hash chains; name the first entry changed, removed, inserted or moved",
    )
    verify.add_argument("--anchor", type=Path, help="check against this signed anchor as well")
    anchor = audit.add_parser(
        "anchor", help="verify, then sign the chain heads (Ed25519) for an external store"
    )
    anchor.add_argument("--out", type=Path, help="write the anchor here (default: stdout)")
    worker = commands.add_parser(
        "worker", help="handle customer events (notifications, activity feed)"
    )
    worker_actions = worker.add_subparsers(dest="action")
    dlq = worker_actions.add_parser("dlq", help="the events that failed every attempt")
    dlq.add_argument("dlq_action", choices=["list", "retry"])
    docs = commands.add_parser(
        "documents", help="the trusted documents of app builds (persisted-query manifests)"
    ).add_subparsers(dest="action", required=True)
    register = docs.add_parser("register", help="register a build's manifest (Apollo or codegen)")
    register.add_argument("manifest", type=Path)
    docs.add_parser("list", help="list the registered builds")
    retire = docs.add_parser("retire", help="stop serving a build's documents")
    for build_parser in (register, retire):
        build_parser.add_argument("--app", required=True, help="like ios or android")
        build_parser.add_argument("--version", required=True, help="like 4.2.0")
    fraud = commands.add_parser("fraud", help="the fraud risk model").add_subparsers(
        dest="action", required=True
    )
    fraud.add_parser(
        "train", help="train the risk model (simulator data and analysts' labels), print its card"
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
    try:
        _run(args)
    except (CommandError, DatabaseUnavailable, KeyRingError, AnchorError) as error:
        sys.exit(f"bff: {error}")


def _run(args: argparse.Namespace) -> None:
    if args.command == "keys":
        try:
            if args.action == "create":
                _create_keys(args.file)
            else:
                _rotate_keys(_settings())
        except OSError as error:  # a ring file that cannot be read or written
            raise CommandError(str(error)) from None
        return
    settings = _settings()
    bff_logging.configure(json_lines=settings.json_logs, level=settings.log_level)
    with database(settings) as url:
        if args.command == "serve":
            _serve(settings, url, args)
        elif args.command == "migrate":
            migrate.upgrade(url)
        elif args.command == "seed":
            _seed(settings, url, reset_passwords=args.reset_passwords)
        elif args.command == "purge":
            _purge(settings, url)
        elif args.command == "audit":
            _audit(settings, url, args)
        elif args.command == "worker" and args.action == "dlq":
            dead_letters(settings, url, retry=args.dlq_action == "retry")
        elif args.command == "worker":
            signal.signal(signal.SIGTERM, _exit_cleanly)
            run_worker(settings, url)
        elif args.command == "documents":
            _documents(settings, url, args)
        elif args.command == "fraud":
            print("\n".join(train_model(settings, url).lines()))
        else:
            _create_user(settings, url, args)


if __name__ == "__main__":
    main()
