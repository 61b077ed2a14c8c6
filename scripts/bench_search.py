"""Benchmark: what a search costs at many posts, against a LIKE scan of the same posts.

    make bench-search BENCH_SEARCH_ARGS="--posts 100000 --rounds 7"
    .venv/bin/python scripts/bench_search.py [--posts 100000] [--rounds 7]
        [--databases mariadb,sqlite] [--mariadb mysql+pymysql://root@127.0.0.1:3306]

In process, without a web server: the database's time, and the app's around
it (building the page's posts), nothing else. For each database it builds a
database of its own with the migrations (MariaDB: created on --mariadb, then
dropped; SQLite: a temporary file) and seeds --posts posts as ``make bench``
does (``bench_data``: words drawn with Zipf weights, so some are in nearly
every post and some in a few percent).

Then, for each query (a word in nearly every post, one in two posts of five,
one in a few percent, those two words, a number in one post's title), the
first page of 20 newest first and best match first, and page 50 newest first,
through
``search.search_posts``; and the same pages, total included, from
``LIKE '%word%'`` over title and body for every word, as a search without a
full-text index would read them. Each cell is the median of --rounds rounds,
every case of a query timed in turn within a round. ``LIKE / FTS`` divides
the two medians of the same page.

A LIKE matches inside words ("cat" in "concatenate"), so its totals may be
larger than the index's; the work it does is the point. Not a test: CI
never runs it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload

from app import create_app
from app.extensions import db, init_migrate
from app.listings import PostView, post_view
from app.models import Post, User
from app.page import Page
from app.search import SearchOrder, search_posts
from app.search_terms import search_terms
from scripts import bench_data

PROJECT = Path(__file__).resolve().parent.parent
PER_PAGE = 20
DEEP_PAGE = 50


@dataclass(frozen=True)
class Case:
    """One way of reading one page of a query's results."""

    label: str
    read: Callable[[str], Page[PostView]]


CASES = [
    Case("FTS newest p1", lambda q: search_posts(q, 1, PER_PAGE, SearchOrder.NEWEST)),
    Case("FTS best p1", lambda q: search_posts(q, 1, PER_PAGE, SearchOrder.RELEVANCE)),
    Case(
        f"FTS newest p{DEEP_PAGE}",
        lambda q: search_posts(q, DEEP_PAGE, PER_PAGE, SearchOrder.NEWEST),
    ),
    Case("LIKE newest p1", lambda q: like_search(q, 1)),
    Case(f"LIKE newest p{DEEP_PAGE}", lambda q: like_search(q, DEEP_PAGE)),
]
# (FTS case, LIKE case) pairs whose times are compared.
RATIOS = [("FTS newest p1", "LIKE newest p1"), (CASES[2].label, CASES[4].label)]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=100_000, help="posts to seed (100000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per query (7)")
    parser.add_argument(
        "--databases", default="mariadb,sqlite", help="comma-separated: mariadb, sqlite"
    )
    bench_data.add_server_arguments(parser, redis=False)
    args = parser.parse_args()
    args.database_names = [name.strip() for name in args.databases.split(",") if name.strip()]
    if not set(args.database_names) <= {"mariadb", "sqlite"}:
        parser.error("--databases takes mariadb, sqlite or both")
    if args.posts < 1 or args.rounds < 1:
        parser.error("--posts and --rounds must be 1 or more")
    return args


def like_search(query: str, page: int) -> Page[PostView]:
    """The page ``search_posts`` would give, read with LIKE instead of the full-text index."""
    words = search_terms(query).searched
    # Every word somewhere in the title or the body; % and _ taken literally.
    holds_every_word = and_(
        *(
            or_(
                Post.title.contains(word, autoescape=True),
                Post.body.contains(word, autoescape=True),
            )
            for word in words
        )
    )
    total = db.session.scalar(select(func.count()).select_from(Post).where(holds_every_word))
    rows = (
        select(Post)
        .options(joinedload(Post.author))
        .where(holds_every_word)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    items = [post_view(post) for post in db.session.scalars(rows)]
    return Page(items=items, page=page, per_page=PER_PAGE, total=total or 0)


def queries(posts: int) -> list[str]:
    """Words from the top, the middle and the bottom of the seeded vocabulary, and more."""
    words = bench_data.VOCABULARY
    return [
        words[0],
        words[20],
        words[-1],
        f"{words[20]} {words[-1]}",
        # Titles are "Post #N: ...": this number is in one of them.
        str(posts // 2 + 1),
    ]


@contextmanager
def database(name: str, args: argparse.Namespace) -> Iterator[str]:
    """A new, empty database's URL; removed afterwards."""
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    database_name = f"bench_search_{secrets.token_hex(4)}"
    url = bench_data.create_database(args.mariadb, database_name)
    try:
        yield url
    finally:
        bench_data.drop_database(args.mariadb, database_name)


def build_app(url: str) -> Flask:
    os.environ["TEST_DATABASE_URL"] = url
    # The whole cost of every search is measured: no read timeout or time limit
    # (SEARCH_TIME_LIMIT, 2 s by default) cuts the slowest short.
    os.environ["DATABASE_READ_TIMEOUT"] = "600"
    os.environ["SEARCH_TIME_LIMIT"] = "300"
    app = create_app("testing")
    init_migrate(app)
    return app


def seed(app: Flask, url: str, posts: int) -> float:
    """Migrate, add the users, insert ``posts`` posts; the seconds the posts took."""
    with app.app_context():
        upgrade(directory=str(PROJECT / "migrations"))
        for number in range(1, bench_data.USERS + 1):
            user = User(username=f"demo{number}", email=f"demo{number}@example.com")
            # Nobody logs in: a hash that no password matches.
            user.password_hash = "!"
            db.session.add(user)
        db.session.commit()
        db.engine.dispose()
    return bench_data.seed_posts(url, posts)


def time_case(case: Case, query: str) -> tuple[float, int]:
    """Milliseconds to read one page, and the total it found."""
    started = time.perf_counter()
    page = case.read(query)
    elapsed = (time.perf_counter() - started) * 1000
    # A new session each time: no row is found already loaded in the last one's.
    db.session.remove()
    return elapsed, page.total


def measure(app: Flask, query: str, rounds: int) -> dict[str, tuple[float, int]]:
    """Each case's median milliseconds over ``rounds`` and its total, after one warm-up."""
    times: dict[str, list[float]] = {case.label: [] for case in CASES}
    totals: dict[str, int] = {}
    with app.app_context():
        for case in CASES:
            time_case(case, query)
        for _ in range(rounds):
            for case in CASES:
                elapsed, totals[case.label] = time_case(case, query)
                times[case.label].append(elapsed)
    return {label: (statistics.median(values), totals[label]) for label, values in times.items()}


def server_version(app: Flask) -> str:
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "sqlite":
            version = connection.exec_driver_sql("SELECT sqlite_version()").scalar()
            db.session.remove()
            return f"SQLite {version}"
        version = connection.exec_driver_sql("SELECT VERSION()").scalar()
        db.session.remove()
        return f"MariaDB {version}"


def report(name: str, results: dict[str, dict[str, tuple[float, int]]]) -> None:
    header = ["query", "found FTS", "found LIKE"] + [case.label + " ms" for case in CASES]
    header += [f"LIKE/FTS {fts.split()[-1]}" for fts, _ in RATIOS]
    rows = [header]
    for query, cells in results.items():
        row = [repr(query), str(cells[CASES[0].label][1]), str(cells[CASES[3].label][1])]
        row += [f"{cells[case.label][0]:.1f}" for case in CASES]
        row += [f"{cells[like][0] / cells[fts][0]:.1f}" for fts, like in RATIOS]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(name)
    for row in rows:
        right = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join([row[0].ljust(widths[0]), *right]))
    print()


def main() -> int:
    args = parse_arguments()
    load = os.getloadavg()
    print(
        f"bench-search: {args.posts} posts, {PER_PAGE} per page, median of {args.rounds} "
        f"rounds, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for name in args.database_names:
        with database(name, args) as url:
            app = build_app(url)
            print(f"seeding {args.posts} posts on {name}", file=sys.stderr)
            seconds = seed(app, url, args.posts)
            results = {query: measure(app, query, args.rounds) for query in queries(args.posts)}
            report(f"{server_version(app)} ({seconds:.1f} s to insert the posts)", results)
            with app.app_context():
                db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
