"""The prompts live in one module and version themselves: a stored analysis is reused while the prompts that made it
are unchanged, and recomputed once their text changes. No model is needed: nothing listens at the endpoint, so a
recomputation shows up as the error of asking it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest
from fixtures_llm import VOYAGER, add_episode

from fonoteca.archive import Analysis
from fonoteca.errors import LLMError
from fonoteca.llm import prompts
from fonoteca.llm.analyze import (
    CITATION_RULES,
    PROMPT_OVERHEAD_TOKENS,
    PROMPTS,
    Analyzer,
    current_analyses,
    prompt_version,
)
from fonoteca.llm.client import LLMClient, estimate_tokens
from fonoteca.llm.prompts import Prompt
from fonoteca.llm.server import free_port

SENTIMENT_PARAMS = ""  # what analyze() stores a sentiment under


def _all_prompts() -> list[Prompt]:
    return [value for value in vars(prompts).values() if isinstance(value, Prompt)]


def test_a_prompts_version_is_a_short_hash_that_changes_with_any_of_its_text():
    summary = prompts.SUMMARY
    assert re.fullmatch(r"[0-9a-f]{12}", summary.version), summary.version
    assert replace(summary).version == summary.version, "the same text, the same version"
    assert replace(summary, name="renamed").version == summary.version, "the name is not what the model reads"
    for changed in (
        replace(summary, system=summary.system + " Be concise."),
        replace(summary, user=summary.user.replace("Summarise", "Sum up")),
        replace(summary, optional={"focus": " Concentrate on: {focus}."}),
    ):
        assert changed.version != summary.version


@pytest.mark.parametrize("hash_seed", ["0", "1"])
def test_a_prompts_version_is_the_same_in_another_process(hash_seed):
    """What makes a stored analysis reusable by a later run: nothing of the process (such as Python's per-process
    string hash) goes into the version."""
    other = subprocess.run(
        [sys.executable, "-c", "from fonoteca.llm import prompts; print(prompts.SUMMARY.version)"],
        env={**os.environ, "PYTHONHASHSEED": hash_seed}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert other.stdout.strip() == prompts.SUMMARY.version


def test_every_prompt_has_its_own_name_and_text():
    every = _all_prompts()
    assert len({p.name for p in every}) == len(every)
    assert len({p.version for p in every}) == len(every)


def test_an_optional_sentence_is_added_only_when_its_value_is_given():
    given = {"chapters": "[0:00] La Voyager", "moments": "[1] (0:00) “hola”"}
    with_focus = prompts.SUMMARY.messages(language="Spanish", words=12, focus="la NASA", **given)
    without = prompts.SUMMARY.messages(language="Spanish", words=12, focus=None, **given)
    assert "Focus on: la NASA." in with_focus[1]["content"]
    assert "Focus" not in without[1]["content"] and "at most 12 words," in without[1]["content"]
    assert (
        with_focus[0]
        == without[0]
        == {"role": "system", "content": "You analyse transcripts of a show. Answer in Spanish."}
    )


def test_braces_in_a_transcript_reach_the_model_as_they_are():
    [_, user] = prompts.TRANSLATION.messages(language="English", text='{"a": 1} y {text}')
    assert user["content"].endswith('"""{"a": 1} y {text}"""')


def test_the_analysis_prompts_fit_in_the_overhead_the_context_budget_leaves_them():
    values = {"language": "Portuguese", "words": 500, "focus": "x" * 80, "number": 99, "total": 99, "text": "",
              "chapters": "", "moments": ""}  # fmt: skip
    for prompt in (*PROMPTS.values(), prompts.MAP):
        used = sum(estimate_tokens(m["content"]) for m in prompt.messages(**values))
        assert used <= PROMPT_OVERHEAD_TOKENS - 50, f"{prompt.name}: {used} tokens, and the chat template needs some"


def test_an_analysis_of_the_whole_transcript_depends_on_the_map_prompt_too():
    assert prompt_version("sentiment") == prompts.version(prompts.SENTIMENT, prompts.MAP) != prompts.SENTIMENT.version
    assert prompt_version("translation") == prompts.TRANSLATION.version


def test_the_summary_reads_the_key_moments_not_the_transcript_and_depends_on_its_citation_check():
    assert prompt_version("summary") == prompts.version(prompts.SUMMARY, CITATION_RULES) != prompts.SUMMARY.version


@pytest.fixture
def stored_sentiment(archive, settings):
    """A Spanish episode with a sentiment stored under today's prompts, and an analyser whose endpoint is down."""
    episode = add_episode(archive, VOYAGER)
    archive.save_analysis(
        Analysis(
            episode_id=episode.id,
            kind="sentiment",
            params=SENTIMENT_PARAMS,
            model="some-model",
            prompt_version=prompt_version("sentiment"),
            transcript_rev=episode.transcript_rev,
            result={"sentiment": "positive", "anger": False},
        )
    )
    unreachable = settings.replace(llm_base_url=f"http://127.0.0.1:{free_port()}/v1")
    analyzer = Analyzer(archive, unreachable, LLMClient(unreachable))
    return episode, analyzer


def test_a_stored_analysis_is_reused_while_its_prompts_are_unchanged(archive, stored_sentiment):
    episode, analyzer = stored_sentiment
    reused = analyzer.analyze(episode, ["sentiment"])["sentiment"]
    assert reused.result == {"sentiment": "positive", "anger": False} and reused.model == "some-model"
    assert sum(analyzer.client.calls.values()) == 0
    assert current_analyses(archive, episode)[0]["sentiment"].result == reused.result
    with pytest.raises(LLMError, match="no language model server answers"):
        analyzer.analyze(episode, ["sentiment"], force=True)


@pytest.mark.parametrize("edited", ["sentiment", "map"])
def test_editing_a_prompt_makes_the_analyses_it_made_stale(archive, stored_sentiment, monkeypatch, edited):
    episode, analyzer = stored_sentiment
    if edited == "sentiment":
        monkeypatch.setitem(PROMPTS, "sentiment", replace(prompts.SENTIMENT, user="Say. " + prompts.SENTIMENT.user))
    else:
        monkeypatch.setattr(prompts, "MAP", replace(prompts.MAP, system="You shorten transcripts."))
    assert current_analyses(archive, episode)[0] == {}, "the episode page no longer shows it"
    with pytest.raises(LLMError, match="no language model server answers"):  # it is recomputed, not reused
        analyzer.analyze(episode, ["sentiment"])
    assert [a.result for a in archive.list_analyses(episode.id)] == [{"sentiment": "positive", "anger": False}]
