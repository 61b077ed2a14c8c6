"""Finding posts by the words of their title and text: one function, either database.

``search_posts`` asks the database's own full-text index (app/search_schema.py):
FTS5 on SQLite, InnoDB's FULLTEXT on MariaDB. Each word to find
(app/search_terms.py) is made of word characters only and goes to the index
as a required term (quoted for FTS5), so nothing a visitor types is read as
an operator of either query language, and every post found holds every word.

One statement reads a page: the page's ids, ordered and cut in the database,
with the number of all matches beside them (``COUNT(*) OVER ()``), so the
index is searched once per page, not once for the total and again for the
rows. Its cost grows with the number of posts a word is in: the index hands
over every match, to be counted and sorted, so a deep page costs what the
first one does, and a word in nearly every post is the slowest search
(README, "Search"). Only a page past the last match needs a COUNT of its own.

Results are not cached, unlike the lists of posts (app/listings.py): there is
no end to the different queries, so anyone could fill the cache with them.

On MariaDB each statement runs under ``SEARCH_TIME_LIMIT`` (``SET STATEMENT
max_statement_time``). A search the server stopped is a 503 saying so
(``SearchTookTooLong``), for that request alone; waiting out the read timeout
instead would look like a server that stopped answering
(app/database_faults.py), and turn the process away from the database.

MariaDB's index sees a transaction's own writes only once it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import pymysql
from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    column,
    event,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Engine, ExecutionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import joinedload
from werkzeug.exceptions import ServiceUnavailable

from .extensions import db
from .listings import PostView, post_view
from .models import Post
from .page import Page
from .search_schema import FTS_TABLE, MARIADB_DIALECTS
from .search_terms import search_terms
from .validation import search_query_problem

logger = logging.getLogger(__name__)
# How MariaDB says it stopped a statement at max_statement_time: 1969, or,
# when InnoDB's full-text search was the part interrupted, the storage engine's
# "aborted by user" (188, which the client knows no name for).
STOPPED_STATEMENT_ERRORS = frozenset({1969, 188})
# The execution option that carries a statement's limit, in seconds.
TIME_LIMIT_OPTION = "search_time_limit"
# Asking again at once would cost the database as much again.
RETRY_AFTER_STOPPED_SEARCH = 30
STOPPED_SEARCH_MESSAGE = (
    "This search took too long and was stopped. Words found in fewer posts are quicker "
    "to search for."
)


class SearchTookTooLong(ServiceUnavailable):
    """MariaDB stopped a search at ``SEARCH_TIME_LIMIT``: a 503 for this request alone."""


class SearchOrder(StrEnum):
    """How a search's results are sorted."""

    NEWEST = "newest"
    """Newest post first."""
    RELEVANCE = "relevance"
    """Best match first (the index's score), newest first among equals."""


def search_posts(query: str, page: int, per_page: int, order: SearchOrder) -> Page[PostView]:
    """The posts holding every searchable word of ``query``, one page of them.

    ``query`` must pass ``validation.search_query_problem``: a ValueError
    otherwise. A query with no word the index holds (punctuation, only very
    short or common words) finds nothing.
    """
    problem = search_query_problem(query)
    if problem:
        raise ValueError(problem)
    words = search_terms(query).searched
    if not words:
        return Page(items=[], page=page, per_page=per_page, total=0)
    dialect = db.session.get_bind().dialect.name
    matcher = _MariaDBMatch(words) if dialect in MARIADB_DIALECTS else _SQLiteMatch(words)
    best_first = order is SearchOrder.RELEVANCE
    ranked = matcher.scored() if best_first else matcher.matching()
    newest_first = (Post.created_at.desc(), Post.id.desc())
    by_score = [ranked.selected_columns.score.desc()] if best_first else []
    hits = (
        ranked.add_columns(func.count().over().label("total"))
        .order_by(*by_score, *newest_first)
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery()
    )
    outer_order = [hits.c.score.desc()] if best_first else []
    limit = {TIME_LIMIT_OPTION: current_app.config["SEARCH_TIME_LIMIT"]}
    with _stopped_searches_answered():
        # Only the page's rows are read whole, with their authors in the same query.
        rows = db.session.execute(
            select(Post, hits.c.total)
            .options(joinedload(Post.author))
            .join(hits, Post.id == hits.c.id)
            .order_by(*outer_order, *newest_first),
            execution_options=limit,
        ).all()
        total = rows[0].total if rows else 0
        if not rows and page > 1:
            # Past the last match: the total comes from a count of its own.
            total = db.session.scalar(matcher.count(), execution_options=limit) or 0
    items = [post_view(post) for post, _ in rows]
    return Page(items=items, page=page, per_page=per_page, total=total)


@contextmanager
def _stopped_searches_answered() -> Iterator[None]:
    """Turn MariaDB's "stopped at max_statement_time" into ``SearchTookTooLong``."""
    try:
        yield
    except DBAPIError as error:
        driver_error = error.orig
        if not (
            isinstance(driver_error, pymysql.err.MySQLError)
            and driver_error.args[:1]
            and driver_error.args[0] in STOPPED_STATEMENT_ERRORS
        ):
            raise
        seconds = current_app.config["SEARCH_TIME_LIMIT"]
        logger.warning("a search was stopped after SEARCH_TIME_LIMIT (%s s)", seconds)
        raise SearchTookTooLong(
            STOPPED_SEARCH_MESSAGE, retry_after=RETRY_AFTER_STOPPED_SEARCH
        ) from None


@event.listens_for(Engine, "before_cursor_execute", retval=True)
def _limit_statement_time(
    connection: Any,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> tuple[str, Any]:
    """Run a statement given ``TIME_LIMIT_OPTION`` under MariaDB's max_statement_time."""
    seconds = context.execution_options.get(TIME_LIMIT_OPTION) if context is not None else None
    if seconds is None or connection.dialect.name not in MARIADB_DIALECTS:
        return statement, parameters
    return f"SET STATEMENT max_statement_time={float(seconds):.6f} FOR {statement}", parameters


class _SQLiteMatch:
    """The FTS5 table's MATCH: every word a quoted string, so FTS5 reads none as syntax."""

    def __init__(self, words: tuple[str, ...]) -> None:
        # A double quote inside an FTS5 string is doubled; words hold none, but
        # the quoting must not depend on that.
        expression = " ".join('"' + word.replace('"', '""') + '"' for word in words)
        self._index = table(FTS_TABLE, column("rowid"), column("rank"))
        self._match = literal_column(FTS_TABLE).op("MATCH")(bindparam("search_match", expression))

    def count(self) -> Select[int]:
        return select(func.count()).select_from(self._index).where(self._match)

    def matching(self) -> Select[int]:
        """The ids of the matching posts."""
        return select(Post.id).where(Post.id.in_(select(self._index.c.rowid).where(self._match)))

    def scored(self) -> Select[int, float]:
        """The ids of the matching posts and their score, higher for a better match."""
        # FTS5's rank column is bm25(), lower for a better match. Unlike a call
        # of bm25(), it may be read beside a window function.
        score = (-self._index.c.rank).label("score")
        return (
            select(Post.id, score)
            .select_from(self._index)
            .join(Post, Post.id == self._index.c.rowid)
            .where(self._match)
        )


class _MariaDBMatch:
    """InnoDB's MATCH ... AGAINST in boolean mode, every word required (``+word``)."""

    def __init__(self, words: tuple[str, ...]) -> None:
        # Words hold only letters, digits and underscores, none of which is an
        # operator of boolean mode: nothing to quote or escape.
        expression = " ".join(f"+{word}" for word in words)
        posts = Post.__table__.c
        self._match: ColumnElement[float] = mysql.match(
            posts.title, posts.body, against=bindparam("search_match", expression)
        ).in_boolean_mode()

    def count(self) -> Select[int]:
        return select(func.count()).select_from(Post).where(self._match)

    def matching(self) -> Select[int]:
        """The ids of the matching posts."""
        return select(Post.id).where(self._match)

    def scored(self) -> Select[int, float]:
        """The ids of the matching posts and their score, higher for a better match."""
        return select(Post.id, self._match.label("score")).where(self._match)
