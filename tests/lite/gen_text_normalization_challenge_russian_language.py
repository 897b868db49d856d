"""Raw text-normalization-challenge-russian-language: ru_*.csv.zip files, built like the English ones."""

from __future__ import annotations

from tests.lite.gen_text_normalization_challenge_english_language import make_spec

ID = "text-normalization-challenge-russian-language"

#: (class, before, after) tokens, Cyrillic mostly; the NA-like ones are real words to pandas' default reader.
RUSSIAN_TOKENS: tuple[tuple[str, str, str], ...] = (
    ("PLAIN", "дом", "дом"),
    ("PLAIN", "и", "и"),
    ("PUNCT", ",", ","),
    ("PUNCT", ".", "."),
    ("CARDINAL", "12", "двенадцать"),
    ("CARDINAL", "1", "один"),
    ("DATE", "1996 года", "тысяча девятьсот девяносто шестого года"),
    ("MEASURE", "5 км", "пять километров"),
    ("LETTERS", "NA", "эн эй"),
    ("LETTERS", "N/A", "эн эй"),
    ("PLAIN", "null", "null"),
    ("PLAIN", "None", "None"),
    ("PLAIN", "nan", "nan"),
    ("PLAIN", "NA", "NA"),
    ("PLAIN", "«Ёлка»", "«Ёлка»"),
)

SPEC = make_spec(ID, "ru", RUSSIAN_TOKENS)
