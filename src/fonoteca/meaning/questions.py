"""Questions embedded together: a search's question with those of the searches waiting for their turn.

Embedding one short question with the packaged model is mostly reading its weights (a vector times each matrix), so
eight questions at once take little more than two alone (bench/web.py's archive: 2.2 ms for one, 5.7 ms for eight).
Under a crowd the web server works out one search at a time per process (web/crowd.py's Turns) while the others wait;
each waiting search says its question is coming (`expecting`), and the search whose turn it is embeds its own
question with up to BATCH - 1 of theirs. Their vectors wait here until their turn; a search nobody announced is
embedded alone, as before.

    questions = QuestionBatch()
    with questions.expecting("vacaciones en la playa"):  # the web: while the request waits for its turn
        ...
    vector = questions.vector(embedder, "vacaciones en la playa")  # the search: its vector, embedded or kept
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # at run time nothing here needs them: the web's every request makes one (see fonoteca.app)
    import numpy as np

    from fonoteca.meaning.embedders import Embedder

BATCH = 8  # questions embedded at once: 0.7 ms each at eight, against 2.2 ms alone; sixteen saves only 0.1 ms more


class QuestionBatch:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the web's event loop announces, the searches' threads embed
        self._expected: Counter[str] = Counter()  # questions of the searches waiting, by how many wait with each
        self._ready: dict[tuple[str, str], np.ndarray] = {}  # (model, question): embedded before its turn

    @contextmanager
    def expecting(self, question: str) -> Iterator[None]:
        """While this is open a search of `question` is coming: it may be embedded with another search's question."""
        with self._lock:
            self._expected[question] += 1
        try:
            yield
        finally:
            with self._lock:
                self._expected[question] -= 1
                if not self._expected[question]:
                    del self._expected[question]
                    for key in [key for key in self._ready if key[1] == question]:
                        del self._ready[key]

    def vector(self, embedder: Embedder, question: str) -> np.ndarray:
        """The unit vector of `question` by `embedder`: the one embedded before its turn, else embedded now with up to
        BATCH - 1 of the questions still expected."""
        with self._lock:
            ready = self._ready.get((embedder.name, question))
            if ready is not None:
                return ready
            others = [
                other for other in self._expected
                if other != question and (embedder.name, other) not in self._ready
            ][: BATCH - 1]  # fmt: skip
        batch = [question, *others]
        vectors = embedder.embed(batch, query=True)
        with self._lock:
            for text, vector in zip(batch, vectors, strict=True):
                if self._expected[text]:  # still coming (this question too, when the same is asked again meanwhile)
                    self._ready[(embedder.name, text)] = vector
        return vectors[0]
