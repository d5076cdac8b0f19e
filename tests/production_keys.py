"""Key rings a production server accepts, generated for a test: the JWT ring without its
development mark and a data key ring made as `bff keys create-data` makes one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bff.auth.keys import load_key_ring_file
from bff.crypto.ring import create_data_key_ring_file


def production_keys(directory: Path) -> dict[str, Any]:
    """Settings (`jwt_keys`, `data_keys_file`) naming new production rings kept in `directory`."""
    load_key_ring_file(directory / "ring.json", production=False)
    ring = json.loads((directory / "ring.json").read_text())
    del ring["development"]
    data_keys = directory / "data-keys.json"
    create_data_key_ring_file(data_keys)
    return {"jwt_keys": json.dumps(ring), "data_keys_file": data_keys}
