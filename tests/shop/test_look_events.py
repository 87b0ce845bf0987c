import threading
import time
import uuid

from shop.look_events import look_finished, wait_for_look


def test_a_waiting_request_wakes_when_the_look_is_announced():
    look_id = uuid.uuid4()
    timer = threading.Timer(0.2, look_finished, args=[look_id])
    timer.start()

    started = time.monotonic()
    assert wait_for_look(look_id, 5) is True
    assert time.monotonic() - started < 2


def test_an_announcement_before_the_wait_is_not_lost():
    look_id = uuid.uuid4()
    look_finished(look_id)

    assert wait_for_look(look_id, 5) is True


def test_without_an_announcement_the_wait_ends_on_time():
    started = time.monotonic()

    assert wait_for_look(uuid.uuid4(), 0.3) is False
    assert 0.25 < time.monotonic() - started < 2
