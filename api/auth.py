"""API keys: the platform's HS256 JWT, also present as an active `api` token of its organization.

A confirmed key is cached for `auth_cache_seconds` (at most 60 s), so a revoked or deleted key stops
working within that time. Only SHA-256 digests of keys are kept, in the cache as in the index.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import jwt
from opensearchpy import AsyncOpenSearch

from runsearch.api.query import WHOLE
from runsearch.digest import sha256
from runsearch.errors import RunsearchError

CACHE_ENTRIES = 10_000


class InvalidCredentials(RunsearchError):
    pass


def claimed_organization(key: str | None, secret: str) -> str:
    """The organization a key claims to belong to, if it is a well-formed key signed with `secret`."""
    if not key:
        raise InvalidCredentials
    try:
        claims = jwt.decode(key, secret, algorithms=["HS256"], options={"require": ["sub"]})
    except jwt.PyJWTError:
        raise InvalidCredentials from None
    if not isinstance(claims["sub"], str):
        raise InvalidCredentials
    return claims["sub"]


class Authenticator:
    def __init__(self, os: AsyncOpenSearch, keys_index: str, secret: str, ttl_seconds: float) -> None:
        self.os, self.index, self.secret, self.ttl = os, keys_index, secret, ttl_seconds
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def organization(self, key: str | None) -> str:
        """The organization of a valid key; raises InvalidCredentials for every kind of bad key."""
        if not key:
            raise InvalidCredentials
        organization = claimed_organization(key, self.secret)
        digest = sha256(key)
        cached = self._cache.get(digest)
        if cached and cached[0] > time.monotonic() and cached[1] == organization:
            return organization
        # Whole or not at all: a shard that cannot answer (a node lost) would otherwise count as "no such key", a 403.
        found = await self.os.search(index=self.index, params=WHOLE, body={
            "size": 0, "track_total_hits": 1,
            "query": {"bool": {"filter": [{"term": {"token_sha256": digest}}, {"term": {"organization_id": organization}},
                                          {"term": {"active": True}}, {"term": {"deleted": False}}]}},
        })
        if not found["hits"]["total"]["value"]:
            self._cache.pop(digest, None)
            raise InvalidCredentials
        self._cache[digest] = (time.monotonic() + self.ttl, organization)
        self._cache.move_to_end(digest)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return organization
