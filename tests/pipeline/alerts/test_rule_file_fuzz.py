"""Fuzzed rule files: a RuleSet or a RuleFileError that names what is wrong, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.alerts.errors import RuleFileError
from pipeline.alerts.parse import parse_rules
from tests.support.fuzz import FUZZ, mutated

pytestmark = pytest.mark.fuzz

#: The shipped rule file: every kind of rule and key, with grouping and defaults.
RULES = yaml.safe_load((Path(__file__).parents[3] / "deploy/rules/toka-rules.yaml").read_text())


def test_the_seed_file_is_valid() -> None:
    assert parse_rules(yaml.safe_dump(RULES)).rules


def _parses_or_names_the_problem(text: str) -> None:
    try:
        parse_rules(text, source="fuzz.yaml")
    except RuleFileError as exc:
        assert exc.errors and all(path and message for path, message in exc.errors), exc


@FUZZ
@given(mutated(RULES))
def test_fuzzed_rule_files_parse_or_name_their_problem(doc: object) -> None:
    _parses_or_names_the_problem(yaml.safe_dump(doc))


@FUZZ
@given(st.text(max_size=200))
def test_any_text_parses_or_names_its_problem(text: str) -> None:
    _parses_or_names_the_problem(text)
