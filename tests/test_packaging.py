"""What `pip install .` (the README's first command) ships: every module and every page file.
The suite itself runs on an editable install, which would hide a package left out."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_every_module_and_page_file(tmp_path: Path) -> None:
    # A clean copy: setuptools reuses a build/ folder, which would mask what find: leaves out.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "appliance", source / "appliance",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("appliance-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    wanted = {str(p.relative_to(ROOT)) for p in (ROOT / "appliance").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    missing = sorted(wanted - shipped)
    assert not missing, f"left out of the wheel: {missing[:10]}"
