"""Backups and point-in-time recovery with PostgreSQL's own tools.

`bff backup` takes a base backup with pg_basebackup (plain format, the WAL it needs streamed
alongside, checked with pg_verifybackup) into `BFF_BACKUP_DIR/base/<UTC time>`, and records
when it became consistent. The WAL written since then is the server's to archive, with
`archive_mode = on` and an `archive_command` that copies each segment into
`BFF_BACKUP_DIR/wal` (see README, "Backups").

`bff backup restore --to TIME --into DIR` copies the newest base backup consistent before
TIME into the empty directory DIR, sets PostgreSQL's recovery to replay the archived WAL up to
TIME (`recovery_target_time`, the commits at or before it) and promote, starts the restored
cluster on its own port and waits until it accepts writes.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from bff.db.engine import plain_postgres_url

BASE = "base"
WAL = "wal"
_RECORD = "bff-backup.json"
# Binaries are looked up here when BFF_PG_BIN_DIR is unset and they are not on PATH.
_DEBIAN_BIN_DIRS = "/usr/lib/postgresql"
RESTORE_TIMEOUT_S = 600.0


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True)
class BaseBackup:
    path: Path
    consistent_at: datetime  # restores to this moment or later can start from it


def pg_program(name: str, bin_dir: Path | None) -> str:
    """The path of PostgreSQL program `name`: in `bin_dir`, else on PATH, else in the newest
    of Debian's /usr/lib/postgresql/<major>/bin."""
    if bin_dir is not None:
        candidate = bin_dir / name
        if not candidate.exists():
            raise BackupError(f"{candidate} does not exist (BFF_PG_BIN_DIR)")
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    majors = sorted(
        Path(_DEBIAN_BIN_DIRS).glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]), reverse=True
    )
    if not majors:
        raise BackupError(f"{name} not found: install PostgreSQL's tools or set BFF_PG_BIN_DIR")
    return str(majors[0])


def _run(command: list[str], user: str | None = None, timeout_s: float = 3600) -> str:
    try:
        done = subprocess.run(  # noqa: S603 (PostgreSQL's own programs, no shell)
            command, user=user, capture_output=True, text=True, check=False, timeout=timeout_s
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BackupError(f"{Path(command[0]).name}: {error}") from None
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def take(database_url: str, backup_dir: Path, bin_dir: Path | None = None) -> BaseBackup:
    """A verified base backup of the server at `database_url` into `backup_dir/base/`."""
    started = datetime.now(UTC)
    target = backup_dir / BASE / started.strftime("%Y%m%dT%H%M%S%fZ")
    target.parent.mkdir(parents=True, exist_ok=True)
    (backup_dir / WAL).mkdir(exist_ok=True)
    dsn = plain_postgres_url(database_url)
    _run(
        [
            pg_program("pg_basebackup", bin_dir),
            f"--dbname={dsn}",
            f"--pgdata={target}",
            "--format=plain",
            "--wal-method=stream",
            "--checkpoint=fast",
            f"--label=bff {started.isoformat()}",
        ]
    )
    _run([pg_program("pg_verifybackup", bin_dir), str(target)])
    # pg_basebackup returns once the backup's end is flushed: consistent from here on.
    backup = BaseBackup(target, datetime.now(UTC))
    (target / _RECORD).write_text(json.dumps({"consistent_at": backup.consistent_at.isoformat()}))
    return backup


def base_backups(backup_dir: Path) -> list[BaseBackup]:
    """The completed base backups, oldest first."""
    found = []
    for record in sorted((backup_dir / BASE).glob(f"*/{_RECORD}")):
        consistent_at = datetime.fromisoformat(json.loads(record.read_text())["consistent_at"])
        found.append(BaseBackup(record.parent, consistent_at))
    return sorted(found, key=lambda backup: backup.consistent_at)


def restore(
    backup_dir: Path,
    to: datetime,
    into: Path,
    port: int,
    bin_dir: Path | None = None,
    os_user: str | None = None,
) -> None:
    """Restore the state as of `to` into a new cluster in the empty directory `into`, started
    on `port` of 127.0.0.1; returns once recovery has ended and the cluster accepts writes.
    `os_user` runs the server (PostgreSQL refuses root)."""
    if to.tzinfo is None:
        raise BackupError("--to needs a time zone, such as 2026-12-02T18:30:00Z")
    candidates = [backup for backup in base_backups(backup_dir) if backup.consistent_at <= to]
    if not candidates:
        raise BackupError(f"no base backup in {backup_dir / BASE} is consistent before {to}")
    if into.exists() and any(into.iterdir()):
        raise BackupError(f"{into} is not empty: restore into a new directory")
    base = candidates[-1]
    shutil.copytree(base.path, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_RECORD))
    into.chmod(0o700)
    archive = (backup_dir / WAL).resolve()
    (into / "recovery.signal").touch()
    with (into / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            f"\n# bff backup restore from {base.path.name} to {to.isoformat()}\n"
            f'restore_command = \'cp "{archive}/%f" "%p"\'\n'
            f"recovery_target_time = '{to.isoformat()}'\n"
            "recovery_target_action = 'promote'\n"
            # A restored copy is for inspection or to take over: it archives nowhere yet.
            "archive_mode = off\n"
            f"port = {port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{into.resolve()}'\n"
        )
    if os_user is not None:
        account = pwd.getpwnam(os_user)
        for path in [into, *into.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
    _run(
        [
            pg_program("pg_ctl", bin_dir),
            f"--pgdata={into}",
            f"--log={into / 'restore.log'}",
            "--wait",
            f"--timeout={int(RESTORE_TIMEOUT_S)}",
            "start",
        ],
        user=os_user,
        timeout_s=RESTORE_TIMEOUT_S,
    )
    _wait_promoted(into, bin_dir, os_user)


def _wait_promoted(into: Path, bin_dir: Path | None, os_user: str | None) -> None:
    """Until the cluster has left recovery (the target reached, or the archive's end)."""
    deadline = time.monotonic() + RESTORE_TIMEOUT_S
    controldata = pg_program("pg_controldata", bin_dir)
    while time.monotonic() < deadline:
        state = _run([controldata, str(into)], user=os_user)
        if "Database cluster state:               in production" in state:
            return
        if not (into / "postmaster.pid").exists():
            log = (into / "restore.log").read_text(errors="replace")[-2000:]
            raise BackupError(f"the restored server stopped during recovery:\n{log}")
        time.sleep(0.2)
    raise BackupError(f"recovery did not end within {RESTORE_TIMEOUT_S:.0f} s")


def restored_url(database_url: str, port: int) -> str:
    """Where the restored copy of the database at `database_url` is served."""
    url = make_url(plain_postgres_url(database_url))
    return url.set(host="127.0.0.1", port=port, password=None).render_as_string(hide_password=False)
