"""Time a command in its own process and read that process's own peak memory.

`ru_maxrss` of a child started from a large process (pytest, after loading test data) includes the
parent's peak: exec keeps the old address space's high-water mark. GNU time forks the command from
its own small process and reports the command's maximum resident set, so it is measured here when
/usr/bin/time exists (Debian's `time`); otherwise the figure is an upper bound and says so.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

GNU_TIME = Path("/usr/bin/time")


def run_measured(command: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> tuple[float, float, str, bool]:
    """(seconds, peak MiB, output, exact): without GNU time the peak is nan and `exact` False."""
    with tempfile.NamedTemporaryFile(suffix=".rss") as report:
        exact = GNU_TIME.exists()
        full = [str(GNU_TIME), "-f", "%M", "-o", report.name, *command] if exact else list(command)
        started = time.perf_counter()
        process = subprocess.Popen(full, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = process.communicate()
        elapsed = time.perf_counter() - started
        assert process.returncode == 0, output.decode(errors="replace")[-3000:]
        # Without GNU time the peak is unknown (nan), rather than a figure that includes pytest's.
        peak = int(Path(report.name).read_text().strip().splitlines()[-1]) / 1024 if exact else float("nan")
    return elapsed, peak, output.decode(errors="replace"), exact
