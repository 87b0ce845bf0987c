"""A look worker killed with SIGKILL mid-batch: after a restart every look completes once."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from conftest import worker_environment
from shop.models import Look
from shop.queue import PROCESS_LOOK
from shopalook import processes
from tests.helpers import wait_until
from tests.shop.look_fixtures import jpeg_bytes
from tests.worker.test_look_task import catalog  # noqa: F401 (fixture)
from worker.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LOOKS = 50
QUEUE = "looks-fault-test"  # this test's worker only: the kill must hit the one doing the work


def start_worker(log_path) -> tuple:
    process = processes.spawn(
        processes.worker_command(queues=QUEUE, name="faulty@%h"),
        env=worker_environment(),
        log_path=log_path,
    )
    name = f"faulty@{socket.gethostname()}"
    wait_until(lambda: app.control.ping(destination=[name], timeout=0.5), timeout_s=90)
    return process, name


def test_killed_worker_leaves_no_look_stuck_or_done_twice(catalog, data_dir, tmp_path):  # noqa: F811
    photo = jpeg_bytes(data_dir / "street" / "photos" / "0002.jpg", short_side=320)
    looks = [Look.objects.create(image_data=photo) for _ in range(LOOKS)]
    worker, name = start_worker(tmp_path / "worker-1.log")
    for look in looks:
        app.send_task(PROCESS_LOOK, args=[str(look.pk)], task_id=str(look.pk), queue=QUEUE)

    # Kill it while it works on a look, some looks already done.
    wait_until(lambda: Look.objects.filter(status="done").count() >= 5, timeout_s=120)
    wait_until(lambda: Look.objects.filter(status="running", worker=name).exists(), interval_s=0.01)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_mid_look = list(Look.objects.filter(status="running").values_list("pk", flat=True))
    assert Look.objects.exclude(status="done").exists()

    restarted, _ = start_worker(tmp_path / "worker-2.log")
    try:
        wait_until(lambda: Look.objects.filter(status="done").count() == LOOKS, timeout_s=240)
    finally:
        processes.stop(restarted)

    for look in Look.objects.all():
        assert look.status == "done" and look.image_data is None
        assert look.items.count() == len({item.index for item in look.items.all()}) > 0
    # Only the looks in flight at the kill ran twice; the rest exactly once.
    assert set(Look.objects.filter(attempts__gt=1).values_list("pk", flat=True)) == set(
        killed_mid_look
    )
