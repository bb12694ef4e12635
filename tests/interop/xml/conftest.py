"""The XML signing fixtures, shared with tests/esign/xml."""

from tests.esign.xml.conftest import ecdsa, rsa, signers

__all__ = ["ecdsa", "rsa", "signers"]
