"""text-normalization-challenge-russian-language: write Russian tokens as they are spoken; accuracy.

Split (as MLE-bench documents it): the same as the English challenge, on Kaggle's labelled
`ru_train.csv` (10,574,516 tokens): its unique `sentence_id`s, in file order, are split with
`train_test_split(test_size=0.1, random_state=0)` (9,515,325 train and 1,059,191 test tokens) and
each side's sentences are renumbered from 0 in order of first appearance. Public:
`ru_train.csv.zip`, `ru_test_2.csv.zip` (no `class`, no `after`) and `ru_sample_submission_2.csv.zip`
(`id, after` with `after = before`, `id = <sentence_id>_<token_id>`). Private: `answers.csv`
(`id, after`) and a copy of the sample submission. The metric is exact-match accuracy on `after`.

Deliberate differences from MLE-bench (shared with the English challenge, see that module):
- Text is read as text, so tokens such as "NA" or "null" are not turned into missing values.
- An empty `after` in a submission is rejected as missing.
"""

from __future__ import annotations

from mleredux.competitions.catalog import supported_entry
from mleredux.competitions.lite.text_normalization_challenge_english_language import TextNormalization
from mleredux.competitions.registry import register


class TextNormalizationRussian(TextNormalization):
    info = supported_entry("text-normalization-challenge-russian-language")
    prefix = "ru"
    language = "Russian"
    sample_submission_file = "ru_sample_submission_2.csv.zip"


register(TextNormalizationRussian())
