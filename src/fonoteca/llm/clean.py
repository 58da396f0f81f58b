"""Reading what a model actually writes: leaked chat-template tokens, reasoning blocks, code fences, broken JSON.

Small local models leak their template into answers (seed 001's book list came back with "Carl<|im_start|> Mendoza"),
wrap JSON in ``` fences, or prefix it with "Salida JSON:". Everything the model says goes through here before it is
shown, parsed or stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic_core import from_json

# <|im_start|>, <|im_end|>, <|endoftext|>, <|eot_id|>, <|start_header_id|>…, and the role word that follows a leaked
# <|im_start|> at the beginning of a line ("<|im_start|>assistant\n").
_PIPE_TOKEN = re.compile(r"<\|[a-zA-Z0-9_]{1,40}\|>")
_ROLE_AFTER_START = re.compile(r"<\|im_start\|>(?:system|user|assistant)\s*\n")
_BRACKET_TOKENS = re.compile(r"</?s>|\[/?INST\]|<<SYS>>|<</SYS>>|<start_of_turn>|<end_of_turn>|<eos>|<bos>|<pad>|<unk>")
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)

# What may still become one of the above when more text arrives (a streamed answer is cleaned piece by piece).
_UNFINISHED_THINK = re.compile(r"<(think|thinking|reasoning)>(?!.*</\1>)", re.DOTALL | re.IGNORECASE)
_UNFINISHED_TOKEN = re.compile(r"(?:<<?/?\|?[A-Za-z0-9_]{0,40}\|?|\[/?I?N?S?T?|<\|im_start\|>[a-z]{0,9}[ \t]*)$")

# Where something was removed: marked first, so the spaces around it can be tidied with what follows in view.
GAP = "\x00"
_GAP_BETWEEN_SPACES = re.compile(r"[ \t]+\x00[\x00 \t]*[ \t]")  # "y [7] y" -> "y y"
# "celebró [7]." -> "celebró."; also before a line end
_GAP_BEFORE_PUNCTUATION = re.compile(r"[ \t]*\x00[\x00 \t]*(?=[.,;:!?…)\]\n])")
_GAP_AT_END = re.compile(r"[ \t]*\x00[\x00 \t]*$")


def mark_special_tokens(text: str) -> str:
    """Leaked template tokens and reasoning blocks replaced by GAP (see close_gaps)."""
    text = _THINK.sub(GAP, text)
    text = _ROLE_AFTER_START.sub(GAP, text)
    text = _PIPE_TOKEN.sub(GAP, text)
    return _BRACKET_TOKENS.sub(GAP, text)


def close_gaps(text: str, *, final: bool = True) -> str:
    """`text` without GAP marks, and without the space a removal would leave doubled or before punctuation.
    `final`: nothing follows, so a gap at the end takes the spaces before it along."""
    if final:
        text = _GAP_AT_END.sub("", text)
    text = _GAP_BETWEEN_SPACES.sub(" ", text)
    text = _GAP_BEFORE_PUNCTUATION.sub("", text)
    return text.replace(GAP, "")


def unfinished_at(text: str) -> int:
    """Where a special token or reasoning block that is not complete yet may begin in `text` (len(text): nowhere).
    A streamed answer is cleaned up to there, and the rest waits for the next piece."""
    cuts = [m.start() for m in (_UNFINISHED_THINK.search(text), _UNFINISHED_TOKEN.search(text)) if m]
    return min(cuts, default=len(text))


def strip_special_tokens(text: str) -> str:
    """Remove leaked template tokens and reasoning blocks: 'Carl<|im_start|> Mendoza' -> 'Carl Mendoza'."""
    return close_gaps(mark_special_tokens(text))


def clean_text(text: str) -> str:
    """A prose answer as it should be shown: no leaked tokens, no surrounding fence or quotes."""
    text = strip_special_tokens(text).strip()
    fenced = _FENCE.fullmatch(text)
    if fenced:
        text = fenced.group(1).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'«»“”":
        text = text[1:-1].strip()
    if text.startswith("“") and text.endswith("”"):
        text = text[1:-1].strip()
    return text


def extract_json(text: str) -> Any:
    """The JSON value in a model's answer, however wrapped. Raises ValueError with what was wrong.

    Tolerates code fences, leaked special tokens (also inside strings), a prose prefix such as "Salida JSON:", text
    after the value, and trailing commas.
    """
    candidate = _json_start(text)
    decoder = json.JSONDecoder(strict=False)  # raw newlines inside strings are common and harmless
    for attempt in (candidate, re.sub(r",\s*([}\]])", r"\1", candidate)):
        try:
            value, _end = decoder.raw_decode(attempt)
            return _strip_strings(value)
        except json.JSONDecodeError as exc:
            error = exc
    raise ValueError(f"the answer is not valid JSON ({error.msg} at character {error.pos})")


def extract_cut_json(text: str) -> Any:
    """The complete items of a JSON value that the token limit cut short: a string being written when the answer
    stopped is left out, open lists and objects are closed. Raises ValueError when no JSON value begins.

    (pydantic_core's partial parsing, the parser pydantic itself validates with.)"""
    candidate = _json_start(text, fenced=False)
    try:
        return _strip_strings(from_json(candidate, allow_partial=True))
    except ValueError as exc:
        raise ValueError(f"the cut answer is not even the start of a JSON value ({exc})") from None


def _json_start(text: str, *, fenced: bool = True) -> str:
    """`text` from where its JSON value begins, without leaked tokens and, when `fenced`, from inside a code fence
    (a cut answer has no closing fence: an opening one is skipped like any prose before the value)."""
    text = strip_special_tokens(text).strip()
    fence = _FENCE.search(text) if fenced else None
    if fence:
        text = fence.group(1).strip()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError(f"no JSON object in the answer: {text[:120]!r}")
    return text[min(starts) :]


def _strip_strings(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [_strip_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip_strings(v) for k, v in value.items()}
    return value


def limit_words(text: str, max_words: int, *, uncounted: re.Pattern[str] | None = None) -> str:
    """At most `max_words` words; an overshooting answer is cut at the limit and marked with an ellipsis. What
    `uncounted` matches whole (a summary's citation markers, "[2]." after a word) is not a word."""
    tokens = text.split()
    counted = 0
    for position, token in enumerate(tokens):
        if uncounted is not None and uncounted.fullmatch(token):
            continue
        counted += 1
        if counted > max_words:
            return " ".join(tokens[:position]).rstrip(",;:—-") + "…"
    return text.strip()
