"""A stand-in for Telegram's Bot API on 127.0.0.1, for `make demo` and the tests (no internet here).

It answers `POST /bot<token>/<method>` as the documented API does (https://core.telegram.org/bots/api,
"Making requests"): a JSON object with `ok`, and `result` or `error_code` + `description` (+
`parameters.retry_after` on 429). `sendMessage` is checked as Telegram checks it: a known chat
(else 400 "chat not found"), the HTML of `parse_mode=HTML` ("Formatting options": only the supported
tags, only `&lt;` `&gt;` `&amp;` `&quot;` and numeric entities, every other `<`, `>`, `&` escaped,
tags closed in order; else 400 "can't parse entities"), and 1–4096 characters of text after parsing.
Answers to come can be scripted (`fail_next`: a 429 with `retry_after`, a 502, a 403…), and every
request and every accepted post is recorded, with its arrival time (monotonic seconds).
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

TEXT_LIMIT = 4096
TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji", "code"}
TAGS |= {"pre", "blockquote"}
_TOKEN = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+=\"[^\"<>]*\")*)\s*>|&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);"
)


@dataclass(frozen=True)
class Request:
    method: str
    params: dict[str, str]
    at: float  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Post:
    chat: str
    message_id: int
    text: str  # as a reader sees it (tags parsed, entities decoded)
    html: str  # as it was sent
    at: float


@dataclass
class BotApi:
    """The stand-in's state; `start()` serves it on a free port of 127.0.0.1 (`base_url`)."""

    token: str
    chats: set[str]
    requests: list[Request] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    # Called with each sendMessage's number (1, 2, …) before it is answered; True drops the request
    # unanswered and unrecorded, as if the connection died before Telegram saw it (the kill tests).
    on_send: Callable[[int], bool] | None = None
    _scripted: deque[tuple[int, str, int | None]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def fail_next(self, code: int, description: str, retry_after: int | None = None) -> None:
        """The next `sendMessage` gets this error (e.g. 429 "Too Many Requests: retry after 2", 2);
        with code 0, `description` is sent as an HTML page with status 502 instead of the API's JSON
        (what a proxy in front of the API answers when it is down)."""
        self._scripted.append((code, description, retry_after))

    def start(self) -> BotApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = api.answer(self.path, self.headers.get("Content-Type", ""), body)
                if not status:  # dropped
                    self.close_connection = True
                    return
                page = answer.get("page")
                data = page.encode() if page else json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if page else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> BotApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------- answers

    def answer(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", path.split("?", 1)[0])
        if match is None:
            return _error(404, "Not Found")
        token, method = match.groups()
        params = _params(content_type, body)
        with self._lock:
            self.requests.append(Request(method, params, time.monotonic()))
            if token != self.token:
                return _error(401, "Unauthorized")
            if method == "getMe":
                return 200, {
                    "ok": True,
                    "result": {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "Nansen"},
                }
            if method != "sendMessage":
                return _error(404, "Not Found")
            sends = sum(1 for r in self.requests if r.method == "sendMessage")
            if self.on_send is not None and self.on_send(sends):
                return 0, {}
            if self._scripted:
                code, description, retry_after = self._scripted.popleft()
                if code == 0:
                    return 502, {"page": description}
                return _error(code, description, retry_after)
            return self._send_message(params)

    def _send_message(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        chat = params.get("chat_id", "")
        if chat not in self.chats:
            return _error(400, "Bad Request: chat not found")
        raw = params.get("text", "")
        if params.get("parse_mode", "").upper() == "HTML":
            try:
                text = parse_html(raw)
            except ValueError as exc:
                return _error(400, f"Bad Request: can't parse entities: {exc}")
        else:
            text = raw
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            return _error(400, "Bad Request: message is too long")
        post = Post(chat, len(self.posts) + 1, text, raw, time.monotonic())
        self.posts.append(post)
        result = {
            "message_id": post.message_id,
            "date": int(time.time()),
            "chat": {"id": -1001000000000 - len(chat), "type": "channel", "title": chat, "username": chat.lstrip("@")},
            "text": text,
        }
        return 200, {"ok": True, "result": result}


def parse_html(value: str) -> str:
    """The text a reader sees of a message in Telegram's HTML style; ValueError names the first fault."""
    out: list[str] = []
    open_tags: list[str] = []
    position = 0
    for match in _TOKEN.finditer(value):
        _plain(value[position : match.start()], position, out)
        closing, tag, attributes, entity = match.groups()
        if entity:
            out.append(html.unescape(match.group(0)))
        elif tag.lower() not in TAGS:
            raise ValueError(f'Unsupported start tag "{tag}" at byte offset {match.start()}')
        elif closing:
            if not open_tags or open_tags[-1] != tag.lower():
                raise ValueError(
                    f'Unmatched end tag at byte offset {match.start()}, expected "</{open_tags[-1]}>"'
                    if open_tags
                    else f"Unexpected end tag at byte offset {match.start()}"
                )
            open_tags.pop()
        else:
            if tag.lower() == "a" and "href=" not in attributes:
                raise ValueError(f"Can't find the link's href at byte offset {match.start()}")
            open_tags.append(tag.lower())
        position = match.end()
    _plain(value[position:], position, out)
    if open_tags:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(out)


def _plain(text: str, offset: int, out: list[str]) -> None:
    for index, char in enumerate(text):
        if char in "<>&":
            raise ValueError(f"Character {char!r} is reserved and must be escaped, at byte offset {offset + index}")
    out.append(text)


def _params(content_type: str, body: bytes) -> dict[str, str]:
    """The request's parameters, sent as the API accepts them: query string, form, multipart or JSON."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/json":
        data = json.loads(body or b"{}")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    if kind == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        return {
            part.get_param("name", header="content-disposition"): part.get_payload(decode=True).decode()  # type: ignore[union-attr,misc]
            for part in message.iter_parts()
        }
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


def _error(code: int, description: str, retry_after: int | None = None) -> tuple[int, dict[str, Any]]:
    answer: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        answer["parameters"] = {"retry_after": retry_after}
    return code, answer
