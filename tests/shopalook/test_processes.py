import sys

from shopalook import processes


def test_children_get_the_allocator_tuning_unless_the_caller_set_it(tmp_path):
    script = "import os; print(os.environ['MALLOC_TRIM_THRESHOLD_'], os.environ['X'])"

    for env, expected in [({"X": "1"}, "-1 1"), ({"X": "2", "MALLOC_TRIM_THRESHOLD_": "0"}, "0 2")]:
        log = tmp_path / f"{env['X']}.log"
        child = processes.spawn([sys.executable, "-c", script], env=env, log_path=log)
        assert child.wait(timeout=30) == 0
        assert log.read_text().strip() == expected
