"""Web origins (RFC 6454) spelt as browsers send them in `Origin`: the one spelling compared.

A browser serializes an origin as `scheme://host[:port]`, scheme and host in lowercase, the host
in ASCII (punycode), the port left out when it is the scheme's default. Settings must list
origins in exactly that form, so that an exact string comparison is the whole check.
"""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_origin(url: str) -> str | None:
    """The origin of an http(s) URL as a browser writes it, or None when `url` has none (another
    scheme, no host, a bad port, non-ASCII text)."""
    if not url.isascii():
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, hostname = parts.scheme.lower(), parts.hostname
    if scheme not in DEFAULT_PORTS or not hostname:
        return None
    host = f"[{hostname}]" if ":" in hostname else hostname  # IPv6 keeps its brackets
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def parse_origins(text: str) -> frozenset[str]:
    """The origins of a comma-separated setting. ValueError names the first one not written
    exactly as browsers send it, and how to write it."""
    origins: set[str] = set()
    for origin in (part.strip() for part in text.split(",")):
        if not origin:
            continue
        canonical = canonical_origin(origin)
        if canonical is None:
            raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port]")
        if canonical != origin:
            raise ValueError(f"{origin!r}: write it as browsers send it, {canonical}")
        origins.add(origin)
    return frozenset(origins)
