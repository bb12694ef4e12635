"""``esign orgid validate|convert|seed``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from esign.orgid.cli import app

runner = CliRunner()


def test_validate_prints_form_level_parent_and_qcvn_equivalent() -> None:
    result = runner.invoke(app, ["validate", "H49.22"])
    assert result.exit_code == 0, result.output
    assert "form: QĐ 20/2020" in result.output
    assert "level: 2" in result.output
    assert "Quảng Ninh" in result.output
    assert "parent: H49" in result.output
    assert "QCVN 102: 000.00.22.H49" in result.output


def test_validate_json_reads_the_qcvn_form() -> None:
    result = runner.invoke(app, ["validate", "--json", "000.00.18.G12"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "code": "G12.18",
        "form": "qcvn102",
        "level": 2,
        "kind": "government",
        "parent": "G12",
        "qcvn": "000.00.18.G12",
    }


def test_validate_says_when_there_is_no_qcvn_form() -> None:
    result = runner.invoke(app, ["validate", "H55.242"])
    assert result.exit_code == 0
    assert "QCVN 102: none (level-2 group '242' is not 2 digits wide)" in result.output


def test_validate_exits_1_with_the_rule_and_position_of_an_invalid_code() -> None:
    result = runner.invoke(app, ["validate", "H49..22"])
    assert result.exit_code == 1
    assert "empty group" in result.output
    assert "rule: empty-group" in result.output
    assert "position 5" in result.output


def test_convert_goes_both_ways_and_refuses_what_does_not_fit() -> None:
    assert runner.invoke(app, ["convert", "H49.22"]).output.strip() == "000.00.22.H49"
    assert runner.invoke(app, ["convert", "000.00.18.G12"]).output.strip() == "G12.18"
    refused = runner.invoke(app, ["convert", "H55.242"])
    assert refused.exit_code == 1
    assert "not convertible" in refused.output


def test_seed_lists_the_level1_codes_with_sources() -> None:
    result = runner.invoke(app, ["seed", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert {"G12", "H49", "H55"} <= {r["code"] for r in rows}
    assert all(r["source"] for r in rows)
    assert "Bộ Tài chính" in runner.invoke(app, ["seed"]).output
