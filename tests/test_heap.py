"""`bot.runtime.heap`: the collector settings `newsbot run` and the parse workers apply once started."""

from __future__ import annotations

import gc

from bot.runtime import heap


def test_settle_freezes_what_is_alive_and_unsettle_gives_the_defaults_back() -> None:
    before = gc.get_threshold()
    alive = [[i] for i in range(1000)]  # containers alive now: frozen, out of every pass
    previous = heap.settle()
    try:
        assert previous == before
        assert gc.get_freeze_count() >= len(alive)
        assert gc.get_threshold() == (heap.GEN0_THRESHOLD, before[1], before[2])
        cycle: list[object] = []
        cycle.append(cycle)  # garbage made after settling is still collected
        del cycle
        assert gc.collect() >= 1
    finally:
        heap.unsettle(previous)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
