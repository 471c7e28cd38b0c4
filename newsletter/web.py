"""HTTP side of Nansen: the static site, and the subscription endpoints (Starlette).

**Opening a link changes nothing.** Mail scanners and link previews GET (or HEAD) every link of a mail.
A GET on /confirm, /unsubscribe or /preferences only shows a page, in the reader's language, with a
button; the action happens on that button's POST, and consent is recorded only from the confirm
button's POST. The POST carries the link's token in a hidden field and a *form proof*: a value signed
with NANSEN_SECRET under its own salt, bound to the action and to that very token, valid for a day
(the stateless HMAC token pattern of OWASP's CSRF cheat sheet). We chose it over a double-submit
cookie because the site sets no cookie at all and these pages must work in mail apps' own browsers;
a signed value also survives restarts and several server processes with no table. Mail clients
unsubscribe with the RFC 8058 one-click POST (body `List-Unsubscribe=One-Click`), which acts at once.
GET handlers only read, so the HEAD that Starlette routes to them only reads too.

**The subscribe form tells nothing.** The request only checks the form and queues it, so its body,
status and time are the same whatever the address's state. A background thread (the `Outbox`)
records the request and sends the confirmation mail; when the relay is down it tries again with
back-off, and a mail that never left gives back the address's one-mail-an-hour allowance. Requests
are limited per client and for everyone together, beside the per-address hour; nothing logged here
names an address. A bot that fills the hidden field is told "check your inbox" like everyone else.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from directory.models import Entry, utcnow
from newsletter import subscribers as subs
from newsletter.delivery import Outcome, Result, build_message
from newsletter.digest import render_confirmation
from newsletter.editions import NewsletterSettings, links
from newsletter.models import Subscriber
from newsletter.outbox import MAIL_BACKOFF, Outbox
from newsletter.ratelimit import OVERALL, PER_CLIENT, Rate, RateLimiter
from newsletter.tokens import InvalidToken, Tokens
from publishing.i18n import LANGUAGES, gettext_for
from publishing.site import environment
from publishing.updates import _

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates" / "web"
HONEYPOT = "website"
PROOF_FIELD = "proof"
PROOF_MAX_AGE = dt.timedelta(days=1)


def _lang(value: Any) -> str:
    return value if value in LANGUAGES else "ru"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@functools.cache
def _environment(lang: str) -> Any:
    """The site's templates (base, macros, catalog) with the endpoints' own pages on top."""

    site = environment(lang)
    return site.overlay(loader=ChoiceLoader([FileSystemLoader(TEMPLATES), site.loader]))


def _texts(form: Any, name: str) -> list[str]:
    """The text values of a repeated form field (a file upload in its place is ignored)."""
    return [value for value in form.getlist(name) if isinstance(value, str)]


def _page(
    lang: str, template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    other = "en" if lang == "ru" else "ru"
    html = _environment(lang).get_template(template).render(root="/", other_page=f"{other}/index.html", **context)
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", **(headers or {})},
    )


def _message(lang: str, message: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return _page(lang, "message.html", status=status, headers=headers, message=gettext_for(lang, message))


_CHECK_INBOX = _("Thank you. If this address can be subscribed, a confirmation link is on its way: check your inbox.")
_INVALID = _("This link is not valid any more. You can subscribe again from the site.")
_TOO_MANY = _("Too many requests. Please try again in a few minutes.")
_STALE = _("This page was open for too long. Please press the button again.")


@dataclass(repr=False)  # no repr: it would show the address
class _SubscribeRequest:
    what: ClassVar[str] = "a subscribe request"
    endpoints: Endpoints
    address: str
    language: str
    preferences: subs.Preferences

    def step(self) -> bool | None:
        return self.endpoints._record(self)

    def give_up(self) -> None:
        pass


@dataclass(repr=False)
class _Confirmation:
    """A confirmation mail, and the hour it took from the address's allowance (given back on failure)."""

    what: ClassVar[str] = "a confirmation mail"
    endpoints: Endpoints
    message: EmailMessage
    subscriber_id: int
    claimed_at: dt.datetime
    previous: dt.datetime | None

    def step(self) -> bool | None:
        return self.endpoints._send(self)

    def give_up(self) -> None:
        self.endpoints._release(self)


def _mail_left(outcome: object) -> bool | None:
    """How `send_mail`'s answer reads: a delivery `Result`, or anything else for "sent"."""
    if isinstance(outcome, Result):
        if outcome.outcome is Outcome.SENT:
            return True
        return False if outcome.outcome is Outcome.BOUNCED else None
    return True


def _claim_confirmation(
    session: Session, request: _SubscribeRequest, now: dt.datetime
) -> tuple[Subscriber, dt.datetime | None] | None:
    """Record the request; if a confirmation mail is due, (the subscriber, the hour's previous value).

    The do-nothing UPDATE first takes the row's lock on PostgreSQL and the write lock on SQLite, so
    two processes handling the same address read and decide one after the other; of two that both
    insert a new address, the second gets IntegrityError and is run again (see `Endpoints._record`).
    """
    session.execute(
        update(Subscriber)
        .where(Subscriber.email == request.address)
        .values(email=Subscriber.email)
        .execution_options(synchronize_session=False)
    )
    existing = subs.find(session, request.address)
    previous = existing.confirmation_sent_at if existing is not None else None
    signup = subs.request_subscription(session, request.address, request.language, request.preferences, now=now)
    if not signup.send_confirmation or signup.subscriber is None:
        return None
    return signup.subscriber, previous


# --------------------------------------------------------------------------- endpoints


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _form_signer(tokens: Tokens) -> URLSafeTimedSerializer:
    """Signs the pages' form proofs with the links' secret (NANSEN_SECRET) under a salt of their own."""
    return tokens.signer("nansen-form-proof")


class Endpoints:
    """The subscription endpoints. `send_mail` submits one message and should return the delivery
    `Result` (or raise) so that a failure is retried; any other answer counts as sent.

    `per_client` and `overall` limit subscribe requests; `mail_backoff` spaces the outbox's retries;
    `queue_limit` bounds the requests waiting for the outbox (beyond it the form answers 429).
    """

    def __init__(
        self,
        settings: NewsletterSettings,
        open_session: Callable[[], AbstractContextManager[Session]],
        send_mail: Callable[[EmailMessage], object],
        *,
        per_client: Rate = PER_CLIENT,
        overall: Rate = OVERALL,
        mail_backoff: Sequence[float] = MAIL_BACKOFF,
        queue_limit: int = 1000,
    ) -> None:
        self.settings = settings
        self.open_session = open_session
        self.send_mail = send_mail
        self.limits = RateLimiter(per_client, overall)
        self.outbox = Outbox(mail_backoff, limit=queue_limit)
        self._proofs = _form_signer(settings.tokens)

    def start(self) -> None:
        self.outbox.start()

    def close(self, timeout: float = 10.0) -> None:
        self.outbox.close(timeout)

    # -- subscribe

    async def subscribe_form(self, request: Request) -> Response:
        lang = _lang(request.query_params.get("lang"))
        return _page(lang, "subscribe.html", country=request.query_params.get("country", ""))

    async def subscribe(self, request: Request) -> Response:
        form = await request.form()
        lang = _lang(form.get("lang"))
        if not self.limits.allow(request.client.host if request.client else ""):
            return _message(lang, _TOO_MANY, status=429, headers={"Retry-After": "60"})
        if form.get(HONEYPOT):
            return _message(lang, _CHECK_INBOX)
        try:
            language, preferences = subs.check_preferences(
                lang, [c for c in _texts(form, "country") if c], _texts(form, "kind"), _texts(form, "topic")
            )
            address = subs.normalize_email(_text(form.get("email")))
        except subs.SubscriberError:
            return _page(
                lang,
                "subscribe.html",
                status=400,
                error=gettext_for(lang, _("Please check the address and try again.")),
            )
        if not self.outbox.has_room():
            return _message(lang, _TOO_MANY, status=429, headers={"Retry-After": "60"})
        answer = _message(lang, _CHECK_INBOX)
        # Queued once the answer has left, so that the work it starts cannot slow the answer down.
        job = _SubscribeRequest(self, address, language, preferences)
        answer.background = BackgroundTask(self.outbox.put, job, over_limit=True)
        return answer

    def _record(self, request: _SubscribeRequest) -> bool | None:
        """The outbox's side of a subscribe request: store it, and queue the mail if one is due."""
        for _attempt in range(3):
            try:
                with self.open_session() as session:
                    now = utcnow()
                    claimed = _claim_confirmation(session, request, now)
                    if claimed is None:
                        return True
                    subscriber, previous = claimed
                    mail = _Confirmation(
                        self, confirmation_message(self.settings, subscriber), subscriber.id, now, previous
                    )
            except IntegrityError:
                # Another process added the same address between our read and our insert (the
                # session rolled back): the address exists now; read it again.
                log.info("a subscribe request met another one for the same address; reading it again")
                continue
            if not self.outbox.put(mail, over_limit=True):
                mail.give_up()
            return True
        return None

    def _send(self, mail: _Confirmation) -> bool | None:
        left = _mail_left(self.send_mail(mail.message))
        if left:
            log.info("a confirmation mail was sent")
        return left

    def _release(self, mail: _Confirmation) -> None:
        """A mail that never left gives the address its hour back (unless a newer claim took it)."""
        with self.open_session() as session:
            session.execute(
                update(Subscriber)
                .where(Subscriber.id == mail.subscriber_id, Subscriber.confirmation_sent_at == mail.claimed_at)
                .values(confirmation_sent_at=mail.previous)
                .execution_options(synchronize_session=False)
            )

    # -- pages with one button (GET and HEAD only read)

    async def confirm_page(self, request: Request) -> Response:
        return await self._button_page("confirm", request.query_params.get("token", ""), request)

    async def unsubscribe_page(self, request: Request) -> Response:
        return await self._button_page("unsubscribe", request.query_params.get("token", ""), request)

    async def preferences_page(self, request: Request) -> Response:
        return await self._button_page("preferences", request.query_params.get("token", ""), request)

    async def _button_page(self, purpose: str, token: str, request: Request, *, stale: bool = False) -> Response:
        """The page behind a link: in the subscriber's language, with a proof for each of its buttons."""
        key = self._key(purpose, token)
        reader = await run_in_threadpool(self._in_session, _snapshot_by_key, key) if key else None
        if reader is None:
            return self._invalid(request)
        lang = reader["language"]
        context: dict[str, Any] = {
            "token": token,
            "proof": self._proof(purpose, token),
            "notice": gettext_for(lang, _STALE) if stale else None,
        }
        if purpose == "preferences":
            countries = await run_in_threadpool(self._in_session, _host_countries)
            context |= {
                "forget_proof": self._proof("forget", token),
                "subscriber": reader,
                "all_countries": sorted(set(countries) | set(reader["countries"])),
            }
        return _page(lang, f"{purpose}.html", status=403 if stale else 200, **context)

    # -- the buttons' POSTs

    async def confirm(self, request: Request) -> Response:
        checked = await self._checked(request, "confirm", "confirm")
        if isinstance(checked, Response):
            return checked
        lang = await run_in_threadpool(self._in_session, _confirm, checked)
        if lang is None:
            return self._invalid(request)
        return _message(lang, _("Thank you: your subscription is confirmed."))

    async def unsubscribe(self, request: Request) -> Response:
        form = await request.form()
        if form.get("List-Unsubscribe") == "One-Click":  # RFC 8058: the mail client's own POST, at once
            key = self._key("unsubscribe", request.query_params.get("token", ""))
            if key is None:
                return PlainTextResponse("invalid link\n", status_code=400)
            await run_in_threadpool(self._in_session, subs.unsubscribe, key)
            return PlainTextResponse("unsubscribed\n")
        checked = await self._checked(request, "unsubscribe", "unsubscribe")
        if isinstance(checked, Response):
            return checked
        lang = await run_in_threadpool(self._in_session, _unsubscribe, checked)
        if lang is None:
            return self._invalid(request)
        return _message(lang, _("You are unsubscribed. We will not write again."))

    async def preferences(self, request: Request) -> Response:
        form = await request.form()
        delete = form.get("action") == "delete"
        checked = await self._checked(request, "preferences", "forget" if delete else "preferences")
        if isinstance(checked, Response):
            return checked
        if delete:
            lang = await run_in_threadpool(self._in_session, _forget, checked)
            if lang is None:
                return self._invalid(request)
            return _message(lang, _("Your data has been deleted."))
        try:
            language, prefs = subs.check_preferences(
                _lang(form.get("lang")), _texts(form, "country"), _texts(form, "kind"), _texts(form, "topic")
            )
        except subs.SubscriberError:
            return self._invalid(request)
        saved = await run_in_threadpool(self._in_session, subs.set_preferences, checked, language, prefs)
        if saved is None:
            return self._invalid(request)
        return _message(language, _("Your preferences are saved."))

    async def _checked(self, request: Request, purpose: str, action: str) -> str | Response:
        """The subscriber key of a button's POST, or the answer to give instead: the invalid-link page,
        or (a valid link without this page's proof for `action`) the page again, with a fresh proof."""
        form = await request.form()
        token = _text(form.get("token"))
        key = self._key(purpose, token)
        if key is None:
            return self._invalid(request)
        if not self._proven(action, token, form.get(PROOF_FIELD)):
            return await self._button_page(purpose, token, request, stale=True)
        return key

    # -- helpers

    def _proof(self, action: str, token: str) -> str:
        return self._proofs.dumps([action, _digest(token)])

    def _proven(self, action: str, token: str, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        try:
            signed = self._proofs.loads(value, max_age=int(PROOF_MAX_AGE.total_seconds()))
        except BadSignature:  # expired included
            return False
        return (
            isinstance(signed, list)
            and len(signed) == 2
            and hmac.compare_digest(str(signed[0]), action)
            and hmac.compare_digest(str(signed[1]), _digest(token))
        )

    def _key(self, purpose: str, token: str) -> str | None:
        try:
            return self.settings.tokens.read(purpose, token)
        except InvalidToken:
            return None

    @staticmethod
    def _invalid(request: Request) -> Response:
        """The invalid-link page, in the language the link or the form names (the token's is unknown)."""
        return _message(_lang(request.query_params.get("lang")), _INVALID, status=400)

    def _in_session(self, action: Callable[..., Any], *args: Any) -> Any:
        with self.open_session() as session:
            return action(session, *args)


def _host_countries(session: Session) -> list[str]:

    return sorted({code for codes in session.scalars(select(Entry.host_countries)) for code in codes})


def _snapshot_by_key(session: Session, key: str) -> dict[str, Any] | None:
    subscriber = subs.by_key(session, key)
    if subscriber is None:
        return None
    return {
        "language": subscriber.language,
        "countries": list(subscriber.countries),
        "kinds": list(subscriber.kinds),
        "topics": list(subscriber.topics),
        "status": subscriber.status,
    }


def _confirm(session: Session, key: str) -> str | None:
    subscriber = subs.confirm(session, key)
    return subscriber.language if subscriber is not None else None


def _unsubscribe(session: Session, key: str) -> str | None:
    subscriber = subs.by_key(session, key)
    if subscriber is None:
        return None
    subs.unsubscribe(session, key)
    return subscriber.language


def _forget(session: Session, key: str) -> str | None:
    subscriber = subs.by_key(session, key)
    if subscriber is None:
        return None
    language = subscriber.language
    subs.forget(session, key=key)
    return language


def confirmation_message(settings: NewsletterSettings, subscriber: Subscriber) -> EmailMessage:
    """The double opt-in mail, in the subscriber's language, with nothing but the confirm link.

    The link opens a page with the button that confirms; its `lang` lets the page answer in the
    reader's language even once the token has expired."""

    lang = subscriber.language
    confirm_url = settings.url(f"confirm?token={settings.tokens.make('confirm', subscriber.key)}&lang={lang}")
    unsubscribe, _preferences, mailto = links(settings, subscriber.key)
    mail = render_confirmation(lang, confirm_url=confirm_url)
    return build_message(
        sender=settings.sender,
        to=subscriber.email,
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        message_id=f"<nansen.confirm.{subscriber.key[:20]}.{int(utcnow().timestamp())}@{settings.message_domain}>",
        list_id=settings.list_id,
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=mailto,
        date=utcnow(),
    )


def create_app(public_dir: Path | None, endpoints: Endpoints | None) -> Starlette:
    """Endpoints (when configured) in front of the static site; the outbox runs while the app does."""
    routes: list[Any] = []
    if endpoints is not None:
        routes += [
            Route("/subscribe", endpoints.subscribe_form, methods=["GET"]),
            Route("/subscribe", endpoints.subscribe, methods=["POST"]),
            Route("/confirm", endpoints.confirm_page, methods=["GET"]),
            Route("/confirm", endpoints.confirm, methods=["POST"]),
            Route("/preferences", endpoints.preferences_page, methods=["GET"]),
            Route("/preferences", endpoints.preferences, methods=["POST"]),
            Route("/unsubscribe", endpoints.unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe", endpoints.unsubscribe, methods=["POST"]),
        ]
    if public_dir is not None:
        routes.append(Mount("/", app=StaticFiles(directory=public_dir, html=True, check_dir=False)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if endpoints is not None:
            endpoints.start()
        try:
            yield
        finally:
            if endpoints is not None:
                await run_in_threadpool(endpoints.close)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.endpoints = endpoints  # e.g. `app.state.endpoints.outbox.wait_idle()` in a script or a test
    return app
