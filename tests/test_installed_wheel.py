"""The wheel is the product: built from the sources and installed on its own (no checkout on the
path), it finds its prompts and knowledge base as package data (importlib.resources), and
`shopassist ask` answers a policy question when run from another directory.

Dependencies come from this venv (`--no-deps`); only the project's own code comes from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from assistant.support.knowledge import default_knowledge_dir, load_sections
from retrieval.stack import copy_data_dir

REPO = Path(__file__).resolve().parent.parent
SOURCES = (
    "pyproject.toml",
    "README.md",
    "app.py",
    "assistant",
    "retrieval",
    "prompts",
    "knowledge",
)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert out.returncode == 0, f"{cmd[:4]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (the build writes build/ and egg-info there)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=_IGNORE)
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", dist, src])
    (built,) = dist.glob("shopassist-*.whl")
    return built


@pytest.fixture(scope="module")
def site(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", target, wheel])
    return target


def _env(site: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPASSIST_")}
    return {**env, "PYTHONPATH": str(site), **extra}


def test_wheel_holds_the_package_data_and_no_evals(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"prompts/__init__.py", "prompts/recommend.v3.yaml", "prompts/replies.v1.yaml"} <= names
    assert {"knowledge/__init__.py", "knowledge/returns.md", "knowledge/faq.md"} <= names
    assert any(n.startswith("assistant/web/widget/") for n in names)
    assert "retrieval/chinese.yaml" in names  # the Chinese lexicon the rules read with
    prompts = {p.name for p in (REPO / "prompts").glob("*.yaml")}
    docs = {p.name for p in (REPO / "knowledge").glob("*.md")}
    assert {n.split("/", 1)[1] for n in names if n.startswith("prompts/")} >= prompts
    assert {n.split("/", 1)[1] for n in names if n.startswith("knowledge/")} >= docs
    assert not any(n.startswith(("evals/", "tests/", "bench/")) for n in names)


def test_installed_package_finds_prompts_and_knowledge(site, tmp_path):
    probe = (
        "import json, assistant, prompts, knowledge\n"
        "from assistant.prompts import PromptLibrary\n"
        "from assistant.support.knowledge import default_knowledge_dir, load_sections\n"
        "lib = PromptLibrary()\n"
        "print(json.dumps({'files': [assistant.__file__, prompts.__file__, knowledge.__file__,"
        " str(default_knowledge_dir())], 'prompts': lib.names(),"
        " 'sections': len(load_sections(default_knowledge_dir())),"
        " 'greeting': lib.text('replies', 'greeting', name='Ada')}))\n"
    )
    # -P: no script directory or working directory on sys.path, only PYTHONPATH and site.
    out = _run([sys.executable, "-P", "-c", probe], cwd=tmp_path, env=_env(site))
    got = json.loads(out.stdout)
    assert all(Path(f).resolve().is_relative_to(site.resolve()) for f in got["files"]), got
    assert ["recommend", 3] in got["prompts"] and ["replies", 1] in got["prompts"]
    assert got["sections"] > 20 and got["greeting"].startswith("Hi Ada!")


@pytest.fixture(scope="module")
def data_dir(stack, tmp_path_factory) -> Path:
    """A private copy of the session's indexed catalogue (SQLite + embedded Chroma), so the
    subprocess neither re-indexes nor shares files with this process."""
    from assistant.support import index_knowledge

    index_knowledge(stack)
    into = tmp_path_factory.mktemp("wheel-data")
    copy_data_dir(stack.settings.data_dir, into)
    return into


def test_shopassist_ask_from_another_directory(site, data_dir, stack, tmp_path):
    script = site / "bin" / "shopassist"
    assert script.is_file(), sorted(p.name for p in (site / "bin").iterdir())
    env = _env(site, SHOPASSIST_DATA_DIR=str(data_dir), SHOPASSIST_LLM_BACKEND="none")
    for key, value in (
        ("SHOPASSIST_DATABASE_URL", stack.settings.database_url),
        ("CHROMA_URL", stack.settings.chroma_url),
    ):
        if value:  # the scale-out pass: the same servers
            env[key] = value
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = _run(
        [sys.executable, "-P", str(script), "ask", "--json", "what is your return policy?"],
        cwd=cwd,
        env=env,
    )
    reply = json.loads(out.stdout)
    assert reply["intent"] == "policy" and not reply["refused"], reply
    # The answer comes from the packaged knowledge base, with its citation.
    assert reply["citations"] and reply["citations"][0]["doc"] in ("returns", "refunds", "faq")
    sections = {s.id: s.text for s in load_sections(default_knowledge_dir())}
    cited = reply["citations"][0]
    assert cited["id"] in sections, cited

    # The evaluations are not in the wheel: the command says so instead of crashing.
    out = subprocess.run(
        [sys.executable, "-P", str(script), "regress", "--model", "none"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )
    assert out.returncode == 2 and "source checkout" in out.stderr, out.stderr
