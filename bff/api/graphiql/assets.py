"""GraphiQL's static files, served under /graphiql/: the page's own script and styles, and the
npm files it runs on, vendored gzip-compressed in static/vendor/ at the versions pinned in
vendored.json with the SHA-256 checksums of their uncompressed bytes
(`python -m bff.api.graphiql.refresh` fetches them again).

The vendored files are kept compressed because GraphiQL's bundle is 3.4 MB as published and
0.7 MB gzipped: the repository stays small, and browsers get the compressed bytes as they are
(`content-encoding: gzip`), with no compression work per request."""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/graphiql"
PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
MANIFEST = PACKAGE_DIR / "vendored.json"
COMPRESSED_SUFFIX = ".gz"
# Vendored files are immutable for a pinned version; a refresh changes the page's build anyway.
_VENDOR_CACHE_CONTROL = "public, max-age=86400"


@dataclass(frozen=True)
class VendoredFile:
    """One file of an npm package, kept as static/vendor/<name>.gz."""

    name: str
    package: str
    version: str
    path: str  # inside the package's tarball, below "package/"
    sha256: str  # of the uncompressed file

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def stored_at(self) -> Path:
        return VENDOR_DIR / (self.name + COMPRESSED_SUFFIX)


def vendored_files() -> list[VendoredFile]:
    """The vendored files as recorded in vendored.json."""
    return [VendoredFile(**entry) for entry in json.loads(MANIFEST.read_text())["files"]]


def write_manifest(files: list[VendoredFile]) -> None:
    """Record `files` (versions and checksums) in vendored.json."""
    text = json.dumps({"files": [asdict(file) for file in files]}, indent=2)
    MANIFEST.write_text(text + "\n")


def store_compressed(file: VendoredFile, content: bytes) -> None:
    """Write `content` as the file's stored copy; reproducible (no name or time in the header)."""
    file.stored_at.write_bytes(gzip.compress(content, compresslevel=9, mtime=0))


def uncompressed_sha256(stored: Path) -> str:
    """The SHA-256 of a stored vendored file's uncompressed bytes."""
    return hashlib.sha256(gzip.decompress(stored.read_bytes())).hexdigest()


@cache
def _stored_by_name() -> dict[str, Path]:
    return {file.name: file.stored_at for file in vendored_files()}


async def _vendored(request: Request) -> Response:
    name = request.path_params["name"]
    stored = _stored_by_name().get(name)
    if stored is None:
        return Response(status_code=404)
    body = stored.read_bytes()
    headers = {"cache-control": _VENDOR_CACHE_CONTROL, "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    media_type, _ = mimetypes.guess_type(name)
    return Response(body, media_type=media_type or "application/octet-stream", headers=headers)


def assets_route() -> Mount:
    """The static route of GraphiQL's files, for development servers only."""
    routes = [
        Route("/vendor/{name}", _vendored),
        Mount("/", app=StaticFiles(directory=STATIC_DIR)),
    ]
    return Mount(ASSETS_PATH, app=Router(routes), name="graphiql")
