"""Reading what a model actually writes: leaked chat-template tokens, reasoning blocks, code fences, broken JSON.

Small local models leak their template into answers (seed 001's book list came back with "Carl<|im_start|> Mendoza"),
wrap JSON in ``` fences, or prefix it with "Salida JSON:". Everything the model says goes through here before it is
shown, parsed or stored.
"""

from __future__ import annotations

import json
import re
from typing import Any

# <|im_start|>, <|im_end|>, <|endoftext|>, <|eot_id|>, <|start_header_id|>…, and the role word that follows a leaked
# <|im_start|> at the beginning of a line ("<|im_start|>assistant\n").
_PIPE_TOKEN = re.compile(r"<\|[a-zA-Z0-9_]{1,40}\|>")
_ROLE_AFTER_START = re.compile(r"<\|im_start\|>(?:system|user|assistant)\s*\n")
_BRACKET_TOKENS = re.compile(r"</?s>|\[/?INST\]|<<SYS>>|<</SYS>>|<start_of_turn>|<end_of_turn>|<eos>|<bos>|<pad>|<unk>")
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1>|$)", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


def strip_special_tokens(text: str) -> str:
    """Remove leaked template tokens and reasoning blocks: 'Carl<|im_start|> Mendoza' -> 'Carl Mendoza'."""
    text = _THINK.sub("", text)
    text = _ROLE_AFTER_START.sub("", text)
    text = _PIPE_TOKEN.sub("", text)
    text = _BRACKET_TOKENS.sub("", text)
    # A token removed between two words leaves two spaces ("Carl  Mendoza"); one is enough.
    return re.sub(r"[ \t]{2,}", " ", text)


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
    text = strip_special_tokens(text).strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError(f"no JSON object in the answer: {text[:120]!r}")
    candidate = text[min(starts) :]
    decoder = json.JSONDecoder(strict=False)  # raw newlines inside strings are common and harmless
    for attempt in (candidate, re.sub(r",\s*([}\]])", r"\1", candidate)):
        try:
            value, _end = decoder.raw_decode(attempt)
            return _strip_strings(value)
        except json.JSONDecodeError as exc:
            error = exc
    raise ValueError(f"the answer is not valid JSON ({error.msg} at character {error.pos})")


def _strip_strings(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return [_strip_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip_strings(v) for k, v in value.items()}
    return value


def limit_words(text: str, max_words: int) -> str:
    """At most `max_words` words; an overshooting answer is cut at the limit and marked with an ellipsis."""
    words = text.split()
    if len(words) <= max_words:
        return text.strip()
    return " ".join(words[:max_words]).rstrip(",;:—-") + "…"
