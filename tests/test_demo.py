"""`make demo`'s main job: it finishes, stops everything it started, and names files that exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_the_demo_runs_end_to_end_and_names_files_that_exist(tmp_path: Path) -> None:
    output = tmp_path / "demo"
    env = {**os.environ, "NANSEN_DEMO_OUTPUT": str(output), "COLUMNS": "120"}
    for name in ("NANSEN_DATABASE_URL", "NANSEN_CONFIG", "NANSEN_SMTP_URL", "NANSEN_SECRET"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "nothing is left running" in out
    for job in ("feeds", "site", "watch", "newsletter"):
        assert f"  {job}: ok" in out
    named = {Path(p) for p in re.findall(r"(/\S+?\.(?:html|atom|opml|toml))\b", out)}
    assert named and all(path.exists() for path in named), named
    mail = output / "mail" / "new"
    messages = list(mail.iterdir())
    assert len(messages) == 8  # four confirmations, then the first edition to each of the four readers
    assert "website-moved" in out  # the stand-in web has a permanent move for the review queue
    assert (output / "public" / "ru" / "newsletter" / "1.html").exists()
