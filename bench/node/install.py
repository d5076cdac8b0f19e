"""Installs the Node.js peers' packages for the benchmark, and only for it: `npm ci` from the
committed package-lock.json into bench/node/node_modules, again whenever the lock file changes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from bench.processes import BenchError, Processes

NODE_DIR = Path(__file__).resolve().parent
MIN_NODE_MAJOR = 20  # what @apollo/server 5 needs
PACKAGES = ["@apollo/server", "graphql-yoga", "@envelop/graphql-jit", "graphql", "pg"]
# Written after a successful `npm ci`: the digest of the lock file it installed.
_STAMP = NODE_DIR / "node_modules" / ".bench-package-lock.sha256"


def _version(package: str) -> str:
    manifest = NODE_DIR / "node_modules" / package / "package.json"
    return str(json.loads(manifest.read_text())["version"])


def install_packages(processes: Processes) -> tuple[str, str]:
    """Node's binary and a line naming its version and the peers' packages; BenchError when
    Node.js is missing or too old, or the packages cannot be installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise BenchError("Node.js (node and npm) is not on PATH")
    version = processes.run("node-version", [node, "--version"], timeout_s=30).strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        raise BenchError(f"Node.js {version} is too old: the peers need {MIN_NODE_MAJOR} or later")
    digest = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    if not _STAMP.exists() or _STAMP.read_text() != digest:
        print("node      : npm ci in bench/node (its package-lock.json) ...", flush=True)
        # No install scripts: none of these packages needs one to run.
        argv = [npm, "ci", "--prefix", str(NODE_DIR), "--ignore-scripts", "--no-audit", "--no-fund"]
        processes.run("npm-ci", argv, timeout_s=600)
        _STAMP.write_text(digest)
    packages = ", ".join(f"{package} {_version(package)}" for package in PACKAGES)
    return node, f"Node.js {version}; {packages}"
