"""API keys: the JWT check and the cache of confirmed keys (a revoked key stops working within its time). The same
against real servers: tests/integration/test_tenancy.py."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import pytest
from opensearchpy.exceptions import TransportError

from runsearch.api import auth
from runsearch.api.auth import Authenticator, Claims, InvalidCredentials, claims
from runsearch.demo.dataset import api_key
from runsearch.digest import sha256

SECRET = "a-secret-of-sufficient-length-for-hs256-0001"


class FakeSearch:
    """Answers the key query from a set of (digest, organization) that are active. With `shard_lost`, as OpenSearch
    does when no copy of the shard can answer: an error if partial results are refused, else no hits."""

    def __init__(self, active: set[tuple[str, str]]) -> None:
        self.active, self.searches, self.shard_lost = active, 0, False

    async def search(self, index: str, body: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        self.searches += 1
        if self.shard_lost:
            if params.get("allow_partial_search_results") == "false":
                raise TransportError(503, "search_phase_execution_exception")
            return {"_shards": {"total": 1, "failed": 1}, "hits": {"total": {"value": 0}}}
        terms = {k: v for clause in body["query"]["bool"]["filter"] for k, v in clause["term"].items()}
        found = (terms["token_sha256"], terms["organization_id"]) in self.active
        return {"hits": {"total": {"value": int(found)}}}


def check(authenticator: Authenticator, key: str | None) -> str:
    return asyncio.run(authenticator.organization(key))


def test_a_key_is_valid_only_if_signed_by_the_secret_with_a_string_subject() -> None:
    assert claims(api_key("o_1", SECRET), SECRET) == Claims("o_1")
    expiring = jwt.encode({"sub": "o_1", "exp": 4_000_000_000}, SECRET, algorithm="HS256")
    assert claims(expiring, SECRET) == Claims("o_1", 4_000_000_000.0)
    expired = jwt.encode({"sub": "o_1", "exp": 1_700_000_000}, SECRET, algorithm="HS256")
    numeric_subject = jwt.encode({"sub": 1}, SECRET, algorithm="HS256")
    for bad in (None, "", "not-a-jwt", api_key("o_1", SECRET + "-other"), expired, numeric_subject):
        with pytest.raises(InvalidCredentials):
            claims(bad, SECRET)


def test_a_confirmed_key_is_cached_for_its_time_and_checked_again_after(monkeypatch: pytest.MonkeyPatch) -> None:
    key = api_key("o_1", SECRET)
    search = FakeSearch({(sha256(key), "o_1")})
    clock = [100.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    authenticator = Authenticator(search, "keys", SECRET, ttl_seconds=30)  # type: ignore[arg-type]
    assert check(authenticator, key) == "o_1" and check(authenticator, key) == "o_1" and search.searches == 1
    search.active.clear()  # revoked
    clock[0] += 29.9
    assert check(authenticator, key) == "o_1"  # still within its time
    clock[0] += 0.2
    with pytest.raises(InvalidCredentials):
        check(authenticator, key)
    assert search.searches == 2


def test_a_cached_key_is_not_verified_again_but_an_expiring_one_is_checked_again_at_its_expiry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    expiring = jwt.encode({"sub": "o_1", "exp": int(time.time()) + 10}, SECRET, algorithm="HS256")
    search = FakeSearch({(sha256(expiring), "o_1")})
    clock = [100.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    authenticator = Authenticator(search, "keys", SECRET, ttl_seconds=30)  # type: ignore[arg-type]
    assert check(authenticator, expiring) == "o_1"
    verified = []
    monkeypatch.setattr(auth, "claims", lambda key, secret: verified.append(key) or claims(key, secret))
    clock[0] += 8
    assert check(authenticator, expiring) == "o_1" and not verified and search.searches == 1  # from the cache
    clock[0] += 3  # past its `exp` (the cache's 30 s are not)
    check(authenticator, expiring)  # PyJWT's clock has not moved: still valid for it, but verified and looked up again
    assert verified == [expiring] and search.searches == 2


def test_a_key_of_one_organization_never_passes_for_another_and_unknown_keys_are_never_cached() -> None:
    key = api_key("o_1", SECRET)
    search = FakeSearch({(sha256(key), "o_2")})  # the row belongs to another organization
    authenticator = Authenticator(search, "keys", SECRET, ttl_seconds=30)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            check(authenticator, key)
    assert search.searches == 2


def test_the_cache_holds_a_bounded_number_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "CACHE_ENTRIES", 3)
    keys = [api_key(f"o_{n}", SECRET) for n in range(5)]
    authenticator = Authenticator(FakeSearch({(sha256(k), f"o_{n}") for n, k in enumerate(keys)}), "keys", SECRET, 30)  # type: ignore[arg-type]
    for key in keys:
        check(authenticator, key)
    assert list(authenticator._cache) == [sha256(k) for k in keys[2:]]


def test_a_key_that_cannot_be_looked_up_is_an_error_not_a_refusal() -> None:
    """A node lost with the only answering copy of the keys: the API answers 503 (retry), never 403 (bad key)."""
    key = api_key("o_1", SECRET)
    search = FakeSearch({(sha256(key), "o_1")})
    search.shard_lost = True
    with pytest.raises(TransportError):
        check(Authenticator(search, "keys", SECRET, ttl_seconds=30), key)  # type: ignore[arg-type]
