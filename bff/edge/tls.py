"""TLS for `bff serve` when it terminates TLS itself: TLS 1.3 only.

TLS 1.3 has only forward-secret AEAD cipher suites and leaves nothing (renegotiation,
compression, weak suites) to configure away; the clients the app supports speak it (iOS 12.2+,
Android 10+, current browsers and load balancers).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path


def check_key_pair(cert_file: Path, key_file: Path) -> None:
    """Raise OSError or ssl.SSLError when the files cannot be read or do not belong together
    (uvicorn would say so with a traceback, in every worker)."""
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, key_file)


def tls13_context(config: object, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's `ssl_context_factory`: uvicorn's own context (certificate, key, ALPN) with TLS
    1.3 as the minimum. At module level, so that it pickles into worker processes."""
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context
