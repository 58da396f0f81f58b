"""Speakers on the episode page in real headless Chromium: turns in each speaker's colour, the legend with speaking
time, and the player's current line naming who speaks, on a local recording whose sidecar WebVTT names its voices (the
Podcasting 2.0 spec's example: Sarah, then Gillian). Screenshots land in test-artifacts/ (fixtures_browser)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from conftest import shared_path
from fixtures_browser import CHROMIUM, shot
from fixtures_web import serve_app
from test_speakers_search import make_talk

from fonoteca.app import Fonoteca
from fonoteca.output.speakers import OTHERS_COLOUR, speaker_colours, speaking_times
from fonoteca.search.trends import OTHERS
from fonoteca.settings import Settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make test` installs it as root)"),
]


@pytest.fixture
def server(settings: Settings, tmp_path) -> Iterator[tuple[str, str]]:
    folder = tmp_path / "grabaciones"
    folder.mkdir()
    # A minute of real speech, with the spec's WebVTT beside it: imported as its transcript, nothing transcribed.
    shutil.copy(shared_path("audio", "multi", "faster_whisper_multilingual_en_de.mp3"), folder / "2024-01-10 qa.mp3")
    shutil.copy(shared_path("transcripts", "podcast20_spec_examples", "transcripts", "example.vtt"),
                folder / "2024-01-10 qa.vtt")  # fmt: skip
    with Fonoteca(settings) as app:
        show, _report = app.add(str(folder))
        [episode] = app.archive.list_episodes(show.id)
        assert app.archive.get_episode(episode.id).source == "sidecar"
    with serve_app(settings) as base:
        yield base, episode.id


def _rgb(colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(colour[i : i + 2], 16) for i in (1, 3, 5)))


def test_the_episode_page_shows_who_speaks_in_their_colour_and_the_player_names_the_current_speaker(
    page, server
) -> None:
    base, episode_id = server
    page.goto(f"{base}/episode/{episode_id}")
    colours = speaker_colours(["Sarah", "Gillian"])
    legend = page.locator("[data-testid=speakers] li")
    assert legend.count() == 2
    assert legend.nth(0).inner_text().startswith("Sarah") and "19s · 75%" in legend.nth(0).inner_text()
    assert "Gillian" in legend.nth(1).inner_text()
    turn = page.locator(".transcript .line.turn").nth(1)  # Gillian's turn: her name, in her colour
    assert turn.locator(".speaker").inner_text() == "Gillian:"
    assert turn.locator(".speaker").evaluate("e => getComputedStyle(e).color") == _rgb(colours["Gillian"])
    assert turn.evaluate("e => getComputedStyle(e).borderLeftColor") == _rgb(colours["Gillian"])
    continued = page.locator(".transcript .line.voiced:not(.turn)").first  # Sarah's second line: no name shown
    assert continued.locator(".speaker").evaluate("e => e.getBoundingClientRect().width") <= 1
    now = page.locator("#now-speaking")
    assert now.is_hidden()
    page.evaluate("document.getElementById('player').currentTime = 5")
    page.wait_for_function("document.querySelector('#now-speaking .speaker').textContent === 'Sarah'")
    assert now.is_visible() and now.inner_text() == "speaking: Sarah"
    page.evaluate("document.getElementById('player').currentTime = 20")
    page.wait_for_function("document.querySelector('#now-speaking .speaker').textContent === 'Gillian'")
    current = page.locator(".transcript .line.current")
    assert current.get_attribute("data-speaker") == "Gillian"
    assert now.locator(".speaker").evaluate("e => getComputedStyle(e).color") == _rgb(colours["Gillian"])
    shot(page, "episode-speakers")


@pytest.fixture
def talk_server(settings: Settings, tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    talk = make_talk(settings, tmp_path)
    with serve_app(settings) as base:
        yield base, talk


def test_the_show_page_graph_splits_a_word_by_speaker_and_filters_by_one(page, talk_server, settings) -> None:
    base, talk = talk_server
    page.goto(f"{base}/show/{talk['show']}?word=streaming&split=speaker&by=month")
    page.wait_for_function("window.fonotecaTrend && Object.keys(window.fonotecaTrend).length === 4")
    lines = page.evaluate("window.fonotecaTrend")
    assert {name: sum(counts) for name, counts in lines.items()} == {"Ana": 3, "Luis": 3, "Beto": 1, OTHERS: 1}
    with Fonoteca(settings) as app:  # each line in the colour the show's page (and the episode's) gives the speaker
        on_page = {s.name: s.colour for s in speaking_times(app.speaking_time(talk["show"]))}
    strokes = page.evaluate(
        "window.fonotecaTrendPlot.series.slice(1).map(s => [s.label, s.stroke(window.fonotecaTrendPlot, 1)])"
    )
    assert dict(strokes) == {"Ana": on_page["Ana"], "Luis": on_page["Luis"], "Beto": on_page["Beto"],
                             OTHERS: OTHERS_COLOUR}  # fmt: skip
    assert page.eval_on_selector_all(".u-legend .u-series", "s => s.map(e => e.textContent.trim())")[:2] == [
        "Ana",
        "Luis",
    ]
    shot(page, "trend-split-by-speaker")
    page.select_option("#trend-split", "")
    page.fill("#trend-speaker", "luis")
    page.press("#trend-speaker", "Enter")
    # The split's change draws everyone's line first (8 mentions); the filter's draw follows it.
    page.wait_for_function(
        "location.search.includes('speaker=luis') && window.fonotecaTrend && window.fonotecaTrend.streaming"
        " && window.fonotecaTrend.streaming.reduce((a, b) => a + b, 0) === 3"
    )
    assert list(page.evaluate("window.fonotecaTrend")) == ["streaming"]
