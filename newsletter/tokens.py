"""Signed links for confirm, preferences and unsubscribe.

A token carries the subscriber's random `key` (never the address or a sequential id), signed with
`NANSEN_SECRET` and a salt per purpose, so a confirmation token cannot unsubscribe and a forged one
fails. Confirmation links expire after a week; unsubscribe and preference links must keep working
from old mails, and die when the person is forgotten (their key is gone).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer

PURPOSES = {"confirm": dt.timedelta(days=7), "preferences": None, "unsubscribe": None}


class InvalidToken(ValueError):
    pass


class _Serializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer, without trying zlib on each payload. A subscriber key
    (32 random hex digits) does not compress, and trying took two thirds of making a token, which a
    newsletter run does twice per message. What it makes is what itsdangerous makes for a payload that
    does not compress, and every token reads as before."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


class Tokens:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("NANSEN_SECRET must be at least 16 characters")
        self._secret = secret
        self._serializers = {p: _Serializer(secret, salt=f"nansen-{p}") for p in PURPOSES}

    def signer(self, salt: str) -> URLSafeTimedSerializer:
        """A signer with the same secret under another salt, for values that are not links (form proofs)."""
        return URLSafeTimedSerializer(self._secret, salt=salt)

    def make(self, purpose: str, key: str) -> str:
        return self._serializers[purpose].dumps(key)

    def read(self, purpose: str, token: str) -> str:
        """The subscriber key in a valid token; InvalidToken (never which check failed) otherwise."""
        max_age = PURPOSES[purpose]
        try:
            key = self._serializers[purpose].loads(token, max_age=int(max_age.total_seconds()) if max_age else None)
        except (BadSignature, SignatureExpired) as exc:
            raise InvalidToken("this link is not valid any more") from exc
        if not isinstance(key, str):
            raise InvalidToken("this link is not valid any more")
        return key
