"""`-c FILE` works before or after any subcommand, with TOKA_CONFIG as the fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli.main import build_parser, main


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "toka.yaml"
    path.write_text("pipeline:\n  app_id: from-the-file\n")
    return path


def _shown_app_id(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)["pipeline"]["app_id"]


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "{f}", "config", "show"],
        ["config", "show", "-c", "{f}"],
        ["config", "-c", "{f}", "show"],
        ["--config", "{f}", "config", "show"],
        ["config", "show", "--config={f}"],
    ],
)
def test_c_is_taken_in_every_position(
    argv: list[str], config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("TOKA_CONFIG", raising=False)
    argv = [a.replace("{f}", str(config_file)) for a in argv]
    assert _shown_app_id(argv, capsys) == "from-the-file"


def test_toka_config_is_the_fallback_and_c_wins_over_it(
    config_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.setenv("TOKA_CONFIG", str(config_file))
    assert _shown_app_id(["config", "show"], capsys) == "from-the-file"
    other = tmp_path / "other.yaml"
    other.write_text("pipeline:\n  app_id: from-the-flag\n")
    assert _shown_app_id(["config", "show", "-c", str(other)], capsys) == "from-the-flag"


def test_no_file_anywhere_means_the_defaults(capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.delenv("TOKA_CONFIG", raising=False)
    assert _shown_app_id(["config", "show"], capsys) != "from-the-file"


@pytest.mark.parametrize(
    "argv",
    [
        ["-c", "F", "worker", "--loglevel", "info"],  # the Dockerfile's ENTRYPOINT + CMD
        ["worker", "-c", "F"],
        ["agent", "-c", "F", "--once"],
        ["-c", "F", "agent", "publish-synthetic", "--cpu", "95"],
        ["agent", "publish-synthetic", "-c", "F", "--cpu", "95"],
        ["baseline", "list", "-c", "F"],
        ["rules", "check", "-c", "F"],
    ],
)
def test_every_command_takes_c_on_either_side(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).config == "F"


def test_a_subcommand_without_c_keeps_the_top_level_value() -> None:
    assert build_parser().parse_args(["-c", "F", "alerts", "tail"]).config == "F"
