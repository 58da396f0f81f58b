"""Hints and word confidence, measured in one run with the packaged Whisper base model (fonoteca's own transcriber).

The hints are gated by default (fonoteca.transcribe.hints, Hints.misheard): each clip is transcribed without them,
and only a segment where Whisper wrote, unsure, something like a term is transcribed again with them. The runs
named "everywhere", "as hotwords" or "as initial_prompt" tell every window the hints (Hints.everywhere), as fonoteca
did before the gate: the comparison that shows what the gate keeps and what it saves.

1. Clips with names or technical terms (the real clips of ../shared/data whose speech holds them): term recall (share
   of the terms said that come out right: whole words, case and accents folded) and WER, without hints, with the show's
   vocabulary (every term of these clips, as one show's list would hold them) told everywhere as `hotwords` and as
   `initial_prompt`, gated, and gated with the vocabulary padded with unrelated names to 100 terms (past the cap).
2. The two real Spanish podcasts with their real show notes (a fixed slice: the first --slice seconds of each, through
   the path `sync` takes): which of the notes' terms come out, without hints, with the episode's notes as hints
   (fonoteca.transcribe.hints.note_terms) everywhere and gated, and with the show's vocabulary and the notes gated
   (the default). They have no reference transcript: WER cannot be measured, so the share of words that differ from
   the run without hints is given instead, and every term is listed per run so a reader can judge each.
3. The other clips (no names), with hints that do not apply (the vocabulary above, everywhere as `hotwords` and as
   `initial_prompt` and gated; the same padded to 100 terms, gated; the podcasts' note terms, everywhere and gated):
   WER without and with them (target: no regression beyond +0.005).
4. Word confidence: every word of the clips' runs without hints aligned with its reference (jiwer); for each
   threshold, how many of the wrong words fall under it and how many of the words under it are wrong. The threshold
   the owner's page underlines below is the one with the best F1.

Every run goes through the path an episode takes (Transcriber.transcribe_file: windows, the sequential or batched
decoder by length, the quality guard that drops invented lines and words placed nowhere in the audio,
fonoteca.transcribe.guard), so the figures are those of the archive. The speed cost of hints is each run's seconds
against the run without them, in the same run. Section 3 lists every clip whose words the hints changed, so a
regression can be read, not only counted. Writes bench/results/words.txt.

    PYTHONPATH=src python bench/words.py [--slice 240] [--sections 1,3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import tempfile
import time
import wave
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import jiwer

from fonoteca.settings import Settings
from fonoteca.text import words
from fonoteca.transcribe import SAMPLE_RATE, Hints, Transcriber, decode
from fonoteca.transcribe import hints as hints_module
from fonoteca.transcribe.quality import normalize, word_error_rate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
AUDIO = SHARED / "audio"
PODCASTS = SHARED / "podcast_long" / "es"

# The clips whose speech holds names or terms, and those terms as a show's vocabulary would write them.
TERM_CLIPS: dict[str, tuple[str, ...]] = {
    "multi/faster_whisper_hotwords.mp3": ("ComfyUI",),
    "en/fleurs-en-002.ogg": ("Sintra", "Lord Byron"),
    "en/fleurs-en-006.ogg": ("Northern Marianas",),
    "en/picovoice_leopard_test_en.wav": ("Quilter",),
    "en/jfk.flac": ("Americans",),
    "es/fleurs-es-001.ogg": ("Oravec", "blogs"),
    "es/fleurs-es-002.ogg": ("Plaza de San Pedro",),
    "es/fleurs-es-004.ogg": ("Carpanedo",),
    "es/mfa_mls_es_13697_11991_000000.opus": ("Wentworth", "Carlos"),
}
NO_REFERENCE = {"multi/faster_whisper_hotwords.mp3"}  # only "ComfyUI" is known to be said
OTHER_CLIPS = (
    [f"en/fleurs-en-00{i}.ogg" for i in (0, 1, 3, 4, 5, 7)]
    + ["en/mfa_librispeech_61-70968-0000.flac", "en/picovoice_cheetah_test_en.wav"]
    + [f"es/fleurs-es-00{i}.ogg" for i in (0, 3, 5, 6)]
    + ["es/picovoice_leopard_test_es.wav"]
)
# Names a show's list might hold that none of the clips says: the padding of the "how many terms" runs.
UNRELATED = tuple(
    (
        "Kubernetes PostgreSQL TypeScript Vercel midudev Next.js Svelte Tailwind Cloudflare Supabase Deno Bun Astro "
        "Laravel Django FastAPI Redis Kafka GraphQL WebAssembly Rust Golang Elixir Haskell OCaml Zig Nginx Traefik "
        "Grafana Prometheus Terraform Ansible Jenkins GitLab Bitbucket Figma Notion Obsidian Raycast Arc Brave Vivaldi "
        "Mastodon Bluesky Threads Twitch Kick Discord Slack Zoom Jitsi Nextcloud Syncthing Proxmox TrueNAS Unraid "
        "Jellyfin Plex Emby Sonarr Radarr Lidarr Home_Assistant ESPHome Zigbee Matter Thread Tasmota Shelly Ubiquiti "
        "MikroTik pfSense OPNsense WireGuard Tailscale Headscale ZeroTier Vaultwarden Bitwarden KeePassXC Authelia "
        "Keycloak Authentik Immich PhotoPrism Paperless Firefly Actual Ghostfolio Miniflux FreshRSS Wallabag Linkding "
        "Kavita Calibre Audiobookshelf Navidrome Gitea Forgejo Woodpecker Drone Coolify Dokku CapRover"
    )
    .replace("_", " ")
    .split()
)


@dataclass
class Run:
    name: str
    texts: dict[str, str] = field(default_factory=dict)
    probabilities: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    seconds: float = 0.0
    dropped: Counter[str] = field(default_factory=Counter)  # by the quality guard, by reason

    def add(self, other: Run) -> None:
        self.texts.update(other.texts)
        self.probabilities.update(other.probabilities)
        self.seconds += other.seconds
        self.dropped.update(other.dropped)

    @property
    def dropped_text(self) -> str:
        return ", ".join(f"{reason} {n}" for reason, n in sorted(self.dropped.items())) or "-"


OPTION = hints_module.HINTS_OPTION  # what fonoteca passes the hints as; section 1 also measures the other way
Clips = dict[str, tuple[str, str | None]]  # key: (media file, language; None: detected)


def transcribe(transcriber: Transcriber, name: str, clips: Clips, hints: Hints, option: str) -> Run:
    """Every clip once through the episode path, with `hints` passed as faster-whisper's `option`."""
    hints_module.HINTS_OPTION = option  # the one switch the bench turns: which of faster-whisper's ways carries them
    run = Run(name)
    for key, (path, language) in clips.items():
        started = time.perf_counter()
        transcription = transcriber.transcribe_file(path, language=language, hints=hints)
        segments = list(transcription)
        run.seconds += time.perf_counter() - started
        run.dropped.update(transcription.dropped)
        run.texts[key] = " ".join(s.text for s in segments)
        run.probabilities[key] = [(w[2], float(w[3])) for s in segments for w in (s.words or []) if len(w) > 3]
    print(f"  {name}: {run.seconds:.1f} s", flush=True)
    return run


def write_slice(source: Path, seconds: float, folder: Path) -> str:
    """The first `seconds` of `source` as a 16 kHz mono WAV (the samples decode() reads, 16-bit as they came)."""
    samples = decode(str(source))[: int(seconds * SAMPLE_RATE)]
    target = folder / f"{source.stem}.wav"
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((samples * 32768.0).round().clip(-32768, 32767).astype("<i2").tobytes())
    return str(target)


def term_recall(run: Run, terms: dict[str, tuple[str, ...]]) -> tuple[int, int, list[str]]:
    """(terms found, terms said, the ones missed): whole words in order, case and accents folded."""
    found, total, missed = 0, 0, []
    for key, said in terms.items():
        hypothesis = " ".join(words(run.texts[key]))
        for term in said:
            total += 1
            if re.search(rf"(?<!\w){re.escape(' '.join(words(term)))}(?!\w)", hypothesis):
                found += 1
            else:
                missed.append(term)
    return found, total, missed


def reference(key: str) -> str:
    return (AUDIO / key).with_suffix(".txt").read_text(encoding="utf-8").strip()


def wer_of(run: Run, keys: list[str]) -> float:
    keys = [k for k in keys if k not in NO_REFERENCE]
    return word_error_rate([reference(k) for k in keys], [run.texts[k] for k in keys])


def confidence_table(runs: list[Run], keys: list[str]) -> tuple[list[str], float]:
    """Each hypothesis word aligned with its reference: its probability and whether it is right. Returns the table's
    lines and the threshold with the best F1 at flagging wrong words."""
    scored: list[tuple[float, bool]] = []
    for run in runs:
        for key in run.probabilities:
            if key in NO_REFERENCE or key not in keys:
                continue
            tokens = [(t, p) for word, p in run.probabilities[key] for t in normalize(word).split()]
            hypothesis = [t for t, _ in tokens]
            output = jiwer.process_words(normalize(reference(key)), " ".join(hypothesis) or "-")
            right = [False] * len(hypothesis)
            for chunk in output.alignments[0]:
                if chunk.type == "equal":
                    for i in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                        right[i] = True
            scored += [(p, ok) for (_, p), ok in zip(tokens, right, strict=False)]
    wrong_total = sum(1 for _, ok in scored if not ok)
    lines = [f"  {len(scored)} words, {wrong_total} wrong (substituted or inserted)"]
    lines.append("  threshold  flagged  wrong among flagged (precision)  wrong words flagged (recall)  F1")
    best, best_f1 = 0.5, -1.0
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        flagged = [ok for p, ok in scored if p < threshold]
        hits = sum(1 for ok in flagged if not ok)
        precision = hits / len(flagged) if flagged else 0.0
        recall = hits / wrong_total if wrong_total else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        lines.append(f"  {threshold:9.1f}  {len(flagged):7d}  {precision:32.2f}  {recall:28.2f}  {f1:.2f}")
        if f1 > best_f1:
            best, best_f1 = threshold, f1
    return lines, best


def notes_of(path: Path) -> tuple[str, str]:
    """(title, notes) of a Jekyll show-notes file: its front matter's title and the Markdown after it, as a feed's
    item would carry them."""
    text = path.read_text(encoding="utf-8")
    _, front, body = text.split("---", 2)
    title = re.search(r'^title:\s*"?(.*?)"?\s*$', front, re.MULTILINE)
    return (title.group(1) if title else ""), body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slice", type=float, default=120.0, help="seconds of each podcast (from its start)")
    parser.add_argument(
        "--sections",
        default="1,2,3,4",
        help="which sections to run, e.g. 1,3 (4 needs 1 and 3); a partial run prints, and writes no results file",
    )
    args = parser.parse_args()
    sections = {int(n) for n in args.sections.split(",")}
    if not AUDIO.exists():
        raise SystemExit(f"needs the shared data at {SHARED}")
    with tempfile.TemporaryDirectory() as home:
        settings = Settings.from_env(home=home, device="cpu")
        transcriber = Transcriber(settings)
        transcriber.load()
        out = measure(transcriber, args.slice, Path(home), sections)
    header = [
        "bench/words.py: hints (vocabulary, show notes) and word confidence, packaged Whisper base",
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {transcriber.model_name}, {transcriber.engine}",
        "other work ran beside it on this shared machine: compare the ratios, not the seconds",
        "",
    ]
    text = "\n".join(header + out) + "\n"
    print(text)
    if sections == {1, 2, 3, 4}:
        target = Path(__file__).parent / "results" / "words.txt"
        target.write_text(text, encoding="utf-8")


def everywhere(hints: Hints) -> Hints:
    """The hints told to every window, not only where the gate opens: what fonoteca did before the gate."""
    return dataclasses.replace(hints, everywhere=True)


def measure(transcriber: Transcriber, slice_s: float, scratch: Path, sections: set[int]) -> list[str]:
    def language(key: str) -> str | None:
        return None if key.startswith("multi/") else key.split("/")[0]

    term_clips: Clips = {key: (str(AUDIO / key), language(key)) for key in TERM_CLIPS}
    other_clips: Clips = {key: (str(AUDIO / key), language(key)) for key in OTHER_CLIPS}
    vocabulary = tuple(t for terms in TERM_CLIPS.values() for t in terms)
    padded = vocabulary + UNRELATED[: 100 - len(vocabulary)]  # past the cap on purpose: how the gate holds with 100
    episodes = sorted(PODCASTS.glob("*.mp3"))
    notes = {p.name: hints_module.note_terms(*notes_of(p.with_suffix(".shownotes.md"))) for p in episodes}
    show_vocabulary = tuple(dict.fromkeys(t for terms in notes.values() for t in terms))
    out: list[str] = []
    base: Run | None = None
    other_base: Run | None = None

    def vocabulary_runs(clips: Clips) -> dict[str, Run]:
        """The clips without hints, with the vocabulary told everywhere (both of faster-whisper's ways) and gated,
        and with 100 terms gated."""
        return {
            "no hints": transcribe(transcriber, "no hints", clips, Hints(), OPTION),
            "vocabulary as hotwords": transcribe(
                transcriber, "vocabulary as hotwords", clips, everywhere(Hints(vocabulary)), "hotwords"
            ),
            "vocabulary as initial_prompt": transcribe(
                transcriber, "vocabulary as initial_prompt", clips, everywhere(Hints(vocabulary)), "initial_prompt"
            ),
            "vocabulary, gated": transcribe(transcriber, "vocabulary, gated", clips, Hints(vocabulary), OPTION),
            "100 terms, gated": transcribe(transcriber, "100 terms, gated", clips, Hints(padded), OPTION),
        }

    if 1 in sections:
        print("1. clips with terms", flush=True)
        runs = vocabulary_runs(term_clips)
        base = runs["no hints"]
        keys = list(TERM_CLIPS)
        out.append(
            f"1. Clips with names or terms ({len(keys)} clips, {len(vocabulary)} terms: {', '.join(vocabulary)})"
        )
        out.append(f"   WER over the {len(keys) - len(NO_REFERENCE)} with a full reference; term recall over all")
        out.append("   'as hotwords', 'as initial_prompt': every window told the hints (before the gate); 'gated': the")
        out.append(f"   default, as {OPTION} only where Whisper wrote, unsure, something like a term (Hints.misheard);")
        out.append("   100 terms: the 12 padded with unrelated names, past the cap of 12")
        out.append(f"   {'run':34} {'terms':>7} {'recall':>7} {'WER':>7} {'seconds':>8} {'x no hints':>10}  missed")
        for name, run in runs.items():
            found, total, missed = term_recall(run, TERM_CLIPS)
            out.append(
                f"   {name:34} {found:>3}/{total:<3} {found / total:7.0%} {wer_of(run, keys):7.3f} "
                f"{run.seconds:8.1f} {run.seconds / base.seconds:10.2f}  {', '.join(missed)}"
            )
        out.append("   dropped by the quality guard: " + "; ".join(f"{n}: {r.dropped_text}" for n, r in runs.items()))
        out.append("")

    if 2 in sections:
        print("2. podcasts", flush=True)
        podcast_clips: Clips = {p.name: (write_slice(p, slice_s, scratch), "es") for p in episodes}
        podcast_runs = {"no hints": transcribe(transcriber, "no hints", podcast_clips, Hints(), OPTION)}
        for name, per_episode in (
            ("episode notes, everywhere", lambda key: everywhere(Hints.of(notes[key]))),
            ("episode notes, gated", lambda key: Hints.of(notes[key])),
            ("vocabulary + notes, gated", lambda key: Hints.of(show_vocabulary, notes[key])),
        ):
            run = Run(name)
            for key, clip in podcast_clips.items():
                run.add(transcribe(transcriber, f"{name} ({key})", {key: clip}, per_episode(key), OPTION))
            podcast_runs[name] = run
        out.append(f"2. Real Spanish podcasts, the first {slice_s:.0f} s of each, with their real show notes")
        for key, terms in notes.items():
            out.append(f"   {key}: note terms {', '.join(terms)}")
        out.append(f"   show vocabulary (both episodes' note terms): {', '.join(show_vocabulary)}")
        out.append("   no reference transcript: 'changed' is the share of words that differ from the run without hints")
        note_terms_said = {key: tuple(terms) for key, terms in notes.items()}
        none = podcast_runs["no hints"]
        for name, run in podcast_runs.items():
            found, total, missed = term_recall(run, note_terms_said)
            changed = word_error_rate([none.texts[k] for k in podcast_clips], [run.texts[k] for k in podcast_clips])
            out.append(
                f"   {name:26} note terms out {found:>2}/{total:<2} changed {changed:6.3f} {run.seconds:7.1f} s "
                f"x{run.seconds / none.seconds:5.2f}  dropped: {run.dropped_text}  not out: {', '.join(missed)}"
            )
        for key in podcast_clips:
            for name in ("no hints", "episode notes, everywhere", "vocabulary + notes, gated"):
                out.append(f"   [{key}, {name}] {podcast_runs[name].texts[key][:600]}")
        out.append("")

    if 3 in sections:
        print("3. other clips", flush=True)
        other = {
            **vocabulary_runs(other_clips),
            "note terms, everywhere": transcribe(
                transcriber, "note terms, everywhere", other_clips, everywhere(Hints.of(show_vocabulary)), OPTION
            ),
            "note terms, gated": transcribe(
                transcriber, "note terms, gated", other_clips, Hints.of(show_vocabulary), OPTION
            ),
        }
        other_base = other["no hints"]
        other_keys = list(OTHER_CLIPS)
        base_wer = wer_of(other_base, other_keys)
        out.append(
            f"3. Other clips ({len(other_keys)}, no names), hints that do not apply (target: WER +0.005 at most):"
        )
        out.append("   the vocabulary of section 1, the same padded to 100 terms, the podcasts' note terms")
        for name, run in other.items():
            wer = wer_of(run, other_keys)
            out.append(
                f"   {name:28} WER {wer:.3f} ({wer - base_wer:+.3f})  {run.seconds:6.1f} s "
                f"x{run.seconds / other_base.seconds:5.2f}  dropped: {run.dropped_text}"
            )
        out.append("   clips whose words the hints changed (WER without -> with):")
        for name, run in list(other.items())[1:]:
            for key in other_keys:
                if normalize(run.texts[key]) != normalize(other_base.texts[key]):
                    without, with_hints = wer_of(other_base, [key]), wer_of(run, [key])
                    out.append(f"   [{name}] {key} {without:.3f} -> {with_hints:.3f}: {run.texts[key][:300]}")
        out.append("")

    if 4 in sections and base and other_base:
        lines, best = confidence_table([base, other_base], list(TERM_CLIPS) + list(OTHER_CLIPS))
        out.append("4. Word confidence (Whisper's word probability) against the references, runs without hints")
        out += lines
        out.append(f"   best F1 at {best}: the owner's page underlines words below it")
    return out


if __name__ == "__main__":
    main()
