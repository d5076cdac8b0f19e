"""Label values a client cannot multiply: operation names are the client's to choose, and each
distinct label value is a time series kept by every scraper."""

from __future__ import annotations

import re
import threading

# GraphQL's Name grammar, bounded in length.
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
UNNAMED = "unnamed"
INVALID = "invalid"
OTHER = "other"


class OperationNames:
    """Maps operation names to label values: the first `capacity` well-formed names a process
    sees are their own label; later new ones are all `other`, malformed ones `invalid`.

    An app sends a fixed set of named operations, so the cap is only reached by someone
    inventing names; those requests still count, under `other`."""

    def __init__(self, capacity: int = 200) -> None:
        self._capacity = capacity
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        """The label value for an operation called `name`."""
        if not name:
            return UNNAMED
        if name in self._known:
            return name
        if not _NAME.fullmatch(name):
            return INVALID
        with self._lock:
            if len(self._known) >= self._capacity:
                return OTHER
            self._known.add(name)
        return name


OPERATION_NAMES = OperationNames()
