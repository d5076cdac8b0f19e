"""Running the `bff` command as an operator does: a real process, a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def bff_command() -> str:
    """The `bff` console script installed next to this interpreter."""
    script = Path(sys.executable).with_name("bff")
    assert script.exists(), script
    return str(script)


def run_bff(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `bff ...` in `cwd` (so no stray .env is read), with only the given BFF settings."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("BFF_") and name not in ("DATABASE_URL", "REDIS_URL")
    }
    return subprocess.run(
        [bff_command(), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with a single `bff: ...` line on stderr and no traceback; that line."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bff: "), lines[0]
    return lines[0]
