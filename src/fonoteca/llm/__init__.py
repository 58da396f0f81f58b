"""The language model on top of the archive: per-episode analyses and a streaming, citing chat, against any
OpenAI-compatible endpoint (default: LM Studio's address; offline: `fonoteca llm serve`, llama.cpp + SmolLM2)."""

from fonoteca.llm.analyze import KINDS, PROMPT_VERSIONS, Analyzer, episode_report
from fonoteca.llm.chat import ChatEvent, ChatTurn, retrieval_query
from fonoteca.llm.clean import clean_text, extract_json, strip_special_tokens
from fonoteca.llm.client import LLMClient
from fonoteca.llm.server import LocalServer, packaged_model_path

__all__ = [
    "KINDS",
    "PROMPT_VERSIONS",
    "Analyzer",
    "ChatEvent",
    "ChatTurn",
    "LLMClient",
    "LocalServer",
    "clean_text",
    "episode_report",
    "extract_json",
    "packaged_model_path",
    "retrieval_query",
    "strip_special_tokens",
]
