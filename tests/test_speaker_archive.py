"""Who said it, the archive's side (issue 26): speaker turns laid over Whisper's real word times, and the voices, names
and labels the archive keeps, on SQLite and on PostgreSQL. The voice prints here are fixed unit vectors: the archive
only stores and averages them (the prints the real engine makes are in tests/test_speakers.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from fonoteca.archive import Archive, EpisodeSpeaker, Segment, SpeakerNaming, SpeakerTurn
from fonoteca.errors import NotFound, SpeakerError
from fonoteca.settings import Settings
from fonoteca.turns import TurnIndex, reassigned, split_at_turns

pytestmark = pytest.mark.both_databases


@pytest.fixture(scope="module")
def whisper_segments(tmp_path_factory: pytest.TempPathFactory) -> list[Segment]:
    """A real transcription of a real clip (JFK's inaugural, 11 s) by fonoteca's Transcriber: real word times."""
    from fonoteca.transcribe import Transcriber

    clip = shared_path("audio", "en", "jfk.flac")
    settings = Settings.from_env(environ={}, home=tmp_path_factory.mktemp("whisper-home"), cpu_threads=2)
    segments = list(Transcriber(settings).transcribe_file(str(clip), language="en"))
    assert segments and all(s.words for s in segments)
    return segments


def _longest(segments: list[Segment]) -> Segment:
    return max(segments, key=lambda s: len(s.words or []))


def _change_inside(segment: Segment) -> tuple[float, int]:
    """A time between two words in the middle of the segment, and how many words come before it."""
    words = segment.words or []
    k = len(words) // 2
    return (words[k - 1][1] + words[k][0]) / 2, k


def test_a_segment_across_a_change_of_speaker_is_split_at_the_word_where_it_changes(whisper_segments) -> None:
    segment = _longest(whisper_segments)
    words = segment.words or []
    at, k = _change_inside(segment)
    turns = [SpeakerTurn(0.0, at, 0), SpeakerTurn(at, segment.end + 5, 1)]

    (first, one), (second, two) = split_at_turns([segment], turns)

    assert (one, two) == (0, 1)
    assert first.words == words[:k] and second.words == words[k:]
    assert (first.start, first.end) == (segment.start, words[k - 1][1])
    assert (second.start, second.end) == (words[k][0], segment.end)
    assert f"{first.text} {second.text}".split() == segment.text.split()
    assert first.said is None and second.said is None


def test_a_change_for_one_short_word_is_the_drift_of_the_times_not_a_new_speaker(whisper_segments) -> None:
    segment = _longest(whisper_segments)
    words = segment.words or []
    word = next(w for w in words[1:-1] if w[1] - w[0] < 0.5)
    turns = [SpeakerTurn(0.0, word[0], 0), SpeakerTurn(word[0], word[1], 1), SpeakerTurn(word[1], 99.0, 0)]
    assert split_at_turns([segment], turns) == [(segment, 0)]


def test_a_segment_in_one_turn_or_between_turns_gets_the_voice_around_it(whisper_segments) -> None:
    turns = [SpeakerTurn(0.0, 99.0, 1)]
    assert split_at_turns(whisper_segments, turns) == [(s, 1) for s in whisper_segments]
    index = TurnIndex([SpeakerTurn(0.0, 2.0, 0), SpeakerTurn(3.0, 4.0, 1)])
    assert (index.number_at(1.0, 2.5), index.number_at(2.5, 3.9), index.number_at(5.0, 6.0)) == (0, 1, None)
    assert (index.speaker_of(5.0, 6.0), index.speaker_of(2.1, 2.4), TurnIndex([]).speaker_of(0, 1)) == (1, 0, None)


def test_a_span_given_to_another_speaker_cuts_the_turns_across_its_edges() -> None:
    turns = [SpeakerTurn(0.0, 10.0, 0), SpeakerTurn(10.0, 20.0, 1)]
    assert reassigned(turns, 5.0, 12.0, 2) == [
        SpeakerTurn(0.0, 5.0, 0), SpeakerTurn(5.0, 12.0, 2), SpeakerTurn(12.0, 20.0, 1),
    ]  # fmt: skip


def _unit(i: int) -> np.ndarray:
    vector = np.zeros(192, dtype=np.float32)
    vector[i] = 1.0
    return vector


def _diarized(archive: Archive, segments: list[Segment], guid: str = "jfk") -> tuple[str, int]:
    """A Whisper-transcribed episode of `segments` whose voices are stored as the speaker step stores them: speaker 1
    until the middle of the longest segment, speaker 2 after. Returns its id and the time of the change."""
    show, _ = archive.add_show(title="Discursos", source="/discursos", source_kind="folder")
    episode, _ = archive.upsert_episode(show, guid=guid, title="Ask not", kind="audio", media_path="/discursos/jfk")
    archive.replace_transcript(episode.id, segments, source="transcribed", engine="faster-whisper", model="base")
    at, _ = _change_inside(_longest(segments))
    turns = [SpeakerTurn(0.0, at, 0), SpeakerTurn(at, segments[-1].end, 1)]
    voices = [EpisodeSpeaker(episode.id, 0, at, _unit(0)), EpisodeSpeaker(episode.id, 1, 1.0, _unit(1))]
    rev = archive.get_episode(episode.id).transcript_rev
    assert archive.voices.to_diarize() == [(episode.id, "/discursos/jfk")]
    assert archive.voices.save_diarization(
        episode.id, transcript_rev=rev, turns=turns, voices=voices, segments=split_at_turns(segments, turns)
    )
    return episode.id, show.id


def _labels(archive: Archive, episode_id: str) -> list[str | None]:
    return [s.speaker for s in archive.segments(episode_id)]


def test_the_speaker_steps_result_splits_and_labels_the_segments_in_one_revision(archive, whisper_segments) -> None:
    episode_id, _ = _diarized(archive, whisper_segments)
    stored = archive.segments(episode_id)
    assert len(stored) == len(whisper_segments) + 1
    labels = _labels(archive, episode_id)
    assert labels[0] == "Speaker 1" and labels[-1] == "Speaker 2"
    assert labels == sorted(labels)  # one change of speaker
    assert " ".join(s.text for s in stored).split() == " ".join(s.text for s in whisper_segments).split()
    assert [s.idx for s in stored] == list(range(len(stored)))
    assert archive.voices.to_diarize() == []  # done: not found again
    assert [v.label for v in archive.voices.found(episode_id)] == ["Speaker 1", "Speaker 2"]


def test_work_on_a_transcript_that_changed_meanwhile_is_not_stored(archive, whisper_segments) -> None:
    episode_id, _ = _diarized(archive, whisper_segments)
    old = archive.get_episode(episode_id).transcript_rev
    archive.replace_transcript(episode_id, whisper_segments, source="transcribed")  # transcribed again
    assert archive.voices.found(episode_id) == [] and archive.voices.turns(episode_id) == []
    assert archive.voices.to_diarize() == [(episode_id, "/discursos/jfk")]  # its speakers are found again
    late = archive.voices.save_diarization(
        episode_id, transcript_rev=old, turns=[SpeakerTurn(0, 99, 0)], voices=[], segments=None
    )
    assert late is False and archive.voices.found(episode_id) == []


def test_a_name_relabels_the_episode_joins_the_library_and_a_rename_follows(archive, whisper_segments) -> None:
    episode_id, show_id = _diarized(archive, whisper_segments)
    rev = archive.get_episode(episode_id).transcript_rev
    named = archive.voices.name(episode_id, 1, "  Ask   Not ")
    assert (named.label, named.naming) == ("Ask Not", SpeakerNaming.OWNER)
    assert archive.get_episode(episode_id).transcript_rev > rev  # search and counts follow the new labels
    assert set(_labels(archive, episode_id)) == {"Speaker 1", "Ask Not"}
    (library,) = archive.voices.library(show_id)
    assert library.name == "Ask Not" and np.allclose(library.voice_print, _unit(1))

    renamed, changed = archive.voices.rename(show_id, "ask not", "JFK")
    assert renamed.name == "JFK" and changed == [episode_id]
    assert set(_labels(archive, episode_id)) == {"Speaker 1", "JFK"}


def test_naming_a_second_voice_with_the_same_name_merges_them(archive, whisper_segments) -> None:
    episode_id, show_id = _diarized(archive, whisper_segments)
    archive.voices.name(episode_id, 0, "JFK")
    archive.voices.name(episode_id, 1, "jfk")
    (voice,) = archive.voices.found(episode_id)
    assert voice.label == "JFK" and voice.number == 1
    assert {t.number for t in archive.voices.turns(episode_id)} == {1}
    assert set(_labels(archive, episode_id)) == {"JFK"}
    (library,) = archive.voices.library(show_id)
    assert np.isclose(np.linalg.norm(library.voice_print), 1.0) and library.voice_print[0] > 0.5  # weighted by time


def test_merging_two_voices_gives_one_label_and_bad_numbers_get_one_line(archive, whisper_segments) -> None:
    episode_id, _ = _diarized(archive, whisper_segments)
    archive.voices.merge(episode_id, 0, 1)
    assert set(_labels(archive, episode_id)) == {"Speaker 1"}
    with pytest.raises(SpeakerError):
        archive.voices.merge(episode_id, 0, 0)
    with pytest.raises(NotFound, match="has no speaker 2"):
        archive.voices.name(episode_id, 1, "Nadie")
    with pytest.raises(SpeakerError, match="empty name"):
        archive.voices.name(episode_id, 0, "   ")


def test_an_imported_transcripts_names_seed_the_library_once(archive) -> None:
    show, _ = archive.add_show(title="Charlas", source="/charlas", source_kind="folder")
    episode, _ = archive.upsert_episode(show, guid="1", title="Uno", kind="audio")
    said = [Segment(0, 2, "Hola.", speaker="Ana"), Segment(2, 4, "Buenas.", speaker="Luis")]
    archive.replace_transcript(episode.id, said, source="imported")
    assert archive.voices.to_seed() == [episode.id] and archive.voices.to_diarize() == []
    added = archive.voices.seed(episode.id, {"Ana": None, "Luis": _unit(3)})
    assert [(s.name, s.source) for s in added] == [("Ana", "imported"), ("Luis", "imported")]
    assert archive.voices.to_seed() == []
    assert archive.voices.seed(episode.id, {"ana": _unit(4)}) == []  # known: its print is filled in, not doubled
    assert [s.voice_print is not None for s in archive.voices.library(show.id)] == [True, True]
    renamed, changed = archive.voices.rename(show.id, "Ana", "Ana María")
    assert changed == [episode.id] and [s.speaker for s in archive.segments(episode.id)] == ["Ana María", "Luis"]
