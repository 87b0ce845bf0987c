"""Child processes: their log, a readable error, a time limit."""

from __future__ import annotations

import sys

import pytest

from bench.harness import CommandError, log_tail, run_command


def test_failing_command_raises_with_its_last_lines(tmp_path):
    log = tmp_path / "logs" / "step.log"
    script = (
        "import sys; print('loading'); print('error: no pairs.csv', file=sys.stderr); sys.exit(3)"
    )
    with pytest.raises(CommandError, match=r"exit code 3: .*error: no pairs.csv"):
        run_command([sys.executable, "-c", script], log_path=log, timeout_s=30)
    assert "loading" in log.read_text()


def test_command_past_its_time_limit_is_killed(tmp_path):
    with pytest.raises(CommandError, match="timed out after 1 s"):
        run_command(
            [sys.executable, "-c", "import time; time.sleep(30)"],
            log_path=tmp_path / "slow.log",
            timeout_s=1,
        )


def test_successful_command_returns_its_duration(tmp_path):
    seconds = run_command(
        [sys.executable, "-c", "pass"], log_path=tmp_path / "ok.log", timeout_s=30
    )
    assert 0 < seconds < 30


def test_log_tail_splits_progress_bars(tmp_path):
    log = tmp_path / "bar.log"
    log.write_text("start\nembed:  10%\rembed:  50%\rembed: 100%\n\nTraceback: boom\n")
    assert log_tail(log, lines=2) == "embed: 100% | Traceback: boom"
