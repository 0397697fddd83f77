"""The language table written out in serving.languages is Whisper's (transformers' copy of openai/whisper's)."""

import pytest
from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

from serving.errors import BadParameter
from serving.languages import LANGUAGES as OURS
from serving.languages import TO_LANGUAGE_CODE as OUR_NAMES
from serving.languages import language_code


def test_the_table_is_whispers():
    assert OURS == LANGUAGES
    assert OUR_NAMES == TO_LANGUAGE_CODE


@pytest.mark.parametrize(("value", "code"), [("en", "en"), ("EN", "en"), ("english", "en"), ("Castilian", "es"),
                                             (" German ", "de")])
def test_a_code_or_an_english_name_gives_the_code(value, code):
    assert language_code(value) == code


def test_an_unknown_language_is_a_bad_parameter_naming_the_codes():
    with pytest.raises(BadParameter, match="klingon.*af, am, ar"):
        language_code("klingon")
