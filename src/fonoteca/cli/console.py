"""What the command line writes: the two consoles (stdout for results, stderr for progress, notes and errors), JSON
for scripts, and untrusted text (feed titles, show names, transcripts, model output) made safe to print.

Rich reads `[...]` in the strings it prints as markup: a title like `Close tag [/]` would raise MarkupError, and
`[link=...]` would make a link, and `:smile:` would print an emoji. Terminals read control characters: `ESC ]0;…`
retitles the window, `ESC [2J` clears it; bidirectional overrides (U+202E) make the terminal show text in another
order than it is (a file name `txt.exe` written backwards). `safe` makes a value printable as written, `safe_line`
keeps it on one line (a newline in a file name would start a line of its own in a report); SafeConsole strips
control characters from everything it writes, the last defence for a value that reached it without `safe`, and
prints emoji codes as written.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult
from rich.markup import escape
from rich.segment import Segment

# C0 and C1 control characters and DEL, except tab and newline: ESC, CSI and OSC start terminal escape sequences; and
# Unicode's bidirectional controls (the Arabic letter mark, LRM/RLM, embeddings, overrides and isolates), which reorder
# what a terminal shows.
_CONTROL = dict.fromkeys(
    [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F]
    + [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
# Line breaks, shown as their escapes where a value must stay on its line (U+2028/2029 are line and paragraph
# separators that some terminals break at).
_BREAKS = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def printable(text: object) -> str:
    """The text without control characters (tabs and newlines stay)."""
    return str(text).translate(_CONTROL)


def safe(text: object) -> str:
    """Untrusted text ready for Rich markup (console.print, table cells, progress descriptions): shown as written."""
    return escape(printable(text))


def safe_line(text: object) -> str:
    """`safe`, on one line: a newline or tab in the value (a file name may hold one) is shown as \\n or \\t."""
    return escape(printable(str(text).translate(_BREAKS)))


class _Stripped:
    """A renderable whose text segments lose their control characters; Rich's own control segments (cursor moves of
    a progress bar) and the styles it turns into escape sequences afterwards are untouched."""

    def __init__(self, renderable: ConsoleRenderable) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.renderable, options):
            yield segment if segment.control else Segment(printable(segment.text), segment.style)


class _StripControl(RenderHook):
    """Render hook: the last defence, for text that reached the console without `safe`."""

    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_Stripped(r) for r in renderables]


class SafeConsole(Console):
    """A Console that never writes a control character (but tab and newline) that it was given as text."""

    def __init__(self, **options: Any) -> None:
        super().__init__(emoji=False, **options)
        self.push_render_hook(_StripControl())


# soft_wrap: a message or header stays one line when the output is a pipe or a file, where Rich would otherwise wrap
# at 80 columns; tables are still laid out to the width.
console = SafeConsole(soft_wrap=True)
err_console = SafeConsole(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
