"""Bulk work in Python: the cyclic garbage collector paused while it runs.

A posting chunk or a roster's check and writes make hundreds of thousands of short-lived dicts,
tuples and ORM rows. Each generation-2 collection mid-way walks all of them, and none is garbage
yet (bench/README.md: about 14 % of a roster import). Reference counting still frees what the
work drops; the collector runs again as soon as the work ends."""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def collector_paused():
    """Pause cyclic collection for the block (nested blocks keep it paused to the outermost's end)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
