"""A show's own words: vocabulary and notes as hints for Whisper, correction rules as transcript revisions, lines fixed
by hand, and Whisper's word probabilities (issue 28). Real archives, real transcripts, the real Whisper model."""

from __future__ import annotations

import dataclasses
import re
import shutil

import pytest
from conftest import shared_path
from typer.testing import CliRunner

from fonoteca.app import Fonoteca
from fonoteca.archive import Segment
from fonoteca.cli import app as cli_app
from fonoteca.ingest.transcripts import parse_transcript
from fonoteca.rules import Rule
from fonoteca.settings import Settings
from fonoteca.transcribe.hints import HINTS_OPTION, MAX_TERMS, Hints, note_terms


def _talk_python(fonoteca: Fonoteca, files: int = 3) -> tuple[str, list[str]]:
    """A show of real transcripts (Talk Python To Me's WebVTT files, imported as they are): its slug and episodes."""
    folder = shared_path("transcripts", "talkpython_en_vtt_subset")
    archive = fonoteca.archive
    show, _ = archive.add_show(title="Talk Python", source="talkpython", source_kind="transcripts")
    ids = []
    for path in sorted(folder.glob("*.vtt"))[:files]:
        episode, _ = archive.upsert_episode(show, guid=path.name, title=path.stem, kind="audio", status="new",
                                            published=f"2015-0{len(ids) + 1}-01T00:00:00Z")  # fmt: skip
        archive.replace_transcript(episode.id, parse_transcript(path.read_bytes(), "vtt"), source="imported")
        ids.append(episode.id)
    fonoteca.after.after_transcripts()
    return show.slug, ids


def _lines(fonoteca: Fonoteca, ids: list[str]) -> dict[tuple[str, int], str]:
    return {(e, s.idx): s.text for e in ids for s in fonoteca.archive.segments(e, words=False)}


@pytest.fixture
def fonoteca(settings: Settings):
    with Fonoteca(settings.replace(embeddings="none")) as app:
        yield app


def test_a_rule_changes_exactly_the_lines_it_previews_and_removing_it_restores_them(fonoteca) -> None:
    slug, ids = _talk_python(fonoteca)
    before = _lines(fonoteca, ids)
    preview = fonoteca.corrections.preview(slug, "Python", "Pythón")
    assert preview.changes and preview.lines == len(before)
    assert all(before[(c.episode_id, c.idx)] == c.before for c in preview.changes)

    fonoteca.corrections.add_rule(slug, "Python", "Pythón")
    after = _lines(fonoteca, ids)
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {(c.episode_id, c.idx) for c in preview.changes}
    assert all(after[(c.episode_id, c.idx)] == c.after for c in preview.changes)
    assert all("Pythón" in after[key] and not re.search(r"\bPython\b", after[key]) for key in changed)

    rule, restored = fonoteca.corrections.remove_rule(slug, "python")
    assert (rule.wrong, restored) == ("Python", len(changed))
    assert _lines(fonoteca, ids) == before


def test_a_search_for_the_corrected_term_finds_the_moment_and_the_trend_counts_it(fonoteca) -> None:
    slug, ids = _talk_python(fonoteca)
    assert fonoteca.search('"Michael Kennedy"').total > 0
    assert fonoteca.search("Mikel Kenedi").total == 0
    preview = fonoteca.corrections.add_rule(slug, "Michael Kennedy", "Mikel Kenedi")
    found = fonoteca.search('"Mikel Kenedi"', limit=100)
    assert found.total == len(preview.changes) > 0
    assert {(h.episode_id, round(h.start, 2)) for h in found.hits} == {
        (c.episode_id, round(c.start, 2)) for c in preview.changes
    }
    assert fonoteca.search('"Michael Kennedy"').total == 0
    trend = fonoteca.trend(["Kenedi"], show=slug)
    assert sum(p.count for p in trend) >= len(preview.changes)


def test_cli_vocabulary_and_corrections_add_list_remove_and_import(settings, tmp_path) -> None:
    with Fonoteca(settings.replace(embeddings="none")) as app:
        slug, _ = _talk_python(app, files=2)

    def run(*args: str, code: int = 0) -> str:
        result = CliRunner().invoke(cli_app, ["--home", str(settings.home), *args])
        assert result.exit_code == code, result.output
        return result.output

    assert "Added 3 term(s): Next.js, Vercel, midudev" in run("vocabulary", "add", slug, "Next.js", "Vercel", "midudev")
    assert "1 already there" in run("vocabulary", "add", slug, "vercel")
    run("vocabulary", "remove", slug, "VERCEL")
    assert run("vocabulary", "list", slug).strip() == "Next.js, midudev"

    dry = run("corrections", "add", slug, "Talk Python To Me", "Talk Python", "--dry-run")
    count = int(re.search(r"Would change (\d+) of", dry).group(1))
    assert count > 0 and "- " in dry and "+ " in dry
    assert f"Changed {count} of" in run("corrections", "add", slug, "Talk Python To Me", "Talk Python")
    rules = tmp_path / "rules.tsv"
    rules.write_text("# mistakes\nMichael Kennedy\tMikel Kenedi\nno tab here\n\nPython\t\n", encoding="utf-8")
    imported = run("corrections", "import", slug, str(rules))
    assert "line 3 left out: no tab" in imported and "line 5 left out: an empty side" in imported
    assert "Added 1 rule(s)" in imported
    listed = run("corrections", "list", slug)
    assert "Talk Python To Me" in listed and "Mikel Kenedi" in listed
    assert "line(s) restored" in run("corrections", "remove", slug, "michael kennedy")
    assert "Mikel" not in run("corrections", "list", slug)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["corrections", "add", "{slug}", "", "bases de datos"], "an empty side of a rule"),
        (["corrections", "add", "{slug}", "  ", "x"], "an empty side of a rule"),
        (["corrections", "add", "{slug}", "!!", "x"], "has no word to match"),
        (["corrections", "add", "{slug}", "and", "an"], "matches a common word, not a mistake"),
        (["corrections", "add", "{slug}", "Python", "python"], "changes nothing"),
        (["corrections", "import", "{slug}", "{big}"], "a rules file has at most 1 MB"),
        (["vocabulary", "add", "{slug}", ""], "an empty term"),
    ],
)
def test_bad_input_gets_one_clear_line_and_changes_nothing(settings, tmp_path, args, says) -> None:
    with Fonoteca(settings.replace(embeddings="none")) as app:
        slug, ids = _talk_python(app, files=2)
        before = _lines(app, ids)
    big = tmp_path / "big.tsv"
    big.write_bytes(b"wrong\tright\n" * (10 * 1024 * 1024 // 12 + 1))  # 10 MB
    result = CliRunner().invoke(cli_app, ["--home", str(settings.home), *(a.format(slug=slug, big=big) for a in args)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], result.output
    with Fonoteca(settings.replace(embeddings="none")) as app:
        assert _lines(app, ids) == before and app.corrections.rules(slug) == []


def test_a_latin_1_rules_file_is_read_with_a_note_and_its_accents_kept(settings, tmp_path) -> None:
    with Fonoteca(settings.replace(embeddings="none")) as app:
        slug, _ = _talk_python(app, files=2)
    rules = tmp_path / "latin1.tsv"
    rules.write_bytes("Michael Kennedy\tMíchael Kénnedy\n".encode("latin-1"))
    result = CliRunner().invoke(cli_app, ["--home", str(settings.home), "corrections", "import", slug, str(rules)])
    assert result.exit_code == 0, result.output
    assert "note: latin1.tsv is not UTF-8" in result.output and "Added 1 rule(s)" in result.output
    with Fonoteca(settings.replace(embeddings="none")) as app:
        assert [r.right for r in app.corrections.rules(slug)] == ["Míchael Kénnedy"]
        assert app.search("Kénnedy").total > 0


def test_rules_match_whole_words_with_case_and_accents_folded_and_keep_the_case_written() -> None:
    rule = Rule("nevaces nevados", "bases de datos")
    assert rule.apply("Hablamos de nevacés nevados.") == "Hablamos de bases de datos."
    assert rule.apply("Nevaces, nevados y más") == "Bases de datos y más"
    assert rule.apply("NEVACES NEVADOS") == "BASES DE DATOS"
    assert rule.apply("lasnevaces nevadoss") == "lasnevaces nevadoss"
    assert Rule("proyecto", "directo").apply("en proyectos y en Proyecto") == "en proyectos y en Directo"


def test_the_notes_hints_are_the_names_of_the_real_show_notes_without_links_or_boilerplate() -> None:
    notes = shared_path("podcast_long", "es", "linux_express_18.shownotes.md").read_text(encoding="utf-8")
    _, front, body = notes.split("---", 2)
    terms = note_terms("#18 Linux Express", body)
    for name in ("Linux Express", "Podcast Linux", "Slimbook", "Alejandro López", "Maratón Jpod", "Chromebooks"):
        assert name in terms
    assert not any(re.search(r"https?|www|@|\.com|Twitter|Correo|Feed|Repasamos|Recuerda", t) for t in terms)
    assert len(Hints.of([f"term{n}" for n in range(100)]).terms) == MAX_TERMS


@pytest.mark.parametrize(
    ("given", "kept"),
    [("vocabulary, notes", "notes,vocabulary"), ("VOCABULARY", "vocabulary"), ("none", "none")],
)
def test_fonoteca_hints_takes_the_sources_in_any_order_and_refuses_others(given, kept) -> None:
    from fonoteca.errors import ConfigError

    assert Settings.from_env(environ={"FONOTECA_HINTS": given}).hints == kept
    with pytest.raises(ConfigError, match="FONOTECA_HINTS"):
        Settings.from_env(environ={"FONOTECA_HINTS": "notes,guesses"})


@pytest.mark.slow
def test_the_shows_vocabulary_reaches_whisper_and_its_words_keep_their_probabilities(settings, tmp_path) -> None:
    folder = tmp_path / "show"
    folder.mkdir()
    shutil.copy(shared_path("audio", "multi", "faster_whisper_hotwords.mp3"), folder / "clip.mp3")
    with Fonoteca(settings.replace(embeddings="none", hints="vocabulary")) as app:
        app.add(str(folder))
        episode = app.archive.list_episodes()[0]
        assert "ComfyUI" not in app.archive.transcript_text(episode.id)  # the base model alone writes "confu i"
        show = app.archive.get_show(episode.show_id)
        app.corrections.add_terms(show.slug, ["ComfyUI"])
        app.retry(episode.id, force=True)
        segments = app.archive.segments(episode.id)
    assert "ComfyUI" in " ".join(s.text for s in segments)
    words = [w for s in segments for w in s.words or []]
    assert words and all(len(w) == 4 and 0.0 <= w[3] <= 1.0 for w in words)


@pytest.mark.slow
def test_by_default_the_names_of_the_episodes_own_notes_reach_whisper(settings, tmp_path) -> None:
    folder = tmp_path / "show"
    folder.mkdir()
    shutil.copy(shared_path("audio", "multi", "faster_whisper_hotwords.mp3"), folder / "clip.mp3")
    assert Settings.from_env(environ={}).hints == "notes,vocabulary"
    with Fonoteca(settings.replace(embeddings="none")) as app:
        app.add(str(folder))
        episode = app.archive.list_episodes()[0]
        assert "ComfyUI" not in app.archive.transcript_text(episode.id)  # the file has no notes: "confu i"
        notes = "<p>Custom nodes in ComfyUI, step by step. Subscribe: https://example.org/comfyui</p>"
        app.archive.update_episode(episode.id, description=notes)
        app.retry(episode.id, force=True)
        assert "ComfyUI" in app.archive.transcript_text(episode.id)


@pytest.mark.slow
def test_an_edited_line_is_kept_when_the_episode_is_transcribed_again(settings, tmp_path) -> None:
    folder = tmp_path / "show"
    folder.mkdir()
    shutil.copy(shared_path("audio", "en", "jfk.flac"), folder / "jfk.flac")
    with Fonoteca(settings.replace(embeddings="none")) as app:
        app.add(str(folder))
        episode = app.archive.list_episodes()[0]
        first = app.archive.segments(episode.id)
        line = next(s for s in first if "country" in s.text)
        fixed = line.text.replace("country", "nation")
        edit = app.corrections.edit_line(episode.id, line.idx, fixed, "owner")
        assert app.search("nation").total == 1
        app.retry(episode.id, force=True)
        again = app.archive.segments(episode.id)
        assert fixed in [s.text for s in again]
        assert [e.id for e in app.corrections.edits(episode.id) if e.active] == [edit.id]
        app.corrections.revert_edit(edit.id, "owner")
        assert fixed not in [s.text for s in app.archive.segments(episode.id)]
        assert app.search("nation").total == 0


def test_an_edit_wins_over_a_later_rule_and_reverting_it_lets_the_rule_apply(fonoteca) -> None:
    slug, ids = _talk_python(fonoteca, files=1)
    segment = next(s for s in fonoteca.archive.segments(ids[0]) if "Python" in s.text)
    fonoteca.corrections.edit_line(ids[0], segment.idx, "Fixed by hand.", "owner")
    fonoteca.corrections.add_rule(slug, "Python", "Pythón")
    assert fonoteca.archive.segments(ids[0], first=segment.idx, last=segment.idx)[0].text == "Fixed by hand."
    [edit] = fonoteca.corrections.edits(ids[0])
    fonoteca.corrections.revert_edit(edit.id, "owner")
    text = fonoteca.archive.segments(ids[0], first=segment.idx, last=segment.idx)[0].text
    assert text == segment.text.replace("Python", "Pythón")


def test_a_new_transcript_gets_the_shows_rules(fonoteca) -> None:
    slug, ids = _talk_python(fonoteca, files=1)
    fonoteca.corrections.add_rule(slug, "nevaces nevados", "bases de datos")
    fonoteca.archive.replace_transcript(ids[0], [Segment(0, 2, "Las nevaces nevados.")], source="imported")
    [segment] = fonoteca.archive.segments(ids[0])
    assert (segment.text, segment.said) == ("Las bases de datos.", "Las nevaces nevados.")


@pytest.mark.slow
def test_low_confidence_words_are_underlined_for_the_owner_only(settings, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from fonoteca.corrections import UNSURE_BELOW
    from fonoteca.web.app import create_app

    TOKEN = "Xq3v-9LmT2pWz7Rk_b4N"  # noqa: N806 (the token of test_public.py)

    folder = tmp_path / "show"
    folder.mkdir()
    shutil.copy(shared_path("audio", "multi", "faster_whisper_hotwords.mp3"), folder / "clip.mp3")
    settings = settings.replace(embeddings="none", hints="none")
    with Fonoteca(settings) as app:
        app.add(str(folder))
        episode = app.archive.list_episodes()[0]
        words = [w for s in app.archive.segments(episode.id) for w in s.words or []]
    unsure = [w[2].strip() for w in words if w[3] < UNSURE_BELOW]
    assert unsure and len(unsure) < len(words)  # Whisper base is unsure of "confu i", sure of most of the rest

    web = TestClient(create_app(settings.replace(public=True, token=TOKEN)))
    owner_page = web.get(f"/episode/{episode.id}", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert re.findall(r'<u class="unsure" title="[^"]*">([^<]*)</u>', owner_page) == unsure
    assert 'id="line-edits"' in owner_page and "/static/line-edit." in owner_page
    public_page = web.get(f"/episode/{episode.id}").text  # a visitor of the public archive
    assert 'class="unsure"' not in public_page and 'id="line-edits"' not in public_page
    assert "/static/line-edit." not in public_page and "data-idx" not in public_page
    assert web.post(f"/episode/{episode.id}/lines/0", data={"text": "x"}).status_code == 401


@pytest.mark.both_databases
def test_the_archive_applies_and_undoes_rules_and_edits_on_either_database(archive) -> None:
    show, _ = archive.add_show(title="Show", source="https://example.org/feed.xml", source_kind="feed")
    episode, _ = archive.upsert_episode(show, guid="g", title="t", kind="audio", status="downloaded")
    said = ["Hablamos de nevaces nevados.", "Nada más.", "Las NEVACES NEVADOS otra vez."]
    archive.replace_transcript(episode.id, [Segment(i, i + 1, t) for i, t in enumerate(said)], source="transcribed")
    store = archive.corrections
    assert store.add_terms(show.id, ["Next.js", "next.js", "Vercel"]) == ["Next.js", "Vercel"]
    assert store.remove_terms(show.id, ["VERCEL"]) == ["Vercel"] and store.terms(show.id) == ["Next.js"]
    rev = archive.get_episode(episode.id).transcript_rev
    _, changed = store.add_rules(show.id, [Rule("nevaces nevados", "bases de datos")])
    assert changed == 2 and archive.get_episode(episode.id).transcript_rev > rev
    assert [s.text for s in archive.segments(episode.id)] == [
        "Hablamos de bases de datos.",
        "Nada más.",
        "Las BASES DE DATOS otra vez.",
    ]
    edit = store.edit_line(episode.id, 0, "Hablamos de bases de datos, hoy.", "owner")
    assert store.remove_rule(show.id, "NEVACES nevados")[1] == 1  # the edited line stays as fixed
    assert [s.text for s in archive.segments(episode.id)] == ["Hablamos de bases de datos, hoy.", *said[1:]]
    store.revert_edit(edit.id, "owner")
    assert [s.text for s in archive.segments(episode.id)] == said
    assert [(e.before, e.after, e.reverted_by) for e in store.edits(episode.id)] == [
        ("Hablamos de bases de datos.", "Hablamos de bases de datos, hoy.", "owner")
    ]


def test_the_owner_previews_applies_and_removes_a_rule_and_the_vocabulary_on_the_show_page(settings) -> None:
    from fastapi.testclient import TestClient

    from fonoteca.web.app import create_app

    token = "Xq3v-9LmT2pWz7Rk_b4N"
    settings = settings.replace(embeddings="none", public=True, token=token)
    with Fonoteca(settings) as app:
        slug, ids = _talk_python(app, files=2)
        before = _lines(app, ids)
    owner = TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"})
    public = TestClient(create_app(settings))

    preview = owner.get(f"/show/{slug}", params={"wrong": "Michael Kennedy", "right": "Mikel Kenedi"}).text
    count = int(re.search(r"would change <strong>(\d+)</strong>", preview).group(1))
    assert count > 0 and preview.count("<del>") == count and "Apply this rule" in preview
    assert "matches a common word" in owner.get(f"/show/{slug}", params={"wrong": "and", "right": "an"}).text
    assert 'id="words"' not in public.get(f"/show/{slug}").text
    assert public.post(f"/show/{slug}/corrections", data={"wrong": "a", "right": "b"}).status_code == 401

    applied = owner.post(f"/show/{slug}/corrections", data={"wrong": "Michael Kennedy", "right": "Mikel Kenedi"})
    assert applied.status_code == 200 and "Mikel Kenedi" in applied.text  # redirected back to the show page
    with Fonoteca(settings) as app:
        after = _lines(app, ids)
        assert sum(before[k] != after[k] for k in before) == count
        [rule] = app.corrections.rules(slug)
    owner.post(f"/show/{slug}/corrections/{rule.id}/remove")
    owner.post(f"/show/{slug}/vocabulary", data={"terms": "Next.js, Vercel\nmidudev"})
    owner.post(f"/show/{slug}/vocabulary/remove", data={"term": "vercel"})
    with Fonoteca(settings) as app:
        assert _lines(app, ids) == before
        assert app.corrections.terms(slug) == ["Next.js", "midudev"]


def test_check_words_lists_the_least_sure_names_of_a_show(settings) -> None:
    with Fonoteca(settings.replace(embeddings="none")) as app:
        show, _ = app.archive.add_show(title="Show", source="https://example.org/feed.xml", source_kind="feed")
        episode, _ = app.archive.upsert_episode(show, guid="g", title="t", kind="audio", status="downloaded")
        words = [(0, 1, " Hoy", 0.2), (1, 2, " con", 0.3), (2, 3, " Midudev", 0.21), (3, 4, " y", 0.9),
                 (4, 5, " Vercel.", 0.95)]  # fmt: skip
        lines = [Segment(0, 5, "Hoy con Midudev y Vercel.", words=words),
                 Segment(5, 6, "Otra vez Midudev.", words=[(5, 5.3, " Otra", 0.9), (5.3, 5.6, " vez", 0.9),
                                                          (5.6, 6, " Midudev.", 0.4)])]  # fmt: skip
        app.archive.replace_transcript(episode.id, lines, source="transcribed")
    result = CliRunner().invoke(cli_app, ["--home", str(settings.home), "check", "--words", show.slug, "--json"])
    assert result.exit_code == 0, result.output
    import json

    listed = json.loads(result.output)
    # "Hoy" starts its sentence and "con" is no name; Vercel is above the threshold
    assert [(w["word"], w["count"], w["probability"]) for w in listed] == [("Midudev", 2, 0.21)]


def test_the_history_names_who_fixed_a_line_from_the_page_or_the_command_line(settings) -> None:
    import json

    from fastapi.testclient import TestClient

    from fonoteca.cli.words import cli_editor
    from fonoteca.web.app import create_app

    token = "Xq3v-9LmT2pWz7Rk_b4N"
    settings = settings.replace(embeddings="none")
    with Fonoteca(settings) as app:
        _, [episode] = _talk_python(app, files=1)
        lines = app.archive.segments(episode, words=False)
    at_this_machine = TestClient(create_app(settings))  # no token: the person at this machine is the owner
    assert at_this_machine.post(f"/episode/{episode}/lines/{lines[1].idx}", data={"text": "Fixed here."}).is_success
    with_token = TestClient(create_app(settings.replace(token=token)), headers={"Authorization": f"Bearer {token}"})
    fixed = with_token.post(f"/episode/{episode}/lines/{lines[2].idx}", data={"text": "Fixed with the token."})
    assert fixed.is_success

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli_app, ["--home", str(settings.home), *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "Fixed the line at" in run("corrections", "edit", episode, str(lines[3].start + 0.01), "Fixed in a shell.")
    [web_edit] = [e for e in json.loads(run("corrections", "history", episode, "--json")) if e["idx"] == lines[2].idx]
    assert f"by {cli_editor()}" in run("corrections", "revert", str(web_edit["id"]))

    history = json.loads(run("corrections", "history", episode, "--json"))
    assert [(e["idx"], e["after"], e["editor"], e["reverted_by"]) for e in history] == [
        (lines[3].idx, "Fixed in a shell.", cli_editor(), None),
        (lines[2].idx, "Fixed with the token.", "owner (web, token from testclient)", cli_editor()),
        (lines[1].idx, "Fixed here.", "owner (web, this machine)", None),
    ]
    assert cli_editor().endswith("(command line)") and "@" in cli_editor()
    page = with_token.get(f"/episode/{episode}").text
    assert "owner (web, this machine)" in page and "owner (web, token from testclient)" in page
    assert cli_editor() in run("corrections", "history", episode)


@pytest.mark.slow
def test_hints_told_everywhere_leave_no_invented_words_after_the_speech(settings) -> None:
    """Told the podcasts' note terms in every window, Whisper base went on after the speech of these two clips ("… and
    can fly. This is the first time I've ever seen a child, a child, a child…"); the episode path leaves those words
    out. (By default the hints are gated, and these clips are not transcribed with them at all: the guard matters
    for the stretches the gate transcribes again.)"""
    from fonoteca.transcribe import Transcriber
    from fonoteca.transcribe.quality import word_error_rate

    notes = shared_path("podcast_long", "es", "linux_express_18.shownotes.md").read_text(encoding="utf-8")
    hints = dataclasses.replace(Hints.of(note_terms("#18 Linux Express", notes.split("---", 2)[2])), everywhere=True)
    transcriber = Transcriber(settings)
    dropped = 0
    for name in ("fleurs-en-004", "fleurs-en-007"):
        clip = shared_path("audio", "en", f"{name}.ogg")
        reference = [clip.with_suffix(".txt").read_text(encoding="utf-8")]
        plain = " ".join(s.text for s in transcriber.transcribe_file(str(clip), language="en"))
        hinted = transcriber.transcribe_file(str(clip), language="en", hints=hints)
        text = " ".join(s.text for s in hinted)
        assert word_error_rate(reference, [text]) <= word_error_rate(reference, [plain]), text
        dropped += sum(hinted.dropped.values())
    assert dropped > 0  # the tails were written, and left out


# A show's vocabulary: the names and terms of the clips of bench/words.py that say them.
_VOCABULARY = Hints.of(["ComfyUI", "Sintra", "Lord Byron", "Northern Marianas", "Quilter", "Americans", "Oravec",
                        "blogs", "Plaza de San Pedro", "Carpanedo", "Wentworth", "Carlos"])  # fmt: skip


def test_the_gate_suspects_a_term_where_whisper_wrote_something_like_it_unsure_and_nowhere_else() -> None:
    # Words and probabilities as Whisper base gave them, without hints, on five of the shared clips.
    comfy = [(" then", 0.3), (" you", 0.94), (" go", 0.99), (" into", 0.98), (" your", 0.96), (" confu", 0.48),
             (" i", 0.31), (" folder", 0.97), (" again", 0.84), (" in", 0.88), (" the", 0.99), (" confu", 0.98),
             (" i", 0.92)]  # fmt: skip
    luchadores = [(" Los", 0.72), (" luchadores", 0.98), (" compañeros", 0.98), (" de", 0.76), (" Luna", 0.92),
                  (" también", 0.94), (" le", 0.54), (" rindieron", 0.83), (" homenaje", 0.96)]  # fmt: skip
    viajeros = [(" Se", 0.76), (" recomienda", 0.98), (" enfaticamente", 0.78), (" a", 0.98), (" los", 1.0),
                (" viajeros", 0.94), (" que", 0.96), (" rijo", 0.66)]  # fmt: skip
    assert _VOCABULARY.misheard(comfy) == {"ComfyUI"}  # "confu i", 0.31 sure of the "i"
    assert _VOCABULARY.misheard([(w, 0.99) for w, _ in comfy]) == set()  # as unlike, but Whisper was sure of it
    assert _VOCABULARY.misheard(luchadores) == {"blogs"}  # "Los", unsure: the gate opens, and the text decides
    assert _VOCABULARY.misheard(viajeros) == set()  # "a los" (sure) is not "Carlos"
    assert _VOCABULARY.misheard([(" Ahora", 0.31), (" ve,", 0.73), (" 2002.", 0.72)]) == {"Oravec"}
    written = [(" la", 0.8), (" plaza", 0.8), (" de", 0.9), (" San", 0.9), (" Pedro.", 0.5)]
    assert _VOCABULARY.misheard(written) == set()  # a term already written is no suspect
    assert _VOCABULARY.misheard([(" Carpaneo", 0.85), (" participó", 0.99)]) == {"Carpanedo"}


@pytest.mark.slow
def test_hints_that_do_not_apply_leave_the_transcript_as_whisper_alone_wrote_it(settings, monkeypatch) -> None:
    """Gated, Whisper writes nothing like a term in this clip, unsure, so the clip is not transcribed again with the
    hints and its words are Whisper's alone; told in every window, the vocabulary reaches Whisper. (Whether it then
    changes this clip's words depends on the CPU's arithmetic: where it was first measured it wrote "sinners, or it's
    because" for "dinosaurs because", on a Xeon with AVX-512 the same words as without; bench/results/words.txt
    measures what it costs.)"""
    from fonoteca.transcribe import Transcriber

    transcriber = Transcriber(settings)
    clip = str(shared_path("audio", "en", "fleurs-en-004.ogg"))
    transcriber._load()
    model = transcriber._model  # the real model (a clip this short skips the batched pipeline), watched: which
    # decodes were told the hints
    told: list[str | None] = []
    decode = model.transcribe

    def watched(audio, **options):
        told.append(options.get(HINTS_OPTION))
        return decode(audio, **options)

    monkeypatch.setattr(model, "transcribe", watched)

    def said(hints: Hints) -> list[tuple[str, list]]:
        told.clear()
        return [(s.text, s.words) for s in transcriber.transcribe_file(clip, language="en", hints=hints)]

    plain = said(Hints())
    assert said(_VOCABULARY) == plain
    assert told == [None]  # one decode, without the hints
    said(dataclasses.replace(_VOCABULARY, everywhere=True))
    assert told and all(hints == ", ".join(_VOCABULARY.terms) for hints in told)


@pytest.mark.slow
def test_a_hint_that_applies_fixes_the_misheard_term_where_it_is_said(settings) -> None:
    from fonoteca.transcribe import Transcriber

    transcriber = Transcriber(settings)
    clip = str(shared_path("audio", "es", "fleurs-es-004.ogg"))
    plain = " ".join(s.text for s in transcriber.transcribe_file(clip, language="es"))
    hinted = list(transcriber.transcribe_file(clip, language="es", hints=_VOCABULARY))
    assert "Carpanedo" not in plain  # Whisper base alone writes "Carpaneo"
    assert "Carpanedo" in " ".join(s.text for s in hinted)
    assert all(s.words and all(0.0 <= w[3] <= 1.0 for w in s.words) for s in hinted)  # the new words keep theirs
