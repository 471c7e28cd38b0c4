"""Imports and maintainer adds respect people's choices: an address that unsubscribed or bounced is
skipped (by line) unless `--resubscribe` says the person asked to come back; CSV from Excel (BOM,
CRLF, semicolons) is read as it is written; bad rows still refuse the whole file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from directory.store import Store
from newsletter import subscribers as subs
from newsletter.models import Subscriber
from tests.mailsink import Sink

SECRET = "test-secret-0123456789abcdef"
LEFT_ON = dt.datetime(2026, 10, 1, 9, 30, tzinfo=dt.UTC)
NONE = subs.Preferences()


def unsubscribed(session: Any, address: str, *, on: dt.datetime = LEFT_ON) -> Subscriber:
    """Someone who signed up through the form, confirmed, and later unsubscribed (on `on`)."""
    signup = subs.request_subscription(session, address, "en", NONE)
    assert signup.subscriber is not None and subs.confirm(session, signup.subscriber.key) is not None
    assert subs.unsubscribe(session, signup.subscriber.key)
    signup.subscriber.unsubscribed_at = on
    session.flush()
    return signup.subscriber


def bounced(session: Any, address: str) -> Subscriber:
    subscriber = subs.add_confirmed(session, address, "ru", NONE, note="meetup")
    subs.mark_bounced(session, subscriber.id)
    session.flush()
    return subscriber


def state(store: Store) -> dict[str, tuple[str, str | None]]:
    """address -> (status, consent method) for everyone in the database."""
    with store.session() as session:
        return {p.email: (p.status, (p.consent or {}).get("method")) for p in subs.listing(session)}


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# --------------------------------------------------------------------------- the service


def test_an_import_skips_who_unsubscribed_or_bounced_and_says_so_by_line(store: Store) -> None:
    with store.session() as session:
        subs.add_confirmed(session, "active@example.org", "en", NONE, note="meetup")
        unsubscribed(session, "gone@example.org")
        bounced(session, "dead@example.org")
    before = state(store)
    text = (
        "email,language\n"
        "new1@example.org,ru\n"
        "active@example.org,en\n"
        "gone@example.org,en\n"
        "new2@example.org,en\n"
        "dead@example.org,ru\n"
    )
    with store.session() as session:
        report = subs.import_csv(session, text, source="people.csv", note="paper forms")
    assert report.problems == []
    assert report.notes == [
        "people.csv:4: gone@example.org unsubscribed on 2026-10-01: skipped",
        "people.csv:6: dead@example.org bounced: skipped",
    ]
    assert report.summary() == "2 added, 1 already active, 2 skipped (unsubscribed or bounced)"
    after = state(store)
    assert {k: after[k] for k in before} == before  # nobody who was there changed
    assert after["new1@example.org"] == after["new2@example.org"] == ("active", "added by a maintainer: paper forms")
    with store.session() as session:
        gone = subs.find(session, "gone@example.org")
        assert gone is not None and gone.unsubscribed_at == LEFT_ON

    with store.session() as session:  # importing the same file again changes nothing
        again = subs.import_csv(session, text, source="people.csv", note="paper forms")
    assert again.summary() == "0 added, 3 already active, 2 skipped (unsubscribed or bounced)"
    assert state(store) == after


def test_resubscribe_reactivates_and_records_the_new_consent(store: Store) -> None:
    with store.session() as session:
        unsubscribed(session, "gone@example.org")
        bounced(session, "dead@example.org")
    start = dt.datetime.now(dt.UTC)
    with store.session() as session:
        report = subs.import_csv(
            session,
            "email,language\ngone@example.org,ru\ndead@example.org,en\n",
            source="back.csv",
            note="asked to come back at the Tbilisi meetup",
            resubscribe=True,
        )
    assert report.notes == [
        "back.csv:2: gone@example.org unsubscribed on 2026-10-01: re-subscribed",
        "back.csv:3: dead@example.org bounced: re-subscribed",
    ]
    assert report.summary() == "0 added, 0 already active, 0 skipped (unsubscribed or bounced), 2 re-subscribed"
    with store.session() as session:
        gone = subs.find(session, "gone@example.org")
        assert gone is not None
        assert (gone.status, gone.language, gone.unsubscribed_at) == ("active", "ru", None)
        assert gone.consent["method"] == "re-subscribed by a maintainer: asked to come back at the Tbilisi meetup"
        assert gone.consent["overrides"] == "unsubscribed on 2026-10-01"
        assert start <= dt.datetime.fromisoformat(gone.consent["at"]) <= dt.datetime.now(dt.UTC)
        assert gone.confirmed_at is not None and gone.confirmed_at >= start
        dead = subs.find(session, "dead@example.org")
        assert dead is not None and (dead.status, dead.consent["overrides"]) == ("active", "bounced")


def test_add_confirmed_refuses_a_person_who_left_unless_told_they_came_back(store: Store) -> None:
    with store.session() as session:
        unsubscribed(session, "gone@example.org")
        with pytest.raises(subs.OptedOut, match=r"^gone@example\.org unsubscribed on 2026-10-01: skipped$"):
            subs.add_confirmed(session, "Gone@Example.org", "en", NONE, note="phone call")
        assert subs.find(session, "gone@example.org").status == "unsubscribed"  # type: ignore[union-attr]
        back = subs.add_confirmed(session, "gone@example.org", "en", NONE, note="phone call", resubscribe=True)
        assert (back.status, back.consent["method"]) == ("active", "re-subscribed by a maintainer: phone call")
        with pytest.raises(subs.SubscriberError, match="a consent note is needed"):
            subs.add_confirmed(session, "new@example.org", "en", NONE, note="  ")


def test_a_request_through_the_form_does_not_undo_an_unsubscription_until_it_is_confirmed(store: Store) -> None:
    """Anyone can type an address into the form: until the person confirms, an import still sees that
    they left, and only a confirmation asked for after they left brings them back."""
    with store.session() as session:
        gone = unsubscribed(session, "gone@example.org")
        assert subs.confirm(session, gone.key) is None  # their old confirmation link
        signup = subs.request_subscription(session, "gone@example.org", "ru", NONE)
        assert signup.send_confirmation and signup.subscriber is gone and gone.status == "unsubscribed"
    with store.session() as session:
        report = subs.import_csv(session, "email,language\ngone@example.org,ru\n", source="p.csv", note="form")
    assert report.notes == ["p.csv:2: gone@example.org unsubscribed on 2026-10-01: skipped"]
    with store.session() as session:
        confirmed = subs.confirm(session, gone.key)
        assert confirmed is not None and (confirmed.status, confirmed.language) == ("active", "ru")
        assert confirmed.consent["method"] == "double opt-in" and confirmed.unsubscribed_at is None


def test_a_bounced_address_comes_back_only_through_a_new_confirmation(store: Store) -> None:
    with store.session() as session:
        signup = subs.request_subscription(session, "dead@example.org", "en", NONE)
        assert signup.subscriber is not None and subs.confirm(session, signup.subscriber.key) is not None
        subs.mark_bounced(session, signup.subscriber.id)
        key = signup.subscriber.key
        assert subs.confirm(session, key) is None and signup.subscriber.status == "bounced"
        with pytest.raises(subs.OptedOut, match=r"^dead@example\.org bounced: skipped$"):
            subs.request_by_maintainer(session, "dead@example.org", "en", NONE)
        again = subs.request_by_maintainer(session, "dead@example.org", "en", NONE, resubscribe=True)
        assert again.send_confirmation and signup.subscriber.status == "bounced"
        assert subs.confirm(session, key) is not None and signup.subscriber.status == "active"


def test_the_status_column_of_an_export_is_respected_when_it_is_imported_elsewhere(
    store: Store, tmp_path: Path
) -> None:
    """Restoring an export into an empty database must not subscribe the people it lists as gone."""
    with store.session() as session:
        subs.add_confirmed(session, "active@example.org", "en", NONE, note="meetup")
        unsubscribed(session, "gone@example.org")
        bounced(session, "dead@example.org")
        subs.request_subscription(session, "asked@example.org", "en", NONE)  # never confirmed
        exported = subs.export_csv(subs.listing(session))
        for person in subs.listing(session):
            subs.forget(session, email=person.email)
    with store.session() as session:
        report = subs.import_csv(session, exported, source="export.csv", note="restored from the export")
    assert report.problems == []
    assert report.notes == [
        "export.csv:3: gone@example.org unsubscribed in the file: skipped",
        "export.csv:4: dead@example.org bounced in the file: skipped",
        "export.csv:5: asked@example.org pending in the file (never confirmed): skipped",
    ]
    assert report.summary() == (
        "1 added, 0 already active, 2 skipped (unsubscribed or bounced), 1 skipped (never confirmed)"
    )
    assert state(store) == {"active@example.org": ("active", "added by a maintainer: restored from the export")}


@pytest.mark.parametrize(
    ("name", "data"),
    [
        (
            "excel-utf8-bom.csv",
            b"\xef\xbb\xbfemail,language,countries\r\na@example.org,ru,GE | AM\r\nb@example.org,en,\r\n",
        ),
        ("lf.csv", b"email,language,countries\na@example.org,ru,GE | AM\nb@example.org,en,\n"),
        (
            "semicolons.csv",
            "\ufeffEmail;Language;Countries\r\na@example.org;ru;GE | AM\r\nb@example.org;en;\r\n".encode(),
        ),
        ("trailing-rows.csv", b"email,language,countries\r\na@example.org,ru,GE|AM\r\n\r\nb@example.org,en,\r\n,,\r\n"),
        ("old-mac.csv", b"email,language,countries\ra@example.org,ru,GE | AM\rb@example.org,en,\r"),
        (
            "excel-line-break-in-a-cell.csv",
            "\ufeffemail;language;countries;remark\r\n"
            'a@example.org;ru;GE | AM;"Встретились на ярмарке;\r\nпросит новости о Грузии"\r\n'
            "b@example.org;en;;\r\n".encode(),
        ),
    ],
)
def test_csv_as_spreadsheets_write_it(store: Store, tmp_path: Path, name: str, data: bytes) -> None:
    path = write(tmp_path / name, data)
    with store.session() as session:
        report = subs.import_csv(session, subs.decode_csv(path.read_bytes(), source=name), source=name, note="forms")
        assert (report.problems, report.summary()) == (
            [],
            "2 added, 0 already active, 0 skipped (unsubscribed or bounced)",
        )
        people = {p.email: (p.language, p.countries) for p in subs.listing(session)}
    assert people == {"a@example.org": ("ru", ["GE", "AM"]), "b@example.org": ("en", [])}


def test_bad_rows_are_reported_by_their_line_whatever_the_line_ends(store: Store) -> None:
    text = (
        "\ufeffemail,language,remark\r\n"
        '"x@example.org",ru,\r\n'
        "nope,en,\r\n"
        'm@example.org,en,"met at the fair,\r\nwants news on Georgia"\r\n'
        "y@example.org,de,\r\n"
        "X@example.org,ru,\r\n"
        "z@example.org,en,,extra\r\n"
        "w@example.org,en,\r\n"
    )
    with store.session() as session:
        unsubscribed(session, "w@example.org")
    with store.session() as session:
        report = subs.import_csv(session, text, source="p.csv", note="forms")
    assert report.problems == [
        "p.csv:3: 'nope' is not an email address: An email address must have an @-sign.",
        "p.csv:6: 'de' is not a newsletter language (ru or en)",
        "p.csv:7: x@example.org appears twice (first on line 2)",
        "p.csv:8: 4 values for 3 columns",
    ]
    assert (report.added, report.notes) == (0, [])


def test_a_cell_too_long_for_csv_is_a_problem_at_its_line_not_a_traceback(store: Store) -> None:
    text = "\ufeffemail,language,remark\r\na@example.org,ru,\r\nb@example.org,en," + "ж" * 200_000 + "\r\n"
    with store.session() as session:
        report = subs.import_csv(session, text, source="p.csv", note="forms")
    assert (report.problems, report.added) == (["p.csv:3: malformed CSV: a cell is longer than 131,072 characters"], 0)


def test_a_file_that_is_not_utf8_is_refused_with_its_line() -> None:
    data = "email,language\r\nанна@example.org,ru\r\n".encode("cp1251")
    with pytest.raises(subs.SubscriberError) as caught:
        subs.decode_csv(data, source="people.csv")
    assert str(caught.value) == 'people.csv:2: not UTF-8 text; save the file as "CSV UTF-8"'


# --------------------------------------------------------------------------- the commands


def test_import_command_lists_the_skipped_and_counts_them(cli: Any, store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        subs.add_confirmed(session, "active@example.org", "en", NONE, note="meetup")
        unsubscribed(session, "x@example.org")
    path = write(
        tmp_path / "people.csv",
        b"\xef\xbb\xbfemail,language\r\na@example.org,ru\r\nactive@example.org,en\r\nx@example.org,en\r\n"
        b"b@example.org,en\r\n",
    )
    result = cli("subscribers", "import", str(path), "--note", "paper forms, 2026-11")
    assert (result.exit_code, result.output) == (
        0,
        f"{path}:4: x@example.org unsubscribed on 2026-10-01: skipped\n"
        "2 added, 1 already active, 1 skipped (unsubscribed or bounced)\n",
    )
    listed = {p["email"]: p["status"] for p in json.loads(cli("subscribers", "list", "--format", "json").output)}
    assert listed == {
        "active@example.org": "active",
        "x@example.org": "unsubscribed",
        "a@example.org": "active",
        "b@example.org": "active",
    }

    dry = cli("subscribers", "import", str(path), "--note", "asked again", "--resubscribe", "--dry-run")
    assert dry.output == (
        f"{path}:4: x@example.org unsubscribed on 2026-10-01: re-subscribed\n"
        "0 added, 3 already active, 0 skipped (unsubscribed or bounced), 1 re-subscribed (dry run: nothing written)\n"
    )
    assert state(store)["x@example.org"][0] == "unsubscribed"
    back = cli("subscribers", "import", str(path), "--note", "asked again", "--resubscribe")
    assert back.exit_code == 0 and back.output.endswith("1 re-subscribed\n")
    assert state(store)["x@example.org"] == ("active", "re-subscribed by a maintainer: asked again")


def test_import_command_is_all_or_nothing_and_needs_a_note(cli: Any, store: Store, tmp_path: Path) -> None:
    with store.session() as session:
        unsubscribed(session, "x@example.org")
    path = write(tmp_path / "people.csv", "email,language\r\na@example.org,ru\r\nx@example.org,en\r\nbad,en\r\n")
    result = cli("subscribers", "import", str(path), "--note", "forms")
    assert result.exit_code == 1
    assert result.output == (
        f"{path}:4: 'bad' is not an email address: An email address must have an @-sign.\n"
        "import refused: 1 problem(s), nothing imported\n"
    )
    assert state(store) == {"x@example.org": ("unsubscribed", "double opt-in")}
    windows = write(tmp_path / "cp1251.csv", "email,language\r\nанна@example.org,ru\r\n".encode("cp1251"))
    refused = cli("subscribers", "import", str(windows), "--note", "forms")
    assert (refused.exit_code, refused.output) == (1, f'{windows}:2: not UTF-8 text; save the file as "CSV UTF-8"\n')
    assert cli("subscribers", "import", str(path), "--note", " ").exit_code == 2


def test_add_command_skips_who_left_and_resubscribe_is_explicit(
    cli: Any, store: Store, mail_sink: tuple[Sink, str]
) -> None:
    sink, smtp = mail_sink
    env = {"NANSEN_SECRET": SECRET, "NANSEN_SMTP_URL": smtp, "NANSEN_SITE_URL": "https://nansen.test/"}
    with store.session() as session:
        unsubscribed(session, "x@example.org")
        bounced(session, "y@example.org")
    skip = "(--resubscribe only if they asked to come back)"

    confirmed = cli("subscribers", "add", "x@example.org", "--confirmed", "--note", "phone call", env=env)
    assert (confirmed.exit_code, confirmed.output) == (
        0,
        f"x@example.org unsubscribed on 2026-10-01: skipped {skip}\n",
    )
    unconfirmed = cli("subscribers", "add", "X@example.org", "--lang", "en", env=env)
    assert (unconfirmed.exit_code, unconfirmed.output) == (
        0,
        f"x@example.org unsubscribed on 2026-10-01: skipped {skip}\n",
    )
    dead = cli("subscribers", "add", "y@example.org", env=env)
    assert dead.output == f"y@example.org bounced: skipped {skip}\n"
    assert sink.messages == []
    assert state(store) == {
        "x@example.org": ("unsubscribed", "double opt-in"),
        "y@example.org": ("bounced", "added by a maintainer: meetup"),
    }

    asked = cli("subscribers", "add", "x@example.org", "--lang", "en", "--resubscribe", env=env)
    assert asked.output == "confirmation mail sent to x@example.org\n"
    assert [m["To"] for m in sink.messages] == ["x@example.org"]
    assert state(store)["x@example.org"][0] == "unsubscribed"  # until they confirm

    back = cli(
        "subscribers", "add", "y@example.org", "--lang", "en", "--confirmed", "--resubscribe", "--note", "new mailbox"
    )
    assert (back.exit_code, back.output) == (0, "re-subscribed y@example.org (active; before: bounced)\n")
    assert state(store)["y@example.org"] == ("active", "re-subscribed by a maintainer: new mailbox")
