"""The entry point: a failing section is recorded, the others run, the exit code says so."""

from __future__ import annotations

import json

import pytest

from bench import options, run


@pytest.fixture
def data_folder(tmp_path):
    folder = tmp_path / "data"
    (folder / "catalog").mkdir(parents=True)
    (folder / "catalog" / "catalog.csv").write_text("id,image\n")
    return folder


def test_failing_section_is_recorded_and_the_run_goes_on(tmp_path, data_folder, monkeypatch):
    def broken(run_, section):
        raise RuntimeError("the stack exited with code 2")

    def fine(run_, section):
        section.add("embedding", "forward pass alone", 70.0, "images/s", headline=True)

    for variable in ("DATABASE_URL", "REDIS_URL"):  # main() drops them; restore after
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setitem(run.SECTION_RUNNERS, "latency", broken)
    monkeypatch.setitem(run.SECTION_RUNNERS, "throughput", fine)
    out = tmp_path / "report"
    code = run.main(
        ["--only", "latency", "throughput", "--out", str(out), "--data-dir", str(data_folder),
         "--models-dir", str(tmp_path / "models"), "--device", "cpu"]
    )  # fmt: skip
    assert code == 1
    document = json.loads((out / "results.json").read_text())
    assert document["failed"] == ["latency"]
    assert document["sections"]["latency"]["errors"] == [
        "latency: RuntimeError: the stack exited with code 2"
    ]
    assert document["sections"]["throughput"]["status"] == "ok"
    assert document["sections"]["search"]["status"] == "skipped"
    assert document["models"] == {"embedder": None, "detector": None}
    assert document["data"]["files"]["catalog/catalog.csv"]["lines"] == 1
    assert document["environment"]["device"]["type"] == "cpu"
    assert "forward pass alone" in (out / "report.md").read_text()


def test_missing_data_folder_stops_at_once(tmp_path, capsys):
    assert run.main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "data folder" in capsys.readouterr().err


def test_sections_follow_only_and_skip():
    arguments = options.parse_arguments(["--only", "search", "quality", "--skip", "quality"])
    assert run.selected_sections(arguments) == ["search"]
    assert run.selected_sections(options.parse_arguments(["--full"])) == list(options.SECTIONS)


def test_base_url_needs_an_api_key():
    with pytest.raises(SystemExit):
        options.parse_arguments(["--base-url", "http://127.0.0.1:8000"])
