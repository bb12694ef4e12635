"""Run a verifier on one hostile document and check what must hold, whatever the input.

* It returns reports or raises an :class:`~esign.errors.EsignError`; anything else is a defect.
* It returns within ``timeout`` seconds (a worker thread is watched; a hang is a defect).
* When the signed bytes were changed, no report is TOTAL-PASSED.

An ``EsignError`` raised *because of* a foreign exception (``__cause__``) is allowed, but it means
the input reached a last-resort boundary: the long runs count those as findings worth a look.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

from esign.errors import EsignError
from esign.report import ValidationReport


class FuzzDefect(AssertionError):
    """The verifier broke a promise on some input: a crash, a hang, or a pass after tampering."""


@dataclass(frozen=True)
class Outcome:
    """What the verifier did with one input."""

    reports: tuple[ValidationReport, ...] = ()
    error: EsignError | None = None

    @property
    def passed(self) -> bool:
        return any(r.passed for r in self.reports)

    @property
    def kind(self) -> str:
        """``refused`` (an EsignError), or the indications reported, for run statistics."""
        if self.error is not None:
            return f"refused ({self.error.__class__.__name__})"
        return ",".join(sorted({r.indication.value for r in self.reports})) or "no signature found"

    @property
    def converted(self) -> BaseException | None:
        """The foreign exception behind ``error``, when a last-resort boundary turned one into ours."""
        cause = self.error.__cause__ if self.error is not None else None
        return cause if cause is not None and not isinstance(cause, EsignError) else None


def run_bounded(verify: Callable[[bytes], list[ValidationReport]], data: bytes, *, timeout: float) -> Outcome:
    """Call ``verify(data)`` in a watched thread; raise :class:`FuzzDefect` on a crash or a hang."""
    result: list[Outcome] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(Outcome(reports=tuple(verify(data))))
        except EsignError as exc:
            result.append(Outcome(error=exc))
        except BaseException as exc:  # everything else is what we are looking for
            failure.append(exc)

    worker = threading.Thread(target=work, name="fuzz-verify", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise FuzzDefect(f"the verifier did not return within {timeout:g} s on a {len(data)}-byte input")
    if failure:
        exc = failure[0]
        raise FuzzDefect(f"the verifier raised {exc.__class__.__name__}: {exc}") from exc
    return result[0]


def check(
    verify: Callable[[bytes], list[ValidationReport]], data: bytes, *, signed_changed: bool, timeout: float
) -> Outcome:
    """:func:`run_bounded`, then: no TOTAL-PASSED report when bytes under the signature changed."""
    outcome = run_bounded(verify, data, timeout=timeout)
    if signed_changed and outcome.passed:
        raise FuzzDefect("a report is TOTAL-PASSED although bytes covered by the signature were changed")
    return outcome


class DrawnChoices:
    """Mutation choices drawn from hypothesis, so a failing case shrinks and replays."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))

    def raw(self, size: int) -> bytes:
        return self.data.draw(st.binary(min_size=size, max_size=size))
