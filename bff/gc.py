"""Garbage-collector settings for a long-running server process."""

from __future__ import annotations

import gc

# Every request allocates thousands of short-lived objects (a GraphQL response has hundreds of
# fields); with the default threshold of 700 the collector runs many times per request.
_YOUNG_GENERATION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Move the objects alive after start-up (modules, schema, pools) out of the collector's
    sight, and collect the young generation less often. Measured: about a fifth less CPU per
    home query."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_GENERATION_THRESHOLD, middle, old)
