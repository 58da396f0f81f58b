"""Word error rate against a reference transcript, for the tests and `bench/transcribe.py`.

References come in different styles (lower-case without punctuation, or cased and punctuated), so both sides are
normalised the same way first: lower-case, punctuation dropped, whitespace collapsed. Accents are kept: in Spanish
they distinguish words.
"""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s']|_")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).lower().replace("’", "'")
    text = _PUNCT.sub(" ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    return " ".join(text.split())


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER (errors over reference words, all clips together), both sides normalised."""
    import jiwer

    return float(jiwer.wer([normalize(r) for r in references], [normalize(h) for h in hypotheses]))
