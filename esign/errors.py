"""One error tree for everything a caller of :mod:`esign` can cause.

Catch :class:`EsignError` to handle every library failure, or a subclass to be precise.
Each carries a message a person can act on; ``code`` is a stable machine-readable name that
the server maps onto its JSON errors.
"""

from __future__ import annotations


class EsignError(Exception):
    """Root of every error the library raises on purpose."""

    code: str = "esign_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidInput(EsignError, ValueError):
    """The input (a document, a parameter, an identifier) is malformed, hostile or not allowed."""

    code = "invalid_input"


class WeakAlgorithm(InvalidInput):
    """A weak algorithm (SHA-1, MD5) or a short key was used without being asked for by name."""

    code = "weak_algorithm"


class KeyAccessError(EsignError):
    """A key could not be reached: missing file, wrong password, absent or locked token."""

    code = "key_access"


class SigningError(EsignError):
    """Signing failed after the input was accepted (backend failure, TSA unreachable, ...)."""

    code = "signing_failed"


class VerificationError(EsignError):
    """Verification could not be carried out at all (as opposed to a signature that is invalid)."""

    code = "verification_failed"


class PKIError(EsignError):
    """Issuing or reading certificates, CRLs, OCSP responses or time-stamps failed."""

    code = "pki_error"


class MissingExtra(EsignError):
    """A feature needs an optional extra that is not installed."""

    code = "missing_extra"

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'esign[{extra}]'")
        self.extra = extra


def file_error_text(exc: OSError) -> str:
    """One line for a file the user named that cannot be read or written, the same in every command
    (``no such file: in.xml``), instead of Python's ``[Errno 2] No such file or directory: 'in.xml'``."""
    name = exc.filename
    if name is None:
        return exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {name}"
    if isinstance(exc, IsADirectoryError):
        return f"{name} is a folder, not a file"
    if isinstance(exc, PermissionError):
        return f"no permission to open {name}"
    return f"cannot open {name}: {exc.strerror or exc}"


__all__ = [
    "EsignError",
    "InvalidInput",
    "KeyAccessError",
    "MissingExtra",
    "PKIError",
    "SigningError",
    "VerificationError",
    "WeakAlgorithm",
    "file_error_text",
]
