"""Garbage-collector settings for a long-running process, applied once its start-up is done.

CPython's cyclic collector walks every tracked object on each full (gen-2) pass: in the ingester
a tenth of the cycle's main-process CPU, and in a search process the whole tail latency of a query
mix (benchmarks/ingest.py, benchmarks/search.py). The pass walks the modules, config, SDK clients and matchers loaded at start-up, which live as long as the process
anyway. `gc.freeze()` moves them out of the collector's sight (they are still freed by reference
counting if dropped). A larger first-generation threshold makes young passes rarer: parsing and
storing allocate many short-lived containers, almost all freed by reference counting long before
a pass would look at them. What a
pass can still find uncollected is bounded by the threshold: a few MB at most.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 20_000  # CPython's default is 700


def settle() -> tuple[int, int, int]:
    """Freeze what is alive now and raise the young threshold; returns the thresholds it replaced."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, previous[1], previous[2])
    return previous


def unsettle(previous: tuple[int, int, int]) -> None:
    """Undo `settle` (a process that runs the app more than once: the tests)."""
    gc.unfreeze()
    gc.set_threshold(*previous)
