"""`bff audit verify` and `bff audit anchor`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bff.audit.anchor import AnchorError, anchored_heads, load_anchor_key, sign_heads
from bff.audit.verify import Verification, verify_log
from bff.config import Settings
from bff.db.database import Database


def _walk(settings: Settings, url: str, anchor_file: Path | None) -> Verification:
    anchor = None
    if anchor_file is not None:
        key = load_anchor_key(settings.anchor_key_file, production=settings.is_production)
        try:
            document = json.loads(anchor_file.read_text())
        except (OSError, ValueError) as error:
            raise AnchorError(f"cannot read the anchor {anchor_file}: {error}") from None
        anchor = anchored_heads(document, key.public_key())

    async def run() -> Verification:
        database = Database(settings, url)
        try:
            return await verify_log(database.engine, anchor)
        finally:
            await database.dispose()

    return asyncio.run(run())


def verify(settings: Settings, url: str, anchor_file: Path | None) -> bool:
    """Print whether every chain holds (against `anchor_file` when given); False when not."""
    checked = _walk(settings, url, anchor_file)
    against = f"the anchor {anchor_file}" if anchor_file else "the recorded chain heads"
    if checked.intact:
        print(
            f"audit log intact: {checked.entries} entries in {len(checked.heads)} chains, "
            f"checked against {against}"
        )
        return True
    for finding in checked.findings:
        print(
            f"audit log tampered: {finding.kind.value}: chain {finding.chain} position "
            f"{finding.position}: {finding.message}",
            file=sys.stderr,
        )
    return False


def anchor(settings: Settings, url: str, out: Path | None) -> bool:
    """Verify the log, then sign its chain heads and write the anchor to `out` (or stdout)."""
    checked = _walk(settings, url, None)
    if not checked.intact:
        verify(settings, url, None)  # names what is wrong
        print("refusing to anchor a log that does not verify", file=sys.stderr)
        return False
    key = load_anchor_key(settings.anchor_key_file, production=settings.is_production)
    document = json.dumps(sign_heads(checked.heads, checked.entries, key), indent=2)
    if out is None:
        print(document)
    else:
        out.write_text(document + "\n")
        print(f"anchored {checked.entries} entries in {len(checked.heads)} chains to {out}")
    return True
