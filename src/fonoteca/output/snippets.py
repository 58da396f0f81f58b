"""A search hit's snippet: its text, cut around the first match when long, with the matched words marked.

A hit carries its whole text and the character ranges its query's words matched (`Hit.highlights`); the web renders
them here as HTML (`snippet_html`: escaped, matches in <b>, what the API's and `--json`'s `snippet` is) and the CLI
as Rich text from the same pieces (`snippet_pieces`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

SNIPPET_CHARS = 320


def snippet_pieces(text: str, highlights: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The snippet as (piece, highlighted) pairs, in order; a text longer than SNIPPET_CHARS is cut around its first
    highlight, at spaces (never inside a word), with … where cut."""
    start, end = 0, len(text)
    if end > SNIPPET_CHARS:
        focus, focus_end = highlights[0] if highlights else (0, 0)
        start = max(0, min(focus - SNIPPET_CHARS // 4, len(text) - SNIPPET_CHARS))
        end = start + SNIPPET_CHARS
        if start > 0:
            space = text.find(" ", start, focus)
            start = space + 1 if space != -1 else start
        if end < len(text):
            space = text.rfind(" ", focus_end, end)
            end = space if space != -1 else end
    pieces = [("… ", False)] if start > 0 else []
    cursor = start
    for a, b in highlights:
        if a >= cursor and b <= end:
            pieces += [(text[cursor:a], False), (text[a:b], True)]
            cursor = b
    pieces.append((text[cursor:end], False))
    if end < len(text):
        pieces.append((" …", False))
    return [(piece, marked) for piece, marked in pieces if piece]


def snippet_html(text: str, highlights: Sequence[tuple[int, int]]) -> str:
    """The snippet as HTML: escaped text, the highlighted words in <b>."""
    return "".join(
        f"<b>{html.escape(piece)}</b>" if marked else html.escape(piece)
        for piece, marked in snippet_pieces(text, highlights)
    )
