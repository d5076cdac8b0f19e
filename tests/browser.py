"""Debian's Chromium driven by Playwright, and one `bff serve` process for it to browse.

`make test` installs Debian's chromium when it is missing; without it the browser tests are
skipped, and fail under CI=true.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from bff.config import Settings
from tests.database import in_ci
from tests.servers import Server, ServerSet

CHROMIUM = Path("/usr/bin/chromium")
# Playwright adds --headless, --no-sandbox (no chromium_sandbox) and a fresh temporary
# --user-data-dir itself; these keep the browser from reaching out on its own.
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000  # a page may parse megabytes of script on a shared machine


def require_chromium() -> None:
    """Skip the test when Chromium is missing (fail under CI=true)."""
    if CHROMIUM.exists():
        return
    if in_ci():
        pytest.fail(f"CI=true but {CHROMIUM} is missing (`make test` installs Debian's chromium)")
    pytest.skip(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium for the length of the block."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, timeout=TIMEOUT_MS
        )
        yield browser
        await browser.close()


@asynccontextmanager
async def browsed_server(
    name: str, settings: Settings, database_url: str, log_dir: Path
) -> AsyncIterator[Server]:
    """A `bff serve` on the test process's database and key ring (written into data_dir by
    the runtime), so what a test registers or issues there is what the server sees."""
    assert settings.keys_file.exists()
    servers = ServerSet(
        database_url=database_url, redis_url=None, data_dir=settings.data_dir, log_dir=log_dir
    )
    try:
        yield await servers.start(name, {"BFF_DB_POOL_SIZE": "2", "BFF_DB_MAX_OVERFLOW": "2"})
    finally:
        await servers.stop_all()
