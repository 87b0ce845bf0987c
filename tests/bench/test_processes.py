"""Memory of the stack's worker processes, and the looks benchmark's latency summary."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.looks import summary
from bench.stack import peak_rss_bytes, worker_memory


def test_worker_memory_finds_celery_processes_by_worker_name():
    fake_worker = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "celery", "-n", "looks@host"]
    )
    try:
        memory = worker_memory(os.getpid())
    finally:
        fake_worker.kill()
        fake_worker.wait()
    # Other workers of this test session (e.g. the suite's own) may be listed beside it.
    (process,) = memory["looks"]["processes"]
    assert process["pid"] == fake_worker.pid and process["role"] == "main"
    assert memory["looks"]["peak_rss_bytes"] >= process["rss_bytes"] > 0


def test_peak_rss_of_this_process_is_known():
    assert peak_rss_bytes(os.getpid()) > 1024 * 1024


def test_latency_summary_p95_is_the_nearest_rank():
    assert summary([0.1, 0.2])["p95_ms"] == 200.0
    samples = [index / 1000 for index in range(1, 101)]  # 1..100 ms
    result = summary(samples)
    assert (result["median_ms"], result["p95_ms"], result["max_ms"]) == (50.5, 95.0, 100.0)
    assert result["samples_ms"][:2] == [1.0, 2.0]
