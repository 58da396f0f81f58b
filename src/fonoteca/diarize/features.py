"""CAM++'s input: 80-bin Kaldi filterbank features (3D-Speaker's FBank: torchaudio.compliance.kaldi.fbank's defaults,
no dither) with the utterance's mean taken away.

It needs kaldi-native-fbank and numpy only, so that the conversion script (scripts/speaker_models/convert.py) loads
this very file to feed and check the models as fonoteca feeds them, without importing fonoteca."""

from __future__ import annotations

import kaldi_native_fbank as knf
import numpy as np

FEATURES_SAMPLE_RATE = 16_000


def fbank_options() -> knf.FbankOptions:
    options = knf.FbankOptions()
    options.frame_opts.samp_freq = FEATURES_SAMPLE_RATE
    options.frame_opts.dither = 0.0
    options.frame_opts.snip_edges = True
    options.frame_opts.window_type = "povey"
    options.mel_opts.num_bins = 80
    options.mel_opts.low_freq = 20.0
    options.mel_opts.high_freq = 0.0
    options.use_energy = False
    return options


def fbank(samples: np.ndarray, options: knf.FbankOptions | None = None) -> np.ndarray:
    """(frames, 80) float32 features of 16 kHz float samples in [-1, 1)."""
    computer = knf.OnlineFbank(options or fbank_options())
    computer.accept_waveform(FEATURES_SAMPLE_RATE, samples * 32768.0)
    computer.input_finished()
    features = np.stack([computer.get_frame(i) for i in range(computer.num_frames_ready)])
    features -= features.mean(axis=0)  # 3D-Speaker's per-utterance mean normalisation
    return features.astype(np.float32)
