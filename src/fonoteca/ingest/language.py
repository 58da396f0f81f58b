"""Languages: the one detector (from the text itself: feeds often claim the wrong language, seed 001 says en-US and
is Spanish) and the one list of names the language model is told to write in."""

from __future__ import annotations

# ISO 639-1 codes and the English names prompts use ("Answer in Spanish"): a small model follows a name better than
# a code. Codes not listed are used as they are.
LANGUAGE_NAMES = {
    "es": "Spanish",
    "en": "English",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "ca": "Catalan",
    "gl": "Galician",
    "eu": "Basque",
    "nl": "Dutch",
    "ja": "Japanese",
    "zh": "Chinese",
    "ru": "Russian",
}


def language_name(code: str) -> str:
    """The English name of an ISO 639-1 code, or the code itself when it is not in LANGUAGE_NAMES."""
    return LANGUAGE_NAMES.get(code, code)


def detect_text_language(text: str, *, min_words: int = 3) -> str | None:
    """ISO 639-1 code of the text's language, or None when it has fewer than `min_words` words to tell by."""
    if len(text.split()) < min_words:
        return None
    import py3langid  # imported on use: with numpy it takes a third of a second

    language, _score = py3langid.classify(text[:20_000])
    return language
