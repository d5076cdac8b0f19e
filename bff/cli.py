"""The `bff` command: serve, migrate, seed, export-schema, purge, partitions ensure, backup,
keys, user create, oauth client create.

A failure the operator can fix (settings, database, key ring, input) is one line on stderr
starting with `bff:` and a non-zero exit status, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import ssl
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic_core import ErrorDetails

from bff import backup, document_commands
from bff import logging as bff_logging
from bff.audit import commands as audit_commands
from bff.audit.anchor import AnchorError
from bff.auth.keys import KeyRingError, create_key_ring_file, rotate_key_ring_file
from bff.backup import BackupError
from bff.config import Settings
from bff.crypto import commands as data_keys
from bff.crypto.ring import DataKeyRingError
from bff.db import migrate, partitions
from bff.db.database import Database
from bff.db.maintenance import purge
from bff.db.provision import DatabaseUnavailable, database
from bff.db.unsealed import Sealed, seal_unsealed_rows
from bff.domain import delegation, users
from bff.domain.errors import DomainError
from bff.domain.rbac import Role
from bff.edge.tls import check_key_pair, tls13_context
from bff.fraud.commands import train_model
from bff.metrics import exposition
from bff.notify.commands import dead_letters, run_worker
from bff.privacy import commands as privacy_commands
from bff.runtime import build_runtime
from bff.seed import reset_demo_passwords, seed_demo

# How long `bff serve` waits for requests and streams to end on SIGTERM (deploy/ sizes the
# pods' termination grace period on it).
GRACEFUL_SHUTDOWN_S = 10
WORKER_HEALTHCHECK_S = 30


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


def _migrate(settings: Settings, url: str) -> None:
    """The migrations, then the sealing of rows from before personal fields were sealed."""
    migrate.upgrade(url)

    async def seal() -> Sealed:
        database = Database(settings, url)
        try:
            return await seal_unsealed_rows(database.engine, database.sealing)
        finally:
            await database.dispose()

    sealed = asyncio.run(seal())
    if sealed != Sealed():
        print(
            f"sealed the personal fields of {sealed.users} users, {sealed.sessions} sessions "
            f"and {sealed.accounts} accounts from before field encryption",
            flush=True,
        )


def _serve(settings: Settings, url: str, args: argparse.Namespace) -> None:
    import uvicorn

    tls = _tls_options(settings)  # checked before anything else is done
    if args.migrate:
        _migrate(settings, url)
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
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # With BFF_WORKERS > 1 the supervisor restarts a worker that does not answer its health
        # ping within this long; a starting worker (importing scikit-learn for the fraud model)
        # on a busy host can take longer than uvicorn's 5 s.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
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


def _create_oauth_client(settings: Settings, url: str, args: argparse.Namespace) -> None:
    jwks = None
    if args.jwks_file is not None:
        try:
            jwks = json.loads(args.jwks_file.read_text())
        except (OSError, ValueError) as error:
            raise CommandError(f"cannot read the JWK Set {args.jwks_file}: {error}") from None
    registration = delegation.ClientRegistration(args.name, args.redirect_uri, args.scope, jwks)

    async def run() -> delegation.Client:
        runtime = build_runtime(settings, url)
        try:
            return await delegation.provision_client(runtime.unit_of_work(), registration)
        finally:
            await runtime.close()

    try:
        client = asyncio.run(run())
    except DomainError as error:
        raise CommandError(f"{error.code.value}: {error.message}") from None
    print(f"created {client.kind.value} client {client.name!r} client_id={client.id}")


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


def _ensure_partitions(settings: Settings, url: str, months_ahead: int | None) -> None:
    async def run() -> partitions.Ensured:
        runtime = build_runtime(settings, url)
        try:
            ahead = settings.partition_months_ahead if months_ahead is None else months_ahead
            return await partitions.ensure(runtime.database.engine, ahead)
        finally:
            await runtime.close()

    try:
        ensured = asyncio.run(run())
    except partitions.PartitionsNotEnsured as error:
        raise CommandError(str(error)) from None
    print(f"created {len(ensured.created)} partitions: {', '.join(ensured.created) or 'none'}")
    if ensured.in_default:
        print(
            "left to the default partition (it holds rows of those months): "
            + ", ".join(ensured.in_default)
        )


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


def _privacy(settings: Settings, url: str, args: argparse.Namespace) -> None:
    try:
        if args.action == "export":
            privacy_commands.export(settings, url, args.user)
        else:
            privacy_commands.erase(settings, url, args.user, args.reason)
    except DomainError as error:
        raise CommandError(f"{error.code.value}: {error.message}") from None


def _audit(settings: Settings, url: str, args: argparse.Namespace) -> None:
    if args.action == "verify":
        intact = audit_commands.verify(settings, url, args.anchor)
    else:
        intact = audit_commands.anchor(settings, url, args.out)
    if not intact:
        sys.exit(1)


def _backup(settings: Settings, url: str) -> None:
    taken = backup.take(url, settings.backups, settings.pg_bin_dir)
    print(
        f"base backup {taken.path} consistent from {taken.consistent_at.isoformat()}; "
        f"the server's archive_command must copy WAL into {settings.backups / backup.WAL}"
    )


def _restore(settings: Settings, args: argparse.Namespace) -> None:
    # PostgreSQL refuses to run as root: as root, the restored server runs as `postgres`.
    os_user = args.os_user or ("postgres" if os.geteuid() == 0 else None)
    backup.restore(settings.backups, args.to, args.into, args.port, settings.pg_bin_dir, os_user)
    where = (
        backup.restored_url(settings.database_url, args.port)
        if settings.database_url
        else f"127.0.0.1:{args.port}"
    )
    print(
        f"restored to {args.to.isoformat()} in {args.into}, running at {where} "
        f"(stop it with: pg_ctl --pgdata={args.into} stop)"
    )


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2026-12-02T18:30:00Z"
        ) from None


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
    partitions_command = commands.add_parser(
        "partitions", help="the monthly partitions of the ledger and the account events"
    )
    partition_actions = partitions_command.add_subparsers(dest="action", required=True)
    ensure = partition_actions.add_parser(
        "ensure", help="create the partitions of this month and the months ahead, if missing"
    )
    ensure.add_argument(
        "--months-ahead",
        type=int,
        choices=range(1, 37),
        metavar="N",
        help="months after this one (default BFF_PARTITION_MONTHS_AHEAD)",
    )
    keys = commands.add_parser("keys", help="manage the JWT key ring and the data key ring")
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
    create_data = key_actions.add_parser(
        "create-data", help="write a new production data key ring (mode 0600); never overwrites"
    )
    create_data.add_argument("--file", type=Path, required=True, help="where to write it")
    key_actions.add_parser(
        "rotate-data", help="add a key-encryption key to the data key ring; new data keys use it"
    )
    rewrap = key_actions.add_parser(
        "rewrap", help="re-wrap every data key under the newest key-encryption key (while serving)"
    )
    rewrap.add_argument("--batch", type=int, default=500, help="data keys per transaction")
    retire = key_actions.add_parser(
        "retire-data", help="drop a key-encryption key version that no data key uses any more"
    )
    retire.add_argument("--version", type=int, required=True)
    rights = commands.add_parser("privacy", help="customers' privacy rights").add_subparsers(
        dest="action", required=True
    )
    export = rights.add_parser("export", help="print everything kept about a user (JSON)")
    export.add_argument("--user", required=True, help="the user's id or email")
    erase = rights.add_parser(
        "erase", help="crypto-shred a user (their accounts must be empty); audited"
    )
    erase.add_argument("--user", required=True, help="the user's id or email")
    erase.add_argument("--reason", required=True, help="why (kept in the audit log)")
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
    backups = commands.add_parser(
        "backup", help="take a verified base backup (pg_basebackup) into BFF_BACKUP_DIR"
    )
    backup_actions = backups.add_subparsers(dest="backup_action")
    restore = backup_actions.add_parser(
        "restore", help="restore to a point in time into a new cluster, and start it"
    )
    restore.add_argument("--to", required=True, type=_moment, help="ISO 8601, with time zone")
    restore.add_argument("--into", required=True, type=Path, help="a new, empty directory")
    restore.add_argument("--port", type=int, default=5433, help="the restored server's port")
    restore.add_argument("--os-user", help="run the restored server as this user (root: postgres)")
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
    oauth = commands.add_parser("oauth", help="third-party access (OAuth 2.0)").add_subparsers(
        dest="action", required=True
    )
    oauth_client = oauth.add_parser("client", help="registered clients").add_subparsers(
        dest="client_action", required=True
    )
    register = oauth_client.add_parser("create", help="register a client; prints its client_id")
    register.add_argument("--name", required=True, help="shown to customers on the consent page")
    register.add_argument(
        "--redirect-uri", action="append", required=True, help="exact; repeat for several"
    )
    register.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=list(delegation.SCOPE_WORDS),
        help="repeat for several",
    )
    register.add_argument(
        "--jwks-file",
        type=Path,
        help="the client's public JWK Set (private_key_jwt); without it, a public client",
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
    except (
        CommandError,
        DatabaseUnavailable,
        KeyRingError,
        AnchorError,
        DataKeyRingError,
        BackupError,
    ) as error:
        sys.exit(f"bff: {error}")


def _run(args: argparse.Namespace) -> None:
    if args.command == "keys" and args.action in ("rotate-data", "rewrap", "retire-data"):
        settings = _settings()
        with database(settings) as url:
            if args.action == "rotate-data":
                data_keys.rotate(settings, url)
            elif args.action == "rewrap":
                data_keys.rewrap(settings, url, max(1, args.batch))
            else:
                data_keys.retire(settings, url, args.version)
        return
    if args.command == "keys":
        try:
            if args.action == "create":
                _create_keys(args.file)
            elif args.action == "create-data":
                data_keys.create(args.file)
            else:
                _rotate_keys(_settings())
        except OSError as error:  # a ring file that cannot be read or written
            raise CommandError(str(error)) from None
        return
    settings = _settings()
    bff_logging.configure(json_lines=settings.json_logs, level=settings.log_level)
    if args.command == "backup" and args.backup_action == "restore":
        _restore(settings, args)  # into a cluster of its own: no database of the settings'
        return
    with database(settings) as url:
        if args.command == "serve":
            _serve(settings, url, args)
        elif args.command == "migrate":
            _migrate(settings, url)
        elif args.command == "seed":
            _seed(settings, url, reset_passwords=args.reset_passwords)
        elif args.command == "purge":
            _purge(settings, url)
        elif args.command == "partitions":
            _ensure_partitions(settings, url, args.months_ahead)
        elif args.command == "backup":
            _backup(settings, url)
        elif args.command == "audit":
            _audit(settings, url, args)
        elif args.command == "privacy":
            _privacy(settings, url, args)
        elif args.command == "worker" and args.action == "dlq":
            dead_letters(settings, url, retry=args.dlq_action == "retry")
        elif args.command == "worker":
            signal.signal(signal.SIGTERM, _exit_cleanly)
            run_worker(settings, url)
        elif args.command == "documents":
            _documents(settings, url, args)
        elif args.command == "fraud":
            print("\n".join(train_model(settings, url).lines()))
        elif args.command == "oauth":
            _create_oauth_client(settings, url, args)
        else:
            _create_user(settings, url, args)


if __name__ == "__main__":
    main()
