"""A built wheel holds every package and data file symgraph imports (not only ``-e``).

An editable install imports from the checkout, so a package missing from the setup
metadata goes unnoticed until a user installs a wheel (``symgraph.link.numba.impl`` once
did: the first ``function()`` raised ModuleNotFoundError). ``.ci/run`` installs the wheel
into a fresh venv and trains from it; these tests catch the same mistake in seconds.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _packages_on_disk() -> set[str]:
    """Dotted names of the folders with an ``__init__.py``, as they are installed."""
    names = set()
    for top, prefix in (("symgraph", "symgraph"), ("kernels", "symgraph.kernels")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            names.add(".".join((prefix,) + rel))
    return names


def test_setup_finds_every_package():
    from setuptools import distutils  # noqa: F401 - installs setuptools' distutils shim
    from distutils.core import run_setup

    dist = run_setup(str(ROOT / "setup.py"), stop_after="config")
    assert set(dist.packages) == _packages_on_disk()
    assert dist.package_dir == {"symgraph.kernels": "kernels"}


@pytest.mark.slow
def test_wheel_holds_every_module(tmp_path):
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("symgraph", "kernels"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--wheel-dir", str(tmp_path / "dist"), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = (tmp_path / "dist").glob("symgraph-*.whl")
    with zipfile.ZipFile(wheel) as z:
        in_wheel = {n for n in z.namelist() if not n.startswith("symgraph-")}
    expected = set()
    for top, prefix in (("symgraph", "symgraph"), ("kernels", "symgraph/kernels")):
        for f in (src / top).rglob("*"):
            if f.is_file():
                expected.add(prefix + "/" + f.relative_to(src / top).as_posix())
    assert expected - in_wheel == set()
    assert any(n.startswith("symgraph/datasets/data/") and n.endswith(".gz") for n in in_wheel)
    assert "symgraph/link/numba/impl/__init__.py" in in_wheel
    assert "symgraph/kernels/cpu/__init__.py" in in_wheel
