"""docs/edxml.md's exchange node walk-through, run as written: a dev server, the department's letter
through the node to three communes, their 01/03/06 answers, the history."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.guide_script import REPO, run_guide_block

GUIDE = REPO / "docs" / "edxml.md"
PORT = 8762  # the walk-through's own
pytestmark = pytest.mark.slow


def test_the_exchange_walkthrough_runs_as_written(tmp_path: Path) -> None:
    returncode, text = run_guide_block(GUIDE, "bash", PORT, tmp_path)
    assert returncode == 0, text
    assert '"deliveries":[["H49.31","local","inbox"],["H49.32","local","inbox"],["H49.33","local","inbox"]]' in text
    assert '"signed_by_node":true' in text
    assert "SignedInfo References (ok/all): 1/1" in text  # xmlsec1 on the fetched package
    assert "Vết chuyển: H49 " in text  # the node's hop, as the commune's `esign edxml show` prints it
    expected = (
        '{"hops":["H49.22","H49"],"deliveries":[["H49.31","acked","01"],["H49.32","acked","03"],'
        '["H49.33","acked","06"]]}\n["status","H49.31","01"]\n["status","H49.32","03"]\n["status","H49.33","06"]\n'
    )
    assert text.endswith(expected), text[-600:]
