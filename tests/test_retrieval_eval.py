"""The labelled retrieval set (bench/data/retrieval_eval.json) is sound: big enough, enough questions across
languages, every quote really in its transcript, and "paraphrased" questions that share no content word with the
passage that answers them (otherwise keyword search would find them and the comparison would mean nothing)."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from functools import cache
from types import ModuleType

from conftest import REPO, shared_path

from fonoteca.archive import Segment
from fonoteca.llm.chat import STOPWORDS
from fonoteca.text import words

# Cues of a timed transcript this many seconds either side of the quote count as its passage (passages are 30-60 s);
# an untimed transcript's passage is the quote's own paragraph(s).
PASSAGE_PAD_SECONDS = 15.0
# Folded words that carry no content besides those of fonoteca.llm.chat.STOPWORDS (question words, fillers, verbs
# of saying and being).
_EXTRA = """ir va van fue ser estar era eran estaba hay hubo tener tenia tiene tienen tuvo hacer hace hizo hacia
    puede pueden podia se le les lo la cuanto cuantos cuanta cuantas como cual cuales quien quienes donde cuando que
    por para segun vez vez entonces aquel aquella aquellos aquellas hoy today ever also much many how what which who
    why where when did does do was were is are be has have had get got its it one ones some any other another
    there here than then way really like just yeah know"""
EXTRA_STOPWORDS = frozenset(_EXTRA.split())


@cache
def bench() -> ModuleType:
    """bench/retrieval.py, whose readers the bench itself uses to find the answers."""
    spec = importlib.util.spec_from_file_location("bench_retrieval", REPO / "bench" / "retrieval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@cache
def transcript(episode: str) -> list[Segment]:
    return bench().read_episode(shared_path("transcripts", *episode.split("/")))[1]


def _stem(word: str) -> str:
    """A crude plural fold (papers/paper, créditos/crédito) so that a near-copy of a word also counts as shared."""
    for ending in ("es", "s"):
        if len(word) > 4 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def content_words(text: str) -> set[str]:
    return {
        _stem(w)
        for w in words(text)
        if len(w) > 1 and w not in STOPWORDS["es"] and w not in STOPWORDS["en"] and w not in EXTRA_STOPWORDS
    }


def answer_passage(episode: str, quote: str) -> str:
    segments = transcript(episode)
    found = bench().locate(segments, quote)
    assert found, f"quote not in {episode}: {quote!r}"
    first, last = found
    pad = PASSAGE_PAD_SECONDS if episode.endswith(".vtt") else 0.0
    lo, hi = segments[first].start - pad, segments[last].end + pad
    while first > 0 and segments[first - 1].start >= lo:
        first -= 1
    while last + 1 < len(segments) and segments[last + 1].end <= hi:
        last += 1
    return " ".join(s.text for s in segments[first : last + 1])


def items() -> list:
    return bench().load_eval()


def test_the_set_has_enough_questions_of_each_sort() -> None:
    found = items()
    assert len(found) >= 60
    assert sum(item.cross_language for item in found) >= 15
    kinds = Counter(item.kind for item in found)
    assert set(kinds) == {"paraphrase", "literal"} and min(kinds.values()) >= 20
    assert {item.language for item in found} == {"es", "en"}
    assert len({item.id for item in found}) == len(found), "ids are unique"
    for item in found:
        assert item.answers, item.id
        for answer in item.answers:
            assert len(answer.quote.split()) <= 20, f"{item.id}: quote minimally (the Venezolanos licence)"


def test_cross_language_flag_matches_the_corpus_of_the_answer() -> None:
    """Talk Python is English and Venezolanos Spanish: a question crosses languages exactly when its own language is
    not its answer's."""
    for item in items():
        corpus_language = "en" if item.answers[0].episode.startswith("talkpython") else "es"
        assert item.cross_language == (item.language != corpus_language), item.id


def test_every_quote_is_found_once_in_its_transcript() -> None:
    shared_path("transcripts")
    for item in items():
        for answer in item.answers:
            segments = transcript(answer.episode)
            assert bench().locate(segments, answer.quote), f"{item.id}: {answer.quote!r} not in {answer.episode}"
            text = " ".join(" ".join(s.text.split()) for s in segments)
            assert text.count(" ".join(answer.quote.split())) == 1, f"{item.id}: the quote must point at one place"


def test_paraphrased_questions_share_no_content_word_with_their_answer() -> None:
    shared_path("transcripts")
    shared = {}
    for item in items():
        if item.kind != "paraphrase":
            continue
        for answer in item.answers:
            common = content_words(item.question) & content_words(answer_passage(answer.episode, answer.quote))
            if common:
                shared[item.id] = sorted(common)
    assert not shared, f"paraphrased questions sharing words with their answer passage: {shared}"


def test_literal_questions_do_share_words_with_their_answer() -> None:
    shared_path("transcripts")
    for item in items():
        if item.kind == "literal":
            passage = answer_passage(item.answers[0].episode, item.answers[0].quote)
            assert content_words(item.question) & content_words(passage), item.id
