"""validate_path and async_validate_path take exactly the parameters the one question reader (_Question.read) takes."""

from __future__ import annotations

import inspect

from esign.trust import path


def test_both_public_forms_take_exactly_the_parameters_the_question_reads() -> None:
    read = list(inspect.signature(path._Question.read).parameters)
    for public in (path.validate_path, path.async_validate_path):
        assert list(inspect.signature(public).parameters) == read, public.__name__
