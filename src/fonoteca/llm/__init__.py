"""The language model on top of the archive: per-episode analyses and a streaming, citing chat, against any
OpenAI-compatible endpoint (default: LM Studio's address; offline: `fonoteca llm serve`, llama.cpp + SmolLM2)."""

from fonoteca.llm.analyze import KINDS, Analyzer, prompt_version
from fonoteca.llm.chat import ChatEvent, ChatTurn, retrieval_query
from fonoteca.llm.clean import clean_text, extract_json, strip_special_tokens
from fonoteca.llm.client import Endpoint, LLMClient
from fonoteca.llm.prompts import Prompt
from fonoteca.llm.server import LocalServer, smollm2_gguf_path

__all__ = [
    "KINDS",
    "Analyzer",
    "ChatEvent",
    "ChatTurn",
    "Endpoint",
    "LLMClient",
    "LocalServer",
    "Prompt",
    "clean_text",
    "extract_json",
    "prompt_version",
    "retrieval_query",
    "smollm2_gguf_path",
    "strip_special_tokens",
]
