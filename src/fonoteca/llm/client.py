"""One OpenAI-compatible endpoint (LM Studio, Ollama, llama.cpp's server, vLLM, OpenAI) behind the `openai` client.

check() is the one call that asks the server what it has (its models, the one to use, an embeddings model); the
requests check it first if nothing did, and the properties only read what it found. Every failure the user can act
on becomes an LLMError with one line saying what to do; structured answers use the
best response format the server accepts (JSON schema, then llama.cpp's schema-in-json_object, then JSON mode, then a
plain prompt) and are parsed defensively, with one retry that shows the model its validation error.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar, get_origin

import httpx
import openai
from pydantic import BaseModel, ValidationError

from fonoteca.errors import LLMError
from fonoteca.llm.clean import clean_text, extract_cut_json, extract_json
from fonoteca.settings import Settings

Model = TypeVar("Model", bound=BaseModel)

SERVE_HINT = "start one with `fonoteca llm serve` (or LM Studio / Ollama) or point FONOTECA_LLM_BASE_URL at yours"

# Ways of asking for JSON, most precise first. A server that rejects one is asked the next way, and remembered.
_FORMATS = ("json_schema", "json_object_schema", "json_object", "prompt")

CHARS_PER_TOKEN_ESTIMATE = 3.0  # conservative for es/en text with BPE vocabularies; used when the server cannot count
PROBLEM_CHARS = 300  # of a validation error shown to the model on the retry


@dataclass(frozen=True)
class Endpoint:
    """What LLMClient.check() found at the server."""

    listed: tuple[str, ...] | None  # the models it lists; None when it cannot list them (no /models)
    model: str  # the one requests name: the configured model, else the first listed
    embedding_model: str  # "" when there is none (FONOTECA_EMBEDDINGS=endpoint then needs one named)

    @property
    def model_label(self) -> str:
        """The model's name without a local path, as stored with analyses."""
        return self.model.replace("\\", "/").rsplit("/", 1)[-1]


class LLMClient:
    """A connection to the configured endpoint, shared by analyses (sync) and chat (async streaming)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.llm_base_url.rstrip("/")
        common: dict[str, Any] = {
            "base_url": self.base_url,
            "api_key": settings.llm_api_key.get_secret_value() or "not-needed",
            "timeout": httpx.Timeout(settings.llm_timeout, connect=5.0),
            "max_retries": 0,  # a server that is down should say so at once, not after back-off
        }
        self._client_options = common
        self.sync = openai.OpenAI(**common)
        self._async: tuple[asyncio.AbstractEventLoop, openai.AsyncOpenAI] | None = None
        self._endpoint: Endpoint | None = None  # what check() found; None until a check succeeded
        self._format_index = 0
        self._tokenizer: str | None = None  # "llama-cpp-python" | "llama.cpp" | "estimate", found on first use
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # requests made, by purpose: lets tests and progress see map-reduce work

    @property
    def aio(self) -> openai.AsyncOpenAI:
        """The async client of the running event loop: its connection pool cannot outlive the loop it was made in
        (each `fonoteca ask` is one asyncio.run; the web server has one loop for good)."""
        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            self._async = (loop, openai.AsyncOpenAI(**self._client_options))
        return self._async[1]

    async def aclose(self) -> None:
        """Close the async connection pool while its event loop still runs (at app shutdown, after `ask`)."""
        if self._async is not None and self._async[0] is asyncio.get_running_loop():
            await self._async[1].close()
        self._async = None

    # -- endpoint and model ---------------------------------------------------------------------------------------

    def check(self) -> Endpoint:
        """Ask the server which models it has, check the configured one against them (else take the first listed) and
        find the embeddings model; remember and return what was found. Raises LLMError when the server does not
        answer, lists no model, or lacks the configured one; nothing is remembered then, so the next check asks
        again (the server may be started, or a model loaded, in the meantime)."""
        listed = self._list_models()
        configured = self.settings.llm_model or None
        # llama.cpp's server ignores the model's name and would answer with whatever it loaded, which would then be
        # stored under the wrong name. A server that cannot list its models is trusted; Ollama answers "llama3" as
        # "llama3:latest".
        if configured and listed is not None and configured not in listed and f"{configured}:latest" not in listed:
            raise LLMError(
                f"the configured model {configured!r} is not listed by the server at {self.base_url}; it has: "
                f"{', '.join(listed) or 'none'}",
                "set FONOTECA_LLM_MODEL to one of them",
            )
        if configured:
            model = configured
        elif listed is None:
            raise LLMError(
                f"nothing at {self.base_url}/models looks like an OpenAI-compatible API",
                "check FONOTECA_LLM_BASE_URL (it usually ends in /v1)",
            )
        elif not listed:
            raise LLMError(
                f"the language model server at {self.base_url} lists no models",
                "load a model in it (LM Studio: load one; Ollama: `ollama pull NAME`) or run `fonoteca llm serve`",
            )
        else:
            model = listed[0]
        self._endpoint = Endpoint(listed, model, self._embedding_model_of(listed))
        return self._endpoint

    def checked(self) -> Endpoint:
        """What the last check() found, checking now if none succeeded yet: what every request starts with."""
        return self._endpoint or self.check()

    def _list_models(self) -> tuple[str, ...] | None:
        """The models the server lists, None when it has no /models (404)."""
        try:
            return tuple(m.id for m in self.sync.models.list().data)
        except openai.NotFoundError:
            return None
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc

    def _embedding_model_of(self, listed: tuple[str, ...] | None) -> str:
        """The configured embeddings model ("none" turns them off), else a listed model named *embed*, else ""."""
        configured = self.settings.llm_embedding_model.strip()
        if configured.lower() in ("none", "off", "no"):
            return ""
        return configured or next((m for m in listed or () if "embed" in m.lower()), "")

    @property
    def endpoint(self) -> Endpoint:
        """What check() found. Reading it never contacts the server: call check() (or make a request) first."""
        if self._endpoint is None:
            raise RuntimeError("the endpoint was not checked yet: call LLMClient.check() first")
        return self._endpoint

    @property
    def model(self) -> str:
        return self.endpoint.model

    @property
    def model_label(self) -> str:
        return self.endpoint.model_label

    @property
    def embedding_model(self) -> str:
        return self.endpoint.embedding_model

    @property
    def json_mode(self) -> str:
        """How structured answers are asked for now: json_schema, json_object_schema, json_object or prompt. Starts
        with the most precise and moves on, for good, when the server rejects one (see _structured_raw)."""
        return _FORMATS[self._format_index]

    def _error(self, exc: Exception) -> LLMError:
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(
                f"the language model server at {self.base_url} did not answer within {self.settings.llm_timeout:g} s",
                "try a smaller model or a larger FONOTECA_LLM_TIMEOUT",
            )
        if isinstance(exc, openai.APIConnectionError):
            return LLMError(f"no language model server answers at {self.base_url}", SERVE_HINT)
        if isinstance(exc, openai.AuthenticationError):
            return LLMError(
                f"the language model server at {self.base_url} refused the API key", "set FONOTECA_LLM_API_KEY"
            )
        if isinstance(exc, openai.NotFoundError):
            model = self._endpoint.model if self._endpoint else self.settings.llm_model
            return LLMError(
                f"the language model server at {self.base_url} answered 404 for model {model!r}: {_error_detail(exc)}",
                "check FONOTECA_LLM_BASE_URL (it usually ends in /v1) and FONOTECA_LLM_MODEL",
            )
        if isinstance(exc, openai.APIStatusError):
            detail = _error_detail(exc)
            return LLMError(
                f"the language model server at {self.base_url} answered {exc.status_code}: {detail}",
                "check the server's log; a shorter input or a larger context (FONOTECA_LLM_CONTEXT) may help",
            )
        return LLMError(f"the language model server at {self.base_url} failed: {exc}", SERVE_HINT)

    # -- completions ----------------------------------------------------------------------------------------------

    def _request(self, messages: list[dict[str, str]], max_tokens: int, **extra: Any) -> dict[str, Any]:
        return {
            "model": self.checked().model,
            "messages": messages,
            "temperature": self.settings.llm_temperature,
            "max_tokens": max_tokens,
            **extra,
        }

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int = 512, purpose: str = "complete") -> str:
        """The model's cleaned answer to a conversation."""
        self.calls[purpose] += 1
        try:
            response = self.sync.chat.completions.create(**self._request(messages, max_tokens))
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        return clean_text(response.choices[0].message.content or "")

    def structured(
        self,
        messages: list[dict[str, str]],
        answer: type[Model],
        *,
        max_tokens: int = 512,
        purpose: str = "structured",
    ) -> Model:
        """An answer validated as `answer`; one retry shows the model its error. Raises LLMError if still invalid.
        An answer the token limit cut short is not asked again when what it finished is valid: that is the answer."""
        schema = answer.model_json_schema()
        conversation = list(messages)
        problem = ""
        for _attempt in range(2):
            raw, cut = self._structured_raw(conversation, schema, answer.__name__, max_tokens, purpose)
            try:
                return answer.model_validate(extract_json(raw))
            except (ValueError, ValidationError) as exc:
                problem = _short_problem(exc)
                if cut:  # asked again, a model that rambles past the limit would be cut again: keep what it finished
                    finished = finished_part(raw, answer)
                    if finished is not None:
                        return finished
                conversation = [
                    *messages,
                    {"role": "assistant", "content": raw},
                    {
                        "role": "user",
                        "content": retry_instruction(problem, schema),
                    },
                ]
        raise LLMError(
            f"the model {self.model_label} did not give a valid {answer.__name__} answer twice ({problem})",
            "nothing was stored; try again, or use a larger model (FONOTECA_LLM_MODEL)",
        )

    @staticmethod
    def structured_room(answer: type[BaseModel], max_tokens: int) -> int:
        """Tokens a structured request needs besides its own messages, at worst: its answer, and on the retry the
        previous answer plus the error and the schema (more than the schema alone that JSON mode without schema adds
        to the first request). Callers leave this much of the context free so that a retry cannot overflow it."""
        retry = estimate_tokens(retry_instruction("x" * PROBLEM_CHARS, answer.model_json_schema()))
        return max_tokens + retry + max_tokens

    def _structured_raw(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str, max_tokens: int, purpose: str
    ) -> tuple[str, bool]:
        """The raw answer, and whether the token limit cut it short."""
        while True:
            fmt = _FORMATS[self._format_index]
            extra: dict[str, Any] = {}
            sent = messages
            if fmt == "json_schema":
                extra["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": True},
                }
            elif fmt == "json_object_schema":
                extra["response_format"] = {"type": "json_object", "schema": schema}
            elif fmt == "json_object":
                extra["response_format"] = {"type": "json_object"}
            schema_text = json.dumps(schema, ensure_ascii=False)
            if fmt in ("json_object", "prompt") and schema_text not in messages[-1]["content"]:
                # Without a schema the server can enforce, the prompt has to carry it (the retry's already does).
                sent = [
                    *messages[:-1],
                    {
                        "role": messages[-1]["role"],
                        "content": f"{messages[-1]['content']}\n\nAnswer with only a JSON object following this "
                        f"schema: {schema_text}",
                    },
                ]
            self.calls[purpose] += 1
            try:
                response = self.sync.chat.completions.create(**self._request(sent, max_tokens, **extra))
                choice = response.choices[0]
                return choice.message.content or "", choice.finish_reason == "length"
            except openai.APIStatusError as exc:
                if fmt == "prompt" or not _rejects_format(exc):
                    raise self._error(exc) from exc
                with self._lock:
                    self._format_index = max(self._format_index, _FORMATS.index(fmt) + 1)
            except openai.OpenAIError as exc:
                raise self._error(exc) from exc

    async def stream(self, messages: list[dict[str, str]], *, max_tokens: int = 512) -> AsyncIterator[str]:
        """Text pieces as the model writes them. Closing this generator closes the upstream request at once, so a
        server that checks for disconnects (llama.cpp's does, after every token) stops generating. Check the endpoint
        before, off the event loop (ChatTurn.prepare does): an unchecked one is checked here, blocking the loop."""
        self.calls["stream"] += 1
        try:
            upstream = await self.aio.chat.completions.create(**self._request(messages, max_tokens, stream=True))
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        try:
            async for chunk in upstream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except (openai.OpenAIError, httpx.HTTPError) as exc:
            # It answered, then stopped: "nothing listens" would be the wrong story.
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            broken = LLMError(
                f"the language model server at {self.base_url} broke off the answer ({reason})",
                "check that it still runs (`fonoteca llm check`; `fonoteca llm serve` starts the packaged one) "
                "and ask again",
            )
            raise broken from exc
        finally:
            await upstream.close()

    # -- token counting -------------------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the server's tokenizer where it offers one, else a conservative estimate."""
        if self._tokenizer is None:
            self._tokenizer = self._probe_tokenizer()
        if self._tokenizer != "estimate":
            counted = self._server_count(text, self._tokenizer)
            if counted is not None:
                return counted
        return estimate_tokens(text)

    def _root_url(self) -> str:
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def _probe_tokenizer(self) -> str:
        for kind in ("llama-cpp-python", "llama.cpp"):
            if self._server_count("probe", kind) is not None:
                return kind
        return "estimate"

    def _server_count(self, text: str, kind: str) -> int | None:
        if kind == "llama-cpp-python":  # /extras/tokenize/count {"input"} -> {"count"}
            url, body, key = f"{self._root_url()}/extras/tokenize/count", {"input": text}, "count"
        else:  # llama.cpp's own server: /tokenize {"content"} -> {"tokens": [...]}
            url, body, key = f"{self._root_url()}/tokenize", {"content": text}, "tokens"
        try:
            response = httpx.post(
                url,
                json=body,
                timeout=10.0,
                headers={"Authorization": f"Bearer {self.settings.llm_api_key.get_secret_value()}"},
            )
            if response.status_code != 200:
                return None
            value = response.json()[key]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None
        return value if isinstance(value, int) else len(value)


def _rejects_format(exc: openai.APIStatusError) -> bool:
    """Whether the server turned the request down because of response_format (llama-cpp-python answers 500 with a
    validation message; others 400/422). Any other 400, e.g. a prompt longer than the context, is not about the
    format: downgrading for it would lose JSON mode for good on a shared client."""
    if exc.status_code not in (400, 422, 500):
        return False
    body = exc.body if isinstance(exc.body, dict) else {}
    said = f"{_error_detail(exc)} {body.get('param') or ''}".lower()
    return any(word in said for word in ("response_format", "json_schema", "schema", "grammar"))


def _error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message or exc.message).split())[:300]


def finished_part(raw: str, answer: type[Model]) -> Model | None:
    """What a cut answer completed, when that is a valid `answer`: its finished items, and empty lists for the list
    fields it never reached (the model had not named anything there yet). None when it is not valid even so."""
    try:
        value = extract_cut_json(raw)
    except ValueError:
        return None
    if isinstance(value, dict):
        unreached = {
            name: []
            for name, field in answer.model_fields.items()
            if name not in value and get_origin(field.annotation) is list
        }
        value = {**value, **unreached}
    try:
        return answer.model_validate(value)
    except ValidationError:
        return None


def _short_problem(exc: Exception) -> str:
    """The validation error as the retry shows it, at most PROBLEM_CHARS long (the retry's budget counts on it)."""
    if isinstance(exc, ValidationError):
        problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:5])
    else:
        problem = str(exc)
    return problem[:PROBLEM_CHARS]


def retry_instruction(problem: str, schema: dict[str, Any]) -> str:
    return (
        f"That answer is invalid: {problem}. Answer again with only a JSON object that follows this schema: "
        f"{json.dumps(schema, ensure_ascii=False)}"
    )


def estimate_tokens(text: str) -> int:
    """A conservative token count without asking the server (which would cost a round trip)."""
    return int(len(text) / CHARS_PER_TOKEN_ESTIMATE) + 4
