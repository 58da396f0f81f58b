"""Text normalisation shared by search, word trends and LLM retrieval, so all of them agree on what a word is.

Folding is lower-case + accents removed (the same as tantivy's lowercase + ascii_fold filters), so `informacion`
finds `información` and `IA` is one whole word that never matches inside `media`.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits, like tantivy's simple tokenizer
_SPECIAL = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th"}


def _latin_table() -> dict[int, str]:
    table = {}
    for code in range(0xC0, 0x250):
        base = "".join(c for c in unicodedata.normalize("NFKD", chr(code)) if not unicodedata.combining(c))
        if base != chr(code) and base.isascii():
            table[code] = base.lower()
    return table


_LATIN = _latin_table()


def fold(text: str) -> str:
    """Lower-case and strip diacritics: 'Información' -> 'informacion'."""
    # Fast path for Latin text (Spanish, English, Portuguese…): a translate table instead of Unicode decomposition.
    quick = text.lower().translate(_LATIN)
    if quick.isascii():
        return quick
    decomposed = unicodedata.normalize("NFKD", quick)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    if any(ch in _SPECIAL for ch in stripped):
        stripped = "".join(_SPECIAL.get(ch, ch) for ch in stripped)
    return stripped


def words(text: str) -> list[str]:
    """Folded whole words of `text`, in order."""
    return _WORD.findall(fold(text))


def format_duration(seconds: float) -> str:
    """The seed's header format: '15d 5h 20m 39s'."""
    total = int(round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours}h {minutes}m {secs}s"


def stats_header(episodes: int, seconds: float) -> str:
    """The seed's header line: 'Transcribed podcasts: 3 · Time transcribed: 0d 0h 4m 12s'."""
    return f"Transcribed podcasts: {episodes} · Time transcribed: {format_duration(seconds)}"


def format_timestamp(seconds: float) -> str:
    """'1:02:03' or '2:03' for display next to a transcript line."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


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
