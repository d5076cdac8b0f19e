"""GraphiQL's vendored npm files are the ones recorded: versions and SHA-256 checksums in
bff/api/graphiql/vendored.json."""

from __future__ import annotations

from bff.api.graphiql.assets import VENDOR_DIR, sha256_of, vendored_files


def test_the_vendored_files_are_the_recorded_ones() -> None:
    # given the files recorded in vendored.json (package, pinned version, SHA-256)
    recorded = vendored_files()
    # when the files on disk are hashed
    on_disk = {path.name: sha256_of(path) for path in VENDOR_DIR.iterdir()}
    # then each matches its checksum, and nothing else lies in static/vendor/
    assert on_disk == {file.name: file.sha256 for file in recorded}
    # and each is pinned to one version (no range, no tag)
    assert all(file.version[:1].isdigit() for file in recorded), recorded
