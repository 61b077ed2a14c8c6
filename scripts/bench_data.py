"""The data ``make bench`` serves: a MariaDB database of its own, demo users, many posts.

Users come from ``flask seed`` (the app's own password hashing); posts are
inserted in bulk, many rows per statement, so 100,000 take seconds rather
than the minutes 100,000 ORM objects would.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

import redis
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from app import post_rendering
from app.cli import WORDS
from app.models import Post, User
from app.post_counts import recount_statement

USERS = 20
PASSWORD = "bench-password-not-secret"
BATCH = 2_000
# The words posts are written with: flask seed's first, then more, drawn with
# Zipf weights (the k-th word 1/k as often as the first). A search then finds
# a word in nearly every post, in a fifth of them or in a few percent, as on a
# real site; with flask seed's 21 words alone, every word is in every post.
MORE_WORDS = [
    "garden", "river", "window", "lantern", "harbor", "meadow", "pencil", "ladder", "candle",
    "forest", "marble", "bridge", "castle", "violin", "copper", "orchard", "saddle", "island",
    "valley", "thunder", "whisper", "compass", "kettle", "blanket", "pepper", "mirror",
    "anchor", "feather", "basket", "cotton", "engine", "helmet", "jacket", "ribbon", "rocket",
    "shadow", "silver", "spider", "summer", "winter", "autumn", "spring", "tunnel", "velvet",
    "wagon", "walnut", "yellow", "zephyr", "bottle", "button", "cabin", "camera", "canyon",
    "carpet", "cellar", "cherry", "circle", "cloud", "coffee", "collar", "comet", "coral",
    "cradle", "crystal", "dancer", "desert", "dragon", "drum", "eagle", "ember", "falcon",
    "fabric", "fence", "fiddle", "flame", "flower", "fountain", "galaxy", "garlic", "giant",
    "glacier", "glove", "granite", "guitar", "hammer", "harvest", "hazel", "honey", "horizon",
    "iceberg", "iron", "ivory", "jasmine", "jewel", "jungle", "kitten", "lemon", "lizard",
    "magnet", "mango", "maple", "meteor", "mitten", "monkey", "mountain", "mustard", "needle",
    "nickel", "noodle", "oasis", "ocean", "olive", "onion", "oyster", "paddle", "palace",
    "panda", "paper", "parrot", "pebble", "pillow", "planet", "pocket", "poppy", "potato",
    "prairie", "puzzle", "quartz", "rabbit", "radio", "raven", "riddle", "saffron", "sailor",
    "salmon", "sandal", "satchel", "scarf", "shovel", "signal", "slipper", "spoon", "squirrel",
    "stable", "statue", "stone", "sugar", "sunset", "swallow", "tablet", "teapot", "temple",
    "thimble", "ticket", "tiger", "timber", "tomato", "tower", "trumpet", "tulip", "turtle",
    "umbrella", "vessel", "village", "volcano", "waffle", "walrus", "whistle", "willow",
    "wizard", "wolf", "yarn", "zebra", "beacon", "biscuit", "blossom", "bramble", "breeze",
    "buffalo", "cactus", "caramel", "cobalt", "cricket", "dolphin", "dune", "emerald", "fjord",
    "gazelle", "geyser", "goblet", "gondola", "hammock", "heron", "indigo", "jigsaw", "kayak",
    "lagoon", "lilac", "lobster", "lotus", "mammoth", "marigold", "mosaic", "nectar", "nutmeg",
    "opal", "origami", "pelican", "pepperoni", "quiver", "quill", "reef", "rhubarb", "sapphire",
    "scooter", "sequoia", "sherbet", "sparrow", "tambourine", "thistle", "topaz", "tundra",
    "vanilla", "vortex", "wombat", "yonder", "zinnia",
]  # fmt: skip
VOCABULARY = [*WORDS, *MORE_WORDS]
_CUMULATIVE_WEIGHTS = list(accumulate(1 / rank for rank in range(1, len(VOCABULARY) + 1)))


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server ``server_url`` names; its URL for the app."""
    engine = create_engine(server_url)
    with engine.begin() as connection:
        connection.execute(
            text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    engine.dispose()
    return (
        make_url(server_url)
        .set(database=name, query={"charset": "utf8mb4"})
        .render_as_string(hide_password=False)
    )


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name``, if it is there."""
    engine = create_engine(server_url)
    with engine.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    engine.dispose()


def seed_users(venv: Path, project: Path, environment: dict[str, str]) -> None:
    """demo1..demo20, through ``flask seed`` in the servers' venv and settings."""
    subprocess.run(
        [str(venv / "bin" / "flask"), "--app", "wsgi", "seed", "--users", str(USERS)]
        + ["--posts", "0", "--password", PASSWORD],
        cwd=project,
        env=environment,
        check=True,
        capture_output=True,
    )


def _text(chooser: random.Random, words: int) -> str:
    sentence = " ".join(chooser.choices(VOCABULARY, cum_weights=_CUMULATIVE_WEIGHTS, k=words))
    return sentence[:1].upper() + sentence[1:] + "."


def _rows(user_ids: list[int], count: int) -> Iterator[dict[str, object]]:
    # Seeded: two runs with the same count serve the same posts.
    chooser = random.Random(count)
    newest = datetime.now(UTC)
    for number in range(count):
        # A minute apart, the last one newest, spread over the users in turn.
        created = newest - timedelta(minutes=count - number)
        body = _text(chooser, 60)
        # Stored rendered, as the ORM writes posts: rows without it are rendered on each read.
        rendered = post_rendering.render(body)
        yield {
            "title": f"Post #{number + 1}: {_text(chooser, 3)}",
            "body": body,
            "body_html": rendered.html,
            "excerpt": rendered.excerpt,
            "user_id": user_ids[number % len(user_ids)],
            "created_at": created,
            "updated_at": created,
        }


def seed_posts(database_url: str, count: int) -> float:
    """Insert ``count`` posts spread over the users, in batches; the seconds it took."""
    started = time.perf_counter()
    engine = create_engine(database_url)
    with engine.begin() as connection:
        user_ids = list(connection.scalars(select(User.id).order_by(User.id)))
        batch: list[dict[str, object]] = []
        for row in _rows(user_ids, count):
            batch.append(row)
            if len(batch) == BATCH:
                connection.execute(insert(Post), batch)
                batch = []
        if batch:
            connection.execute(insert(Post), batch)
        # Bulk inserts bypass the counts the ORM keeps (app/post_counts.py).
        connection.execute(recount_statement())
        if connection.dialect.name == "sqlite":
            connection.execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE TABLE posts, users"))
    engine.dispose()
    return time.perf_counter() - started


def middle_post_id(database_url: str) -> int:
    """The id of a post halfway down the list: one no page near the top shows."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        ids = list(connection.scalars(select(Post.id).order_by(Post.id)))
    engine.dispose()
    if not ids:
        raise SystemExit("no posts were seeded: give --posts 1 or more")
    return ids[len(ids) // 2]


def delete_redis_keys(redis_url: str, marker: str) -> int:
    """Delete the keys whose names contain ``marker`` (never the others); how many."""
    client = redis.Redis.from_url(redis_url)
    deleted = 0
    batch = []
    for key in client.scan_iter(match=f"*{marker}*", count=1000):
        batch.append(key)
        if len(batch) == 500:
            client.delete(*batch)
            deleted, batch = deleted + len(batch), []
    if batch:
        client.delete(*batch)
        deleted += len(batch)
    client.close()
    return deleted


def add_server_arguments(parser: argparse.ArgumentParser, redis: bool = True) -> None:
    """The benchmarks' ``--mariadb`` (and ``--redis``) options: the machine's servers by default."""
    parser.add_argument(
        "--mariadb",
        default="mysql+pymysql://root@127.0.0.1:3306",
        help="the MariaDB server to create the benchmark's database on",
    )
    if redis:
        parser.add_argument(
            "--redis", default="redis://127.0.0.1:6379/0", help="the Redis for cache and limits"
        )
