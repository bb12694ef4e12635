"""The boundary where esign imports libraries that warn about code paths esign never takes.

pyHanko imports cryptography's DSA classes (to recognise DSA keys), and cryptography 46–49 warn
``CryptographyDeprecationWarning: DSA is deprecated`` on that import. esign signs with RSA, ECDSA and
EdDSA only, so the warning told every user of ``esign pdf`` about nothing they could act on. The
filter below is scoped (``warnings.catch_warnings``) to the imports it wraps: it changes no global
filter and patches nothing, and DSA used at run time still warns.

pyHanko also logs every failed certificate path build at WARNING with a traceback, though the
result is in esign's report (a signer without revocation data is an expected INDETERMINATE). With
no logging configured, Python's last-resort handler printed those tracebacks to stderr. Following the
logging HOWTO's advice for libraries, :func:`import_pyhanko` gives pyHanko's loggers a
``NullHandler``: an application that configures logging still receives every record (they propagate
as before); one that does not sees no traceback for an expected result.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.utils import CryptographyDeprecationWarning

QUIETED = ("DSA is deprecated",)
"""The starts of the warning messages quieted during these imports."""
PYHANKO_LOGGERS = ("pyhanko", "pyhanko_certvalidator")


@contextmanager
def quiet_imports() -> Iterator[None]:
    """Import third-party modules inside this block: the warnings of :data:`QUIETED` are dropped, and
    pyHanko's loggers get their ``NullHandler`` (see the module note)."""
    with warnings.catch_warnings():
        for message in QUIETED:
            warnings.filterwarnings("ignore", message=message, category=CryptographyDeprecationWarning)
        yield
    for name in PYHANKO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def import_pyhanko() -> None:
    """Load pyHanko's signing modules once, quietly; later imports of them are silent (already loaded)."""
    with quiet_imports():
        import pyhanko.sign  # noqa: F401  # the package whose import touches cryptography's DSA


__all__ = ["PYHANKO_LOGGERS", "QUIETED", "import_pyhanko", "quiet_imports"]
