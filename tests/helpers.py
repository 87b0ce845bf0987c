"""Small helpers for tests."""

import contextlib
import time

import pytest


def wait_until(condition, *, timeout_s: float = 60, interval_s: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval_s)
    pytest.fail(f"condition not met within {timeout_s} s")


@contextlib.contextmanager
def single_torch_thread():
    """Torch on one thread: on the 2 shared cores of CI, 2 threads ran ~16x slower (measured)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
