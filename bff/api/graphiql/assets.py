"""GraphiQL's static files, served under /graphiql/: the page's own script and styles, and the
npm files it runs on, vendored in static/vendor/ at the versions pinned in vendored.json with
their SHA-256 checksums (`python -m bff.api.graphiql.refresh` fetches them again)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/graphiql"
PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
MANIFEST = PACKAGE_DIR / "vendored.json"


@dataclass(frozen=True)
class VendoredFile:
    """One file of an npm package, kept as static/vendor/<name>."""

    name: str
    package: str
    version: str
    path: str  # inside the package's tarball, below "package/"
    sha256: str

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


def vendored_files() -> list[VendoredFile]:
    """The vendored files as recorded in vendored.json."""
    return [VendoredFile(**entry) for entry in json.loads(MANIFEST.read_text())["files"]]


def write_manifest(files: list[VendoredFile]) -> None:
    """Record `files` (versions and checksums) in vendored.json."""
    text = json.dumps({"files": [asdict(file) for file in files]}, indent=2)
    MANIFEST.write_text(text + "\n")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assets_route() -> Mount:
    """The static route of GraphiQL's files, for development servers only."""
    return Mount(ASSETS_PATH, app=StaticFiles(directory=STATIC_DIR), name="graphiql")
