"""README's "Running for real" runs as written: its commands set every setting production refuses to
start without (config.PRODUCTION_REQUIRED), and an app started from exactly that environment starts.
(It once left out the ID number keys, and its first command stopped on a ConfigError.)"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from jifen.platform.config import PRODUCTION_REQUIRED

ROOT = Path(__file__).resolve().parent.parent


def _production_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running for real", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.S)[1]


def test_the_readme_sets_every_setting_production_requires():
    block = _production_block()
    exported = set(re.findall(r"\b(JIFEN_\w+)=", "\n".join(l for l in block.splitlines()  # noqa: E741
                                                              if l.startswith(("export", " ")))))
    assert {variable for _key, variable, _what in PRODUCTION_REQUIRED} <= exported, exported


def test_an_app_starts_from_the_readmes_environment(tmp_path):
    """The block's own exports (its key-generating commands run), then the app is made as
    `jifen db upgrade` and gunicorn make it; nothing is reached (PostgreSQL and Redis connect lazily)."""
    lines, exports = _production_block().splitlines(), []
    for line in lines:  # the export statements with their continuation lines
        if line.startswith("export") or (exports and exports[-1].endswith("\\")):
            exports.append(line)
    script = "\n".join(exports) + '\nexec python3 -c "from jifen import create_app; create_app()"\n'
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the venv's python3
    done = subprocess.run(["bash", "-euc", script], cwd=tmp_path, env=env | {"PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
