"""Timing helpers shared by the reference benchmarks that `salient bench` runs."""
import time


def warm_up(call, seconds=2.0):
    """Calls `call` for `seconds` (once at least), as `salient bench` does before timing."""
    end = time.perf_counter() + seconds
    call()
    while time.perf_counter() < end:
        call()
