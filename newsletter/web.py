"""HTTP side of Nansen: the static site, and the subscription endpoints (Starlette).

Every answer to the public is the same whether or not an address is subscribed; nothing is stored
about a visitor beyond what they submit; a bot that fills the hidden field is told "check your
inbox" like everyone else and nothing happens. Unsubscribing from a link in a mail needs a POST (the
page has a button), so mail scanners that open links cannot unsubscribe anyone; mail clients use the
RFC 8058 one-click POST.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from directory.models import Entry, utcnow
from newsletter import subscribers as subs
from newsletter.delivery import build_message
from newsletter.editions import NewsletterSettings, links
from newsletter.models import Subscriber
from newsletter.tokens import InvalidToken
from publishing.i18n import LANGUAGES, gettext_for
from publishing.site import environment
from publishing.updates import _

TEMPLATES = Path(__file__).parent / "templates" / "web"
HONEYPOT = "website"


def _lang(value: Any) -> str:
    return value if value in LANGUAGES else "ru"


@functools.cache
def _environment(lang: str) -> Any:
    """The site's templates (base, macros, catalog) with the endpoints' own pages on top."""

    site = environment(lang)
    return site.overlay(loader=ChoiceLoader([FileSystemLoader(TEMPLATES), site.loader]))


def _texts(form: Any, name: str) -> list[str]:
    """The text values of a repeated form field (a file upload in its place is ignored)."""
    return [value for value in form.getlist(name) if isinstance(value, str)]


def _page(lang: str, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    other = "en" if lang == "ru" else "ru"
    html = _environment(lang).get_template(template).render(root="/", other_page=f"{other}/index.html", **context)
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


class Endpoints:
    def __init__(
        self,
        settings: NewsletterSettings,
        open_session: Callable[[], AbstractContextManager[Session]],
        send_mail: Callable[[EmailMessage], object],
    ) -> None:
        self.settings = settings
        self.open_session = open_session
        self.send_mail = send_mail

    # -- subscribe and confirm

    async def subscribe_form(self, request: Request) -> Response:
        lang = _lang(request.query_params.get("lang"))
        return _page(lang, "subscribe.html", country=request.query_params.get("country", ""))

    async def subscribe(self, request: Request) -> Response:
        form = await request.form()
        lang = _lang(form.get("lang"))
        if form.get(HONEYPOT):
            return _page(lang, "message.html", message=gettext_for(lang, _CHECK_INBOX))
        try:
            language, preferences = subs.check_preferences(
                lang, [c for c in _texts(form, "country") if c], _texts(form, "kind"), _texts(form, "topic")
            )
            address = subs.normalize_email(str(form.get("email", "")))
        except subs.SubscriberError:
            return _page(
                lang,
                "subscribe.html",
                status=400,
                error=gettext_for(lang, _("Please check the address and try again.")),
            )
        await run_in_threadpool(self._subscribe, address, language, preferences)
        return _page(lang, "message.html", message=gettext_for(lang, _CHECK_INBOX))

    def _subscribe(self, address: str, language: str, preferences: subs.Preferences) -> None:
        with self.open_session() as session:
            signup = subs.request_subscription(session, address, language, preferences)
            if signup.send_confirmation and signup.subscriber is not None:
                self.send_mail(confirmation_message(self.settings, signup.subscriber))

    async def confirm(self, request: Request) -> Response:
        lang = _lang(request.query_params.get("lang"))
        key = self._key("confirm", request)
        subscriber = await run_in_threadpool(self._in_session, subs.confirm, key) if key else None
        if subscriber is None:
            return _page(lang, "message.html", status=400, message=gettext_for(lang, _INVALID))
        return _page(
            subscriber.language,
            "message.html",
            message=gettext_for(subscriber.language, _("Thank you: your subscription is confirmed.")),
        )

    # -- preferences and forgetting

    async def preferences(self, request: Request) -> Response:
        key = self._key("preferences", request)
        lang = _lang(request.query_params.get("lang"))
        if key is None:
            return _page(lang, "message.html", status=400, message=gettext_for(lang, _INVALID))
        if request.method == "POST":
            form = await request.form()
            if form.get("action") == "delete":
                await run_in_threadpool(self._in_session, lambda s, k: subs.forget(s, key=k), key)
                return _page(lang, "message.html", message=gettext_for(lang, _("Your data has been deleted.")))
            try:
                language, prefs = subs.check_preferences(
                    _lang(form.get("lang")), _texts(form, "country"), _texts(form, "kind"), _texts(form, "topic")
                )
            except subs.SubscriberError:
                return _page(lang, "message.html", status=400, message=gettext_for(lang, _INVALID))
            saved = await run_in_threadpool(self._in_session, subs.set_preferences, key, language, prefs)
            if saved is None:
                return _page(lang, "message.html", status=400, message=gettext_for(lang, _INVALID))
            return _page(language, "message.html", message=gettext_for(language, _("Your preferences are saved.")))
        subscriber = await run_in_threadpool(self._in_session, lambda s, k: _snapshot(subs.by_key(s, k)), key)
        if subscriber is None:
            return _page(lang, "message.html", status=400, message=gettext_for(lang, _INVALID))
        countries = await run_in_threadpool(self._in_session, _host_countries)
        return _page(
            subscriber["language"],
            "preferences.html",
            subscriber=subscriber,
            token=request.query_params.get("token", ""),
            all_countries=sorted(set(countries) | set(subscriber["countries"])),
        )

    # -- unsubscribe

    async def unsubscribe(self, request: Request) -> Response:
        key = self._key("unsubscribe", request)
        lang = _lang(request.query_params.get("lang"))
        if request.method == "GET":
            if key is None:
                return _page(lang, "message.html", status=400, message=gettext_for(lang, _INVALID))
            return _page(lang, "unsubscribe.html", token=request.query_params.get("token", ""))
        form = await request.form()
        one_click = form.get("List-Unsubscribe") == "One-Click"
        if key is not None:
            await run_in_threadpool(self._in_session, subs.unsubscribe, key)
        if one_click:
            return PlainTextResponse("unsubscribed\n" if key else "invalid link\n", status_code=200 if key else 400)
        if key is None:
            return _page(lang, "message.html", status=400, message=gettext_for(lang, _INVALID))
        return _page(
            lang, "message.html", message=gettext_for(lang, _("You are unsubscribed. We will not write again."))
        )

    # -- helpers

    def _key(self, purpose: str, request: Request) -> str | None:
        try:
            return self.settings.tokens.read(purpose, request.query_params.get("token", ""))
        except InvalidToken:
            return None

    def _in_session(self, action: Callable[..., Any], *args: Any) -> Any:
        with self.open_session() as session:
            return action(session, *args)


def _host_countries(session: Session) -> list[str]:

    return sorted({code for codes in session.scalars(select(Entry.host_countries)) for code in codes})


def _snapshot(subscriber: Any) -> dict[str, Any] | None:
    if subscriber is None:
        return None
    return {
        "language": subscriber.language,
        "countries": list(subscriber.countries),
        "kinds": list(subscriber.kinds),
        "topics": list(subscriber.topics),
        "status": subscriber.status,
    }


_CHECK_INBOX = _("Thank you. If this address can be subscribed, a confirmation link is on its way: check your inbox.")
_INVALID = _("This link is not valid any more. You can subscribe again from the site.")


def confirmation_message(settings: NewsletterSettings, subscriber: Subscriber) -> EmailMessage:
    """The double opt-in mail, in the subscriber's language, with nothing but the confirm link."""

    lang = subscriber.language
    t = functools.partial(gettext_for, lang)
    confirm_url = settings.url(f"confirm?token={settings.tokens.make('confirm', subscriber.key)}")
    unsubscribe, _preferences, mailto = links(settings, subscriber.key)
    intro = t(_("Someone, hopefully you, asked to receive the Nansen newsletter at this address."))
    ignore = t(_("If it was not you, ignore this message: without confirmation you will get nothing more from us."))
    text = "\n\n".join([intro, t(_("To confirm, open this link (it is valid for seven days):")), confirm_url, ignore])

    html = (
        f"<p>{escape(intro)}</p>"
        f'<p><a href="{escape(confirm_url)}">{escape(t(_("Confirm my subscription")))}</a></p>'
        f"<p>{escape(ignore)}</p>"
    )
    return build_message(
        sender=settings.sender,
        to=subscriber.email,
        subject=t(_("Confirm your subscription to Nansen")),
        text=text,
        html=html,
        message_id=f"<nansen.confirm.{subscriber.key[:20]}.{int(utcnow().timestamp())}@{settings.message_domain}>",
        list_id=settings.list_id,
        unsubscribe_url=unsubscribe,
        unsubscribe_mailto=mailto,
        date=utcnow(),
    )


def create_app(public_dir: Path | None, endpoints: Endpoints | None) -> Starlette:
    """Endpoints (when configured) in front of the static site."""
    routes: list[Any] = []
    if endpoints is not None:
        routes += [
            Route("/subscribe", endpoints.subscribe_form, methods=["GET"]),
            Route("/subscribe", endpoints.subscribe, methods=["POST"]),
            Route("/confirm", endpoints.confirm, methods=["GET"]),
            Route("/preferences", endpoints.preferences, methods=["GET", "POST"]),
            Route("/unsubscribe", endpoints.unsubscribe, methods=["GET", "POST"]),
        ]
    if public_dir is not None:
        routes.append(Mount("/", app=StaticFiles(directory=public_dir, html=True, check_dir=False)))
    return Starlette(routes=routes)
