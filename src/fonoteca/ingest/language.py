"""Language of a text, from the text itself: feeds often claim the wrong one (seed 001 says en-US and is Spanish)."""

from __future__ import annotations


def detect_text_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language, or None when there is too little text to tell."""
    if len(text.split()) < 3:
        return None
    import py3langid

    language, _score = py3langid.classify(text[:20_000])
    return language
