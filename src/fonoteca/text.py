"""Text normalisation shared by search, word trends and LLM retrieval, so all of them agree on what a word is.

Folding is lower-case + compatibility decomposition (NFKD) + diacritics removed, so `informacion` finds `información`
and `IA` is one whole word that never matches inside `media`. It is done here, in Python, for the index as for the
queries, so the two can never disagree.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache


def _mark_class() -> str:
    """A regex class of the combining marks (all below U+20000, bar the variation selectors, which fold drops)."""
    ranges: list[list[int]] = []
    for code in range(0x20000):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" if b > a else re.escape(chr(a)) for a, b in ranges)


# A word: letters and digits, and the marks that folding keeps (Indic vowel signs…), which are part of the word
# they are written in: without them नमस्ते would be cut in two.
_WORD = re.compile(rf"(?:[^\W_]|[{_mark_class()}])+")
# Letters without a decomposition, plus the final sigma: str.lower() picks σ or ς from the context, and folding must
# not depend on context, or a word found one character at a time (word_spans) would differ from words().
_SPECIAL = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ς": "σ"}


# The accents of Latin-script text (Spanish, Portuguese, French…) after decomposition: removed by plain replaces,
# much faster than testing every character, and the rest of the text is then ASCII.
_LATIN_MARKS = ("\u0300", "\u0301", "\u0302", "\u0303", "\u0308", "\u0327")  # ` ´ ^ ~ ¨ ¸
ASCII_WORD = "[A-Za-z0-9]"  # a character of a word in ASCII text (_WORD there, without its long class of marks)
_ASCII_WORD = re.compile(ASCII_WORD + "+")


def fold(text: str) -> str:
    """Lower-case, decompose (NFKD) and strip diacritics: 'Información' -> 'informacion'."""
    folded = unicodedata.normalize("NFKD", text.lower())
    if folded.isascii():
        return folded
    for mark in _LATIN_MARKS:
        folded = folded.replace(mark, "")
    if folded.isascii():
        return folded
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    if any(ch in _SPECIAL for ch in folded):
        folded = "".join(_SPECIAL.get(ch, ch) for ch in folded)
    return folded


def words(text: str) -> list[str]:
    """Folded whole words of `text`, in order: the one definition of a word for the index, queries and trends."""
    quick = text.translate(_CUT)
    if quick.isascii():  # most text: folded a character at a time and cut at the spaces, 7x faster with a ¿
        return quick.split()
    folded = fold(text)
    return (_ASCII_WORD if folded.isascii() else _WORD).findall(folded)


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    return fold(ch)


# Characters that fold to exactly one ASCII character (ASCII itself, and Latin letters such as é, Ñ or ü), and the
# punctuation of Spanish and of typography, which cuts words as a space does: text made only of them folds character
# by character, so its words are those of the folded text, at the same offsets.
_ONE_TO_ONE = {
    code: fold(chr(code)) for code in range(0x250) if len(fold(chr(code))) == 1 and fold(chr(code)).isascii()
} | {ord(mark): " " for mark in "¿¡«»‹›‘’‚“”„–—…•"}
# words()'s shortcut (run for every segment indexed): _ONE_TO_ONE with every character that is not a letter or a digit
# made a space, so the words of text made only of those characters are what str.split() cuts, as ASCII_WORD would.
# A str indexed by code point: str.translate's fastest table (a dict is a third slower); a character past its end, or
# one that folds otherwise, stays as it is, not ASCII.
_CUT = "".join(
    chr(code) if code not in _ONE_TO_ONE else _ONE_TO_ONE[code] if _ONE_TO_ONE[code].isalnum() else " "
    for code in range(max(_ONE_TO_ONE) + 1)
)


def ascii_folded(text: str) -> str | None:
    """`text` folded one character at a time when all of it folds so into ASCII (most Latin-script text), else None:
    its words are then the runs of [A-Za-z0-9] (ASCII_WORD), at the same offsets as in `text`."""
    quick = text.translate(_ONE_TO_ONE)
    return quick if quick.isascii() else None


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, folded word) for each word of `text`, with offsets into `text`: the words of words(text), located
    so that a snippet can mark them (a word's span includes its combining marks, even in NFD text)."""
    quick = text.translate(_ONE_TO_ONE)
    if quick.isascii():  # the common case, and the fast one: no map from folded characters back to the text
        return [(m.start(), m.end(), m.group()) for m in _ASCII_WORD.finditer(quick)]
    folded, origin = folded_with_origin(text)
    return [(*text_span(text, origin, match.start(), match.end()), match.group()) for match in _WORD.finditer(folded)]


def folded_with_origin(text: str) -> tuple[str, list[int]]:
    """`text` folded one character at a time, and the index in `text` of each character of the folded text."""
    folded: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        part = _fold_char(ch)
        folded.append(part)
        origin.extend([i] * len(part))
    return "".join(folded), origin


def text_span(text: str, origin: list[int], start: int, end: int) -> tuple[int, int]:
    """The span of `text` that the folded span [start, end) came from, with the combining marks that trail it."""
    first, last = origin[start], origin[end - 1] + 1
    while last < len(text) and not _fold_char(text[last]):
        last += 1
    return first, last


def format_duration(seconds: float) -> str:
    """A duration as the archive's header writes it: '15d 5h 20m 39s'."""
    total = int(round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours}h {minutes}m {secs}s"


def stats_header(episodes: int, seconds: float) -> str:
    """The archive's header line (home page, `fonoteca stats`): 'Transcribed podcasts: 3 · Time transcribed: 0d 0h 4m
    12s'."""
    return f"Transcribed podcasts: {episodes} · Time transcribed: {format_duration(seconds)}"


def format_timestamp(seconds: float) -> str:
    """'1:02:03' or '2:03' for display next to a transcript line."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def parse_timestamp(clock: str) -> int:
    """The seconds of a written time: '1:02:03' -> 3723, '12:30' -> 750 (format_timestamp's, or with more digits)."""
    total = 0
    for part in clock.split(":"):
        total = total * 60 + int(part)
    return total


# Show notes and transcript text come from feeds: untrusted. Keep simple formatting and links, never scripts or styles.
_ALLOWED_TAGS = {"a", "p", "br", "b", "strong", "i", "em", "ul", "ol", "li", "blockquote", "code", "pre", "h3", "h4"}


def sanitize_html(html: str) -> str:
    """Untrusted HTML reduced to safe formatting: no script, no event handlers, no javascript: links."""
    import nh3

    return nh3.clean(
        html or "",
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment, paragraphs kept as line breaks."""
    import html as html_lib
    import re as re_lib

    text = re_lib.sub(r"(?i)<\s*(br|/p|/div|/li|/h\d)\s*/?>", "\n", html or "")
    text = html_lib.unescape(re_lib.sub(r"<[^>]+>", "", text))
    return re_lib.sub(r"\n\s*\n+", "\n\n", text).strip()


# What XML 1.0 cannot carry, even escaped: control characters but tab and line breaks, lone surrogates, U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Text as an XML document may carry it: the characters XML forbids (a transcript line may hold them) dropped."""
    return _NOT_XML.sub("", text)


def utc_datetime(iso: str | None) -> datetime | None:
    """An archive date as a timezone-aware datetime (the archive's own are UTC; a feed's date may have no zone, or
    not be a date at all: then None)."""
    try:
        stamp = datetime.fromisoformat(iso or "")
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
