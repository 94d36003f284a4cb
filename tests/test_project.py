"""The project's promises about itself: one dependency list, no committed data."""

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_points_at_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = (ROOT / "environment.yml").read_text()
    assert "conda-forge" in env and re.search(r"python\s*=\s*3\.11", env)
    assert "- -e .[dev]" in env, "environment.yml must install the project with its dev extra"
    assert set(pyproject["project"]["optional-dependencies"]) == {"dev", "pretrained"}
    names = {re.split(r"[<>=\[ ]", d)[0] for d in pyproject["project"]["dependencies"]}
    assert {"torch", "numpy", "tiktoken", "matplotlib", "ipywidgets", "jupyterlab", "tqdm"} <= names
    dev = {re.split(r"[<>=\[ ]", d)[0] for d in pyproject["project"]["optional-dependencies"]["dev"]}
    assert {"pytest", "nbval", "ruff"} <= dev
    # environment.yml names no package of its own that could drift from pyproject
    spec = yaml.safe_load(env)
    assert spec["channels"] == ["conda-forge"]
    conda, pip = spec["dependencies"][:2], spec["dependencies"][2]
    assert conda == ["python=3.11", "pip"] and pip == {"pip": ["-e .[dev]"]}


def test_no_data_or_checkpoints_in_git():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in files if f.endswith((".pt", ".bin", ".safetensors", ".ckpt"))]
    assert "tinyshakespeare.txt" not in {Path(f).name for f in files}
