"""Who speaks when in a recording, offline, on CPU: pyannote segmentation-3.0 and CAM++ on onnxruntime, Kaldi fbank by
kaldi-native-fbank, and scipy's agglomerative clustering. No torch, nothing downloaded.

The route is pyannote.audio 3's: the file is read ten seconds at a time (the window the segmentation model was trained
on). In each window the model says, per 17 ms frame, which of up to three *local* speakers talk (at most two at once).
Each local speaker with enough speech of their own in the window gets a CAM++ embedding of that speech. Once the whole
file is read, the embeddings are clustered into the episode's speakers, every window's local speakers take their
cluster's number, and the frames become turns. Memory grows only with a few bytes per frame and one 192-float vector
per window and speaker (8 MB for eight hours), never with the audio: a window is decoded, used and dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import pdist

from fonoteca.diarize.features import fbank, fbank_options
from fonoteca.diarize.weights import EMBEDDING, SEGMENTATION, load_session
from fonoteca.errors import MediaError
from fonoteca.transcribe.audio import SAMPLE_RATE, duration_of, read_window

WINDOW_SECONDS = 10.0  # what segmentation-3.0 was trained on
WINDOW_SAMPLES = int(WINDOW_SECONDS * SAMPLE_RATE)
WINDOWS_PER_READ = 6  # one decode and one model call per minute of audio
FRAME_STEP = 0.016875  # seconds between the segmentation model's output frames (270 samples)
FRAME_SAMPLES = 270
FRAME_CENTRE = 0.0309  # half the model's receptive field (0.0619 s): where frame 0 sits in its window
# The model's 7 classes are sets of local speakers: none, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}.
POWERSET = np.array(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]],
    dtype=np.float32,
)
MIN_EMBEDDED_SECONDS = 0.5  # less speech than this gives no usable embedding: the local speaker is left out
MAX_EMBEDDED_SECONDS = 4.0  # CAM++ is the slow part; four seconds of a voice identify it as well as ten
CLUSTERED_SECONDS = 2.0  # embeddings of at least this much speech define the clusters; shorter ones join the nearest
CLUSTER_DISTANCE = 0.35  # average-linkage cosine distance at which two groups are different people (bench/speakers.py)
MAX_CLUSTERED = 3000  # beyond this many embeddings (~7 h), an even sample defines the clusters: linkage is O(n²)
MIN_SPEAKER_SECONDS = 2.0  # a cluster with less speech than this is merged into the nearest one (noise, coughs)
MERGE_GAP = 0.5  # one speaker's turns closer than this are one turn
MIN_TURN = 0.2  # shorter label changes are flicker, not turns

# Cosine similarity of two voice prints above which they are the same person, measured on the assembled episodes of
# bench/speakers.py (bench/results/speakers.txt): the same voice from different audio 0.53-0.99 (median 0.95; the
# low ones are speakers the clustering mixed with another voice), different people at most 0.54 (median 0.40). At
# 0.6 no new voice and no wrong name was given in 74 episode pairs; at 0.5 new voices start getting names.
MATCH_THRESHOLD = 0.6


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: int  # speakers are numbered 0, 1, 2… in order of first appearance


@dataclass(frozen=True)
class Diarization:
    turns: list[Turn]  # sorted and non-overlapping: where two talk at once, the turn goes to the more certain one
    voice_prints: dict[int, np.ndarray]  # L2-normalised float32 mean CAM++ embedding per speaker
    seconds: dict[int, float]  # speaking time per speaker


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two voice prints (1: the same direction)."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


@dataclass
class _Window:
    start: float  # seconds from the file's start
    frames: int  # frames that hold real audio (the last window is padded with silence)
    activity: np.ndarray  # (frames, 3) uint8: each local speaker's probability of speaking, ×255


@dataclass
class _LocalSpeaker:
    window: int
    local: int  # 0..2 within the window
    seconds: float  # speech of their own the embedding was made from
    embedding: np.ndarray  # L2-normalised


class Diarizer:
    """Owns the two onnxruntime sessions; built once by the application object and used for every episode."""

    def __init__(self, *, threads: int | None = None) -> None:
        self._segmentation = load_session(SEGMENTATION, threads)
        self._embedding = load_session(EMBEDDING, threads)
        self._fbank_options = fbank_options()

    def diarize(
        self,
        audio: Path,
        *,
        speakers: int | None = None,
        on_progress: Callable[[float, float], None] | None = None,
    ) -> Diarization:
        """Who speaks when in `audio`; `speakers` when the owner knows how many there are. Raises MediaError for a
        file that cannot be decoded."""
        path = str(audio)
        total = duration_of(path) or 0.0
        windows: list[_Window] = []
        locals_: list[_LocalSpeaker] = []
        position = 0.0
        while True:
            read = read_window(path, position, WINDOW_SECONDS * WINDOWS_PER_READ)
            if read.samples.size:
                self._segment(read.samples, position, windows, locals_)
            position = read.end
            if on_progress is not None:
                on_progress(position, max(total, position))
            if read.last:
                break
        labels, centroids = _cluster(locals_, speakers)
        return _result(windows, locals_, labels, centroids)

    def voice_print(self, audio: Path, spans: Sequence[tuple[float, float]]) -> np.ndarray:
        """The L2-normalised mean embedding of the speech in `spans` (seconds) of `audio`: a voice to compare with
        `similarity`. Raises MediaError when the spans hold less than half a second of audio."""
        pieces = [
            (s, min(end, s + MAX_EMBEDDED_SECONDS))
            for start, end in spans
            for s in np.arange(start, end, MAX_EMBEDDED_SECONDS)
            if min(end, s + MAX_EMBEDDED_SECONDS) - s >= MIN_EMBEDDED_SECONDS
        ]
        if len(pieces) > 100:  # an hour of one host says no more than a hundred samples of it spread over the hour
            pieces = [pieces[i] for i in np.linspace(0, len(pieces) - 1, 100).round().astype(int)]
        total = np.zeros(192, dtype=np.float32)
        for start, end in pieces:
            samples = read_window(str(audio), float(start), float(end - start)).samples
            if samples.size >= MIN_EMBEDDED_SECONDS * SAMPLE_RATE:
                total += self._embed(samples) * (samples.size / SAMPLE_RATE)
        if not total.any():
            raise MediaError(
                f"less than {MIN_EMBEDDED_SECONDS} s of audio in the given turns of {audio}",
                "choose longer turns of this speaker",
            )
        return _normalised(total)

    def _segment(self, samples: np.ndarray, offset: float, windows: list[_Window], out: list[_LocalSpeaker]) -> None:
        count = -(-samples.size // WINDOW_SAMPLES)
        batch = np.zeros((count, 1, WINDOW_SAMPLES), dtype=np.float32)
        for i in range(count):
            piece = samples[i * WINDOW_SAMPLES : (i + 1) * WINDOW_SAMPLES]
            batch[i, 0, : piece.size] = piece
        log_probs = self._segmentation.run(None, {"waveform": batch})[0]
        for i in range(count):
            real = min(WINDOW_SAMPLES, samples.size - i * WINDOW_SAMPLES)
            frames = min(log_probs.shape[1], max(1, real // FRAME_SAMPLES))
            probs = np.exp(log_probs[i, :frames])
            classes = probs.argmax(axis=1)
            windows.append(
                _Window(
                    start=offset + i * WINDOW_SECONDS,
                    frames=frames,
                    activity=np.clip(probs @ POWERSET * 255 + 0.5, 0, 255).astype(np.uint8),
                )
            )
            window_samples = batch[i, 0, :real]
            for local in range(3):
                own = np.flatnonzero(classes == local + 1)  # frames where this speaker talks alone
                if own.size * FRAME_STEP < MIN_EMBEDDED_SECONDS:
                    # A voice heard only over another's (an interruption, a laugh) still counts, from the overlap
                    own = np.flatnonzero(POWERSET[classes, local] > 0)
                if own.size * FRAME_STEP < MIN_EMBEDDED_SECONDS:
                    continue
                speech = np.concatenate([window_samples[f * FRAME_SAMPLES : (f + 1) * FRAME_SAMPLES] for f in own])
                speech = speech[: int(MAX_EMBEDDED_SECONDS * SAMPLE_RATE)]
                if speech.size < MIN_EMBEDDED_SECONDS * SAMPLE_RATE:
                    continue
                out.append(_LocalSpeaker(len(windows) - 1, local, speech.size / SAMPLE_RATE, self._embed(speech)))

    def _embed(self, samples: np.ndarray) -> np.ndarray:
        features = fbank(samples, self._fbank_options)
        embedding = self._embedding.run(None, {"fbank": features[None]})[0][0]
        return _normalised(embedding)


def _normalised(vector: np.ndarray) -> np.ndarray:
    return (vector / (np.linalg.norm(vector) + 1e-12)).astype(np.float32)


def _cluster(locals_: list[_LocalSpeaker], speakers: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Each local speaker's cluster, and the clusters' normalised centroids."""
    if not locals_:
        return np.zeros(0, dtype=int), np.zeros((0, 192), dtype=np.float32)
    embeddings = np.stack([s.embedding for s in locals_])
    seconds = np.array([s.seconds for s in locals_])
    defining = np.flatnonzero(seconds >= CLUSTERED_SECONDS)
    if defining.size < 2:
        defining = np.arange(len(locals_))
    if defining.size > MAX_CLUSTERED:
        defining = defining[np.linspace(0, defining.size - 1, MAX_CLUSTERED).round().astype(int)]
    if defining.size == 1 or speakers == 1:
        groups = np.zeros(defining.size, dtype=int)
    else:
        distances = pdist(embeddings[defining], metric="cosine")
        # Two speakers of one window are two people (the segmentation model keeps a voice on one local speaker)
        windows = np.array([locals_[i].window for i in defining])
        distances[pdist(windows[:, None], metric="cityblock") == 0] = 2.0
        tree = linkage(distances, method="average")
        if speakers:
            groups = fcluster(tree, t=speakers, criterion="maxclust") - 1
        else:
            groups = fcluster(tree, t=CLUSTER_DISTANCE, criterion="distance") - 1
    centroids = np.stack([_normalised(embeddings[defining[groups == g]].mean(axis=0)) for g in np.unique(groups)])
    labels = _assign(locals_, embeddings, centroids)
    if not speakers:
        centroids, labels = _merge_small(locals_, embeddings, seconds, centroids, labels)
    return labels, centroids


def _assign(locals_: list[_LocalSpeaker], embeddings: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each local speaker's nearest centroid, the speakers of one window to different ones while there are enough."""
    affinity = embeddings @ centroids.T
    labels = affinity.argmax(axis=1)
    start = 0
    while start < len(locals_):
        end = start
        while end < len(locals_) and locals_[end].window == locals_[start].window:
            end += 1
        if 1 < end - start <= len(centroids):
            rows, columns = linear_sum_assignment(-affinity[start:end])
            labels[start + rows] = columns
        start = end
    return labels


def _merge_small(
    locals_: list[_LocalSpeaker], embeddings: np.ndarray, seconds: np.ndarray, centroids: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters with less than MIN_SPEAKER_SECONDS of speech join the nearest bigger one."""
    talk = np.bincount(labels, weights=seconds, minlength=len(centroids))
    keep = np.flatnonzero(talk >= MIN_SPEAKER_SECONDS)
    if keep.size in (0, len(centroids)):
        return centroids, labels
    centroids = centroids[keep]
    labels = _assign(locals_, embeddings, centroids)
    centroids = np.stack([_normalised(embeddings[labels == g].mean(axis=0)) for g in range(len(centroids))])
    return centroids, labels


def _result(
    windows: list[_Window], locals_: list[_LocalSpeaker], labels: np.ndarray, centroids: np.ndarray
) -> Diarization:
    mapping: dict[tuple[int, int], int] = {(s.window, s.local): int(g) for s, g in zip(locals_, labels, strict=True)}
    runs: list[list] = []  # [start, end, cluster], in time order
    for index, window in enumerate(windows):
        clusters = np.array([mapping.get((index, local), -1) for local in range(3)])
        speaking = (window.activity > 127) & (clusters >= 0)  # more than even odds, and a voice we know
        # Where two speak at once the frame goes to the one who speaks less in this window: the other one has the
        # rest of it, and a voice heard only over another's (an interruption, a reply) still gets its turn.
        priority = np.where(speaking, -window.activity.mean(axis=0, dtype=np.float32), -np.inf)
        best = np.where(speaking.any(axis=1), clusters[priority.argmax(axis=1)], len(centroids))
        changes = np.flatnonzero(np.diff(best)) + 1
        for begin, end in zip(np.r_[0, changes], np.r_[changes, window.frames], strict=True):
            cluster = int(best[begin])
            if cluster == len(centroids):
                continue
            start = window.start + FRAME_CENTRE + begin * FRAME_STEP
            stop = window.start + FRAME_CENTRE + end * FRAME_STEP
            if runs and runs[-1][2] == cluster and start - runs[-1][1] <= MERGE_GAP:
                runs[-1][1] = stop
            else:
                runs.append([start, stop, cluster])
    runs = [run for run in runs if run[1] - run[0] >= MIN_TURN]
    merged: list[list] = []
    for run in runs:  # dropping flicker can bring one speaker's turns together again
        if merged and merged[-1][2] == run[2] and run[0] - merged[-1][1] <= MERGE_GAP:
            merged[-1][1] = run[1]
        else:
            merged.append(list(run))
    numbers: dict[int, int] = {}
    for run in merged:
        numbers.setdefault(run[2], len(numbers))
    turns = [Turn(round(float(start), 3), round(float(end), 3), numbers[cluster]) for start, end, cluster in merged]
    seconds: dict[int, float] = {}
    for turn in turns:
        seconds[turn.speaker] = seconds.get(turn.speaker, 0.0) + turn.end - turn.start
    voice_prints = {number: centroids[cluster] for cluster, number in numbers.items()}  # speakers who kept a turn
    return Diarization(turns=turns, voice_prints=voice_prints, seconds={k: round(v, 3) for k, v in seconds.items()})
