"""Fetch GraphiQL's vendored files again from their npm packages and record their checksums.

    python -m bff.api.graphiql.refresh                      # the versions in vendored.json
    python -m bff.api.graphiql.refresh graphiql@3.8.4 ...   # pin other versions first

Needs `npm` (it downloads each package with `npm pack`, which checks the registry's integrity
hash). Rewrites static/vendor/ (gzip-compressed) and vendored.json; commit both, after checking
the page in a browser (tests/test_graphiql_browser.py does).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bff.api.graphiql.assets import (
    VENDOR_DIR,
    VendoredFile,
    store_compressed,
    uncompressed_sha256,
    vendored_files,
    write_manifest,
)


def _pin(files: list[VendoredFile], specs: Sequence[str]) -> list[VendoredFile]:
    if any("@" not in spec[1:] for spec in specs):
        sys.exit("pin versions as package@version, e.g. graphiql@3.8.3")
    versions = dict(spec.rsplit("@", 1) for spec in specs)
    unknown = set(versions) - {file.package for file in files}
    if unknown:
        sys.exit(f"not vendored: {', '.join(sorted(unknown))}")
    return [replace(file, version=versions.get(file.package, file.version)) for file in files]


def _pack(spec: str, destination: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to refresh GraphiQL's assets")
    packed = subprocess.run(  # noqa: S603 (npm, by its full path, with our arguments)
        [npm, "pack", spec, "--json", "--silent", "--pack-destination", str(destination)],
        check=True,
        capture_output=True,
        text=True,
    )
    filename: str = json.loads(packed.stdout)[0]["filename"]
    return destination / filename


def _extract(tarball: Path, path: str) -> bytes:
    with tarfile.open(tarball) as tar:
        member = tar.extractfile(f"package/{path}")
        if member is None:
            raise FileNotFoundError(f"{path} is not a file in {tarball.name}")
        return member.read()


def refresh(specs: Sequence[str] = ()) -> list[VendoredFile]:
    """Fetch every vendored file (at the versions of `specs` where given) into static/vendor/,
    remove files no longer listed, and record versions and checksums in vendored.json."""
    files = _pin(vendored_files(), specs)
    with tempfile.TemporaryDirectory() as scratch:
        tarballs = {spec: _pack(spec, Path(scratch)) for spec in {file.spec for file in files}}
        for file in files:
            store_compressed(file, _extract(tarballs[file.spec], file.path))
    for stale in set(VENDOR_DIR.iterdir()) - {file.stored_at for file in files}:
        stale.unlink()
    refreshed = [replace(file, sha256=uncompressed_sha256(file.stored_at)) for file in files]
    write_manifest(refreshed)
    return refreshed


if __name__ == "__main__":
    for file in refresh(sys.argv[1:]):
        print(f"{file.sha256}  {file.name}  ({file.spec} {file.path})")
