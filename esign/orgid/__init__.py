"""Organization electronic identifier codes: parse, validate, format, hierarchy.

QĐ 20/2020/QĐ-TTg (amended by QĐ 09/2025/QĐ-TTg) codes such as ``H49.22`` and their QCVN 102:2016
form ``000.00.22.H49``; a seed list of level-1 codes; Vietnamese name folding for search.
Pure functions and value objects; the registry with storage lives in the server.
"""

from esign.orgid.code import (
    LEVEL1_LETTERS,
    MAX_LENGTH,
    Level1Kind,
    OrgIdentifier,
    OrgIdError,
    OrgIdForm,
    OrgIdRule,
    detect_form,
    is_valid,
)
from esign.orgid.names import fold_vietnamese
from esign.orgid.seed import CodeStatus, Level1Entry, load_level1

__all__ = [
    "LEVEL1_LETTERS",
    "MAX_LENGTH",
    "CodeStatus",
    "Level1Entry",
    "Level1Kind",
    "OrgIdError",
    "OrgIdForm",
    "OrgIdRule",
    "OrgIdentifier",
    "detect_form",
    "fold_vietnamese",
    "is_valid",
    "load_level1",
]
