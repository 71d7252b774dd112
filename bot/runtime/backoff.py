"""How long to wait before trying again: one rule for feeds, deliveries and pages.

Exponential steps from `base_s`, capped at `max_s`, with "equal jitter": half the step fixed,
half random, so many failures at once (a platform outage, a DNS blip) do not retry in lockstep.
Not tenacity: the wait becomes a due time in the database (a feed's next check, an outbox row's
next attempt), so it outlives a restart and any process may take the work; tenacity retries by
sleeping inside the call that failed.
"""

from __future__ import annotations


def backoff_s(attempt: int, base_s: float, max_s: float, draw: float) -> float:
    """The wait after the `attempt`-th failure (1 = first); `draw` is a uniform number in [0, 1)."""
    step = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return step / 2 + draw * step / 2
