"""API keys: the platform's HS256 JWT, also present as an active `api` token of its organization.

A confirmed key is cached for `auth_cache_seconds` (at most 60 s), so a revoked or deleted key stops
working within that time, and an expiring one (`exp`) at its expiry. Only SHA-256 digests of keys are
kept, in the cache as in the index. A cached key is not verified again: the same text was (its
signature and claims cannot have changed), and verifying it cost 70 µs of each request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt
from opensearchpy import AsyncOpenSearch

from runsearch.api.query import WHOLE
from runsearch.digest import sha256
from runsearch.errors import RunsearchError

CACHE_ENTRIES = 10_000


class InvalidCredentials(RunsearchError):
    pass


@dataclass(frozen=True)
class Claims:
    organization: str
    expires: float | None = None  # `exp`, in seconds since the epoch, if the key has one


def claims(key: str | None, secret: str) -> Claims:
    """What a well-formed key signed with `secret`, and valid now, claims: its organization and its expiry."""
    if not key:
        raise InvalidCredentials
    try:
        decoded = jwt.decode(key, secret, algorithms=["HS256"], options={"require": ["sub"]})
    except jwt.PyJWTError:
        raise InvalidCredentials from None
    if not isinstance(decoded["sub"], str):
        raise InvalidCredentials
    expires = decoded.get("exp")  # PyJWT checked it is a number, not past
    return Claims(decoded["sub"], None if expires is None else float(expires))


class Authenticator:
    def __init__(self, os: AsyncOpenSearch, keys_index: str, secret: str, ttl_seconds: float) -> None:
        self.os, self.index, self.secret, self.ttl = os, keys_index, secret, ttl_seconds
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def organization(self, key: str | None) -> str:
        """The organization of a valid key; raises InvalidCredentials for every kind of bad key."""
        if not key:
            raise InvalidCredentials
        digest = sha256(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        claimed = claims(key, self.secret)
        organization = claimed.organization
        # Whole or not at all: a shard that cannot answer (a node lost) would otherwise count as "no such key", a 403.
        found = await self.os.search(index=self.index, params=WHOLE, body={
            "size": 0, "track_total_hits": 1,
            "query": {"bool": {"filter": [{"term": {"token_sha256": digest}}, {"term": {"organization_id": organization}},
                                          {"term": {"active": True}}, {"term": {"deleted": False}}]}},
        })
        if not found["hits"]["total"]["value"]:
            self._cache.pop(digest, None)
            raise InvalidCredentials
        until = now + self.ttl
        if claimed.expires is not None:
            until = min(until, now + claimed.expires - time.time())
        self._cache[digest] = (until, organization)
        self._cache.move_to_end(digest)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return organization
