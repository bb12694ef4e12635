"""The examples in the docstrings of esign.orgid and esign.identity are true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "esign.orgid.code",
    "esign.orgid.names",
    "esign.identity.identifiers",
    "esign.identity.subject",
    "esign.identity.signer",
    "esign.identity.masking",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
