"""`make demo`'s main job: it finishes, stops everything it started, and names files that exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, free_port


def test_the_demo_runs_end_to_end_and_names_files_that_exist(tmp_path: Path) -> None:
    output = tmp_path / "demo"
    env = {**os.environ, "NANSEN_DEMO_OUTPUT": str(output), "COLUMNS": "120"}
    for name in [name for name in os.environ if name.startswith("NANSEN_")]:
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "nothing is left running" in out
    for job in ("feeds", "site", "watch", "telegram", "newsletter"):
        assert f"  {job}: ok" in out
    named = {Path(p) for p in re.findall(r"(/\S+?\.(?:html|atom|opml|toml))\b", out)}
    assert named and all(path.exists() for path in named), named
    mail = output / "mail" / "new"
    messages = list(mail.iterdir())
    assert len(messages) == 8  # four confirmations, then the first edition to each of the four readers
    assert "(8 messages: 4 subscription confirmations, 4 newsletter editions)" in out
    # The commands it suggests succeed as printed.
    env_line = r"NANSEN_CONFIG=\S+ NANSEN_SECRET=\S+ NANSEN_TELEGRAM_TOKEN=\S+"
    suggested_commands = re.findall(rf"\(({env_line} \.venv/bin/nansen config check)\)", out) + re.findall(
        rf"({env_line} \.venv/bin/nansen review)$", out, re.M
    )
    assert len(suggested_commands) == 2, out[-1500:]
    for suggested in suggested_commands:
        done = subprocess.run(suggested, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (suggested, done.stdout, done.stderr)
    [serve] = re.findall(rf"^    ({env_line} \.venv/bin/nansen serve)$", out, re.M)
    port = free_port()
    server = subprocess.Popen(
        f"{serve} --port {port}", shell=True, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        answer = _post_when_up(f"http://127.0.0.1:{port}/subscribe", {"email": "new@example.org", "lang": "ru"})
        assert answer == 200  # the site's form works: the endpoints are served, not only the files
    finally:
        os.killpg(server.pid, 15)
        server.wait(10)
    assert "website-moved" in out  # the stand-in web has a permanent move for the review queue
    # Accepting it is news, posted once to each channel in its language through the Bot API stand-in.
    posts = out.split("posted to Telegram (recorded by the stand-in): ", 1)[1]
    assert posts.startswith("2\n  --- @nansen_demo_ru, message 1\n  Бумага: обновление\n")
    assert "  --- @nansen_demo_en, message 2\n  Bumaga: updated\n" in posts
    assert (output / "public" / "ru" / "newsletter" / "1.html").exists()


def _post_when_up(url: str, form: dict[str, str]) -> int:
    import time
    import urllib.error
    import urllib.parse
    import urllib.request

    data = urllib.parse.urlencode(form).encode()
    for _ in range(100):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")
