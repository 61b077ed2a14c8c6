"""Generations of what the cache keeps, one per scope, so that a write drops only what it changed.

A scope names a part of the site's data that cached entries are built from:
the list of all posts, the list of users, one user's profile and posts, one
post. Each scope has a generation, a random token kept in the cache. An entry
(a list's page, a whole response) records the generations of the scopes it was
built from, read before anything was loaded, together with the global epoch
that every entry carries; it may be used only while all of them are still
current. A committed write replaces the generations of the scopes it changed
(``app/scope_changes.py``), so the next read of those entries misses and loads
again, while every other entry stays.

Tokens are random, never counted up: a generation that disappears (the cache
was emptied, the key expired or was evicted) comes back as a new token, which
no stored entry carries, so losing one can only cost misses, never serve an
entry built before a write.

The epoch is for the rare events that may have changed anything: a renamed
or deleted account (names appear in every list), and Redis coming back after
an outage, during which writes could not replace any generation.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from typing import Any

from flask_caching.backends.base import BaseCache

from .extensions import cache
from .resilient_cache import cache_recovered

# Bump when the keys' or the tokens' form changes.
CACHE_FORMAT = 1
EPOCH = "epoch"
POSTS = "posts"
USERS = "users"
_USERNAME_PREFIX = "username:"

Generations = tuple[str, ...]
"""The epoch's generation, then those of an entry's scopes, in the order they were asked for."""


def user_scope(user_id: int) -> str:
    """One user, by id: the API's user and their posts."""
    return f"user:{user_id}"


def username_scope(username_key: str) -> str:
    """One user, by normalised name: the site's profile page, keyed by the name in its URL."""
    return _USERNAME_PREFIX + username_key


def post_scope(post_id: int) -> str:
    """One post: its page and the API's copy."""
    return f"post:{post_id}"


def generation_key(scope: str) -> str:
    """The cache key holding ``scope``'s generation."""
    return f"scopes:v{CACHE_FORMAT}:{scope}"


def read_with(entry_key: str, scopes: Sequence[str]) -> tuple[Any, Generations]:
    """The entry at ``entry_key`` and the current generations of ``scopes``, in one cache read.

    One MGET on Redis. A generation that is missing is created (and can match
    no entry, since its token is new), which costs more calls only then.
    """
    keys = [generation_key(EPOCH), *map(generation_key, scopes)]
    entry, *found = cache.get_many(entry_key, *keys)
    generations = tuple(
        value if isinstance(value, str) else _create(key)
        for key, value in zip(keys, found, strict=True)
    )
    return entry, generations


def bump(scopes: Collection[str]) -> None:
    """Give each of ``scopes`` a new generation: entries built under the old ones are stale.

    One pipelined round trip on Redis however many scopes. The epoch makes
    every other generation moot, so with it only the epoch is written.
    """
    if EPOCH in scopes:
        cache.set(generation_key(EPOCH), _new_token(), timeout=0)
        return
    # Written in order (a pipeline's commands run in turn, but another
    # client's may run between them): the lists' scopes before the names',
    # which only profile pages read. A request that finds a profile's new
    # generation then also finds its list's (user:<id>) new, so it never
    # renders a list kept from before the write into a page kept after it.
    ordered = sorted(scopes, key=lambda scope: scope.startswith(_USERNAME_PREFIX))
    if ordered:
        cache.set_many(
            {generation_key(scope): _new_token() for scope in ordered},
            timeout=_scope_lifetime(cache.cache),
        )


def _create(key: str) -> str:
    token = _new_token()
    lifetime = 0 if key == generation_key(EPOCH) else _scope_lifetime(cache.cache)
    # add() keeps a token another process set in the meantime.
    if cache.add(key, token, timeout=lifetime):
        return token
    found = cache.get(key)
    return found if isinstance(found, str) else token


def _new_token() -> str:
    return secrets.token_hex(8)


def _scope_lifetime(backend: BaseCache) -> int:
    # A scope's generation expires, at twice an entry's lifetime, because a
    # request for a profile or post nobody has still creates one: without an
    # end, names made up by a crawler would pile up. An expired generation
    # only costs a miss. The epoch is one key and never expires: its expiry
    # would make every kept page miss at the same moment. (An entry lifetime
    # of 0, keep for ever, gives 0 here too.)
    return 2 * int(backend.default_timeout)


@cache_recovered.connect
def _new_epoch_after_outage(backend: BaseCache, **_: Any) -> None:
    # A write committed while Redis was unreachable could not replace any
    # generation, so what Redis kept from before may miss it. The backend
    # itself, not ``cache``: this runs inside the backend's recovery.
    backend.set(generation_key(EPOCH), _new_token(), timeout=0)
