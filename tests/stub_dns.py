"""Run a module with a stand-in for DNS: `python -m tests.stub_dns MODULE ARGS...`.

`NANSEN_TEST_DNS` names a JSON file mapping host names to the addresses they answer, one answer per
lookup in turn (the last one repeats): `{"a.test": ["127.0.0.2", "127.0.0.3"]}` answers 127.0.0.2 to
the first lookup of a.test and 127.0.0.3 to every later one, as a name rebinding to another address
would. Any other name fails as an unknown name does (no network is asked); IP literals and localhost
answer as usual. Each lookup sleeps `NANSEN_TEST_DNS_DELAY` seconds first (default 0) in the thread
that asked, as a slow resolver does; `NANSEN_TEST_DNS_LOG`, when set, names a file that gets one line
per lookup of a mapped name. `socket.getaddrinfo` (Twisted, Nansen) and `socket.gethostbyname`
(Scrapy's default resolver) are both replaced.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname
_lock = threading.Lock()


def _answers() -> dict[str, list[str]]:
    path = os.environ.get("NANSEN_TEST_DNS")
    return json.loads(Path(path).read_text()) if path else {}


ANSWERS = _answers()
ASKED: dict[str, int] = {}
DELAY = float(os.environ.get("NANSEN_TEST_DNS_DELAY", "0"))
LOG = os.environ.get("NANSEN_TEST_DNS_LOG")


def answer(host: str | bytes | None) -> str | None:
    """The address a mapped `host` answers this time; None for a name left to the real resolver."""
    name = (host.decode() if isinstance(host, bytes) else host or "").rstrip(".").lower()
    if DELAY:
        time.sleep(DELAY)
    if name not in ANSWERS:
        if _is_literal(name) or name == "localhost":
            return None
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with _lock:
        turn = ASKED.get(name, 0)
        ASKED[name] = turn + 1
        if LOG:
            with Path(LOG).open("a") as log:
                log.write(name + "\n")
    answers = ANSWERS[name]
    return answers[min(turn, len(answers) - 1)]


def _is_literal(name: str) -> bool:
    try:
        _real_getaddrinfo(name, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):
        return False
    return True


def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    address = answer(host)
    return _real_getaddrinfo(address or host, port, *args, **kwargs)


def gethostbyname(host: str) -> str:
    address = answer(host)
    return address or _real_gethostbyname(host)


def main(argv: list[str]) -> None:
    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname  # type: ignore[assignment]
    sys.argv = argv
    run: Callable[..., Any] = runpy.run_module
    run(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
