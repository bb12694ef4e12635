"""``esign id check``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from esign.identity.cli import app

runner = CliRunner()


def test_a_prefixed_citizen_number_is_described_masked() -> None:
    result = runner.invoke(app, ["check", "CCCD:001203012389"])
    assert result.exit_code == 0, result.output
    assert "valid citizen identity number CCCD:0012******89" in result.output
    assert "Hà Nội" in result.output and "2003" in result.output
    assert "001203012389" not in result.output


def test_reveal_shows_the_whole_number() -> None:
    result = runner.invoke(app, ["check", "--reveal", "CCCD:001203012389"])
    assert "CCCD:001203012389" in result.output


def test_a_bare_twelve_digit_number_is_read_every_way() -> None:
    result = runner.invoke(app, ["check", "--json", "001203012389"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [r["kind"] for r in rows] == ["CCCD", "MST", "CMND"]
    assert all(r["valid"] for r in rows)


def test_a_tax_code_with_a_wrong_check_digit_exits_1_with_the_reason() -> None:
    result = runner.invoke(app, ["check", "MST:0100109107"])
    assert result.exit_code == 1
    assert "check digit" in result.output and "rule check-digit" in result.output


def test_an_organizations_tax_code_is_shown_whole() -> None:
    result = runner.invoke(app, ["check", "0100109106"])
    assert result.exit_code == 0
    assert "valid tax code MST:0100109106" in result.output


def test_nonsense_exits_1() -> None:
    result = runner.invoke(app, ["check", "12-34"])
    assert result.exit_code == 1
    assert "looks like none" in result.output
