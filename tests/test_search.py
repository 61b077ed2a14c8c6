"""search_posts: the database's own full-text index finds posts by their words."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from app.extensions import db
from app.models import Post, User
from app.search import SearchOrder, SearchTookTooLong, search_posts
from app.search_schema import MARIADB_DIALECTS
from app.search_terms import SearchTerms, search_terms
from tests.helpers import fresh, make_user

pytestmark = pytest.mark.db

BASE_TIME = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
NEWEST = SearchOrder.NEWEST
RELEVANCE = SearchOrder.RELEVANCE


def add_post(author: User, title: str, body: str = "Nothing else.", minute: int = 0) -> int:
    """Commit a post written ``minute`` minutes after BASE_TIME; returns its id."""
    when = BASE_TIME + timedelta(minutes=minute)
    post = Post(title=title, body=body, author=author, created_at=when, updated_at=when)
    db.session.add(post)
    db.session.commit()
    return post.id


def found(query: str, order: SearchOrder = NEWEST, page: int = 1, per_page: int = 20) -> list[str]:
    """The titles of one page of ``query``'s results, searched in a new transaction.

    MariaDB's index shows only what was committed before the transaction began.
    """
    fresh()
    return [post.title for post in search_posts(query, page, per_page, order).items]


# --- The words of a query ----------------------------------------------------------------


def test_words_are_runs_of_letters_digits_and_underscores_lower_cased_each_once() -> None:
    terms = search_terms("Apache's mod_wsgi: 3.4.0 (daemon) APACHE daemon-mode")

    assert terms.searched == ("apache", "mod_wsgi", "daemon", "mode")
    assert terms.ignored == ("s", "3", "4", "0")


def test_short_long_and_common_words_are_set_aside_as_the_index_leaves_them_out() -> None:
    long_word = "x" * 85

    terms = search_terms(f"go the cat of {long_word} with {'y' * 84}")

    assert terms == SearchTerms(
        searched=("cat", "y" * 84), ignored=("go", "the", "of", long_word, "with")
    )


def test_operators_quotes_and_wildcards_are_only_separators() -> None:
    terms = search_terms('"cats" -dogs +mice NEAR(owls, bats) title:moths fish* 100% _ ___')

    assert terms == SearchTerms(
        searched=("cats", "dogs", "mice", "near", "owls", "bats", "title", "moths", "fish", "100"),
        ignored=(),
    )


def test_an_accent_typed_as_a_combining_mark_stays_in_its_word() -> None:
    assert search_terms("cafe\u0301 re\u0301sume\u0301").searched == ("café", "résumé")


# --- Finding posts -----------------------------------------------------------------------


def test_a_post_is_found_by_a_word_of_its_title_or_of_its_text(app: Flask, user: User) -> None:
    add_post(user, "Lantern", "A story about harbors.", minute=1)
    add_post(user, "Harbor lights", "Nothing about lamps.", minute=2)
    add_post(user, "Unrelated", "Nothing to see.", minute=3)

    assert found("lantern") == ["Lantern"]
    assert found("harbors") == ["Lantern"]
    assert found("harbor") == ["Harbor lights"]


def test_every_word_must_be_in_the_post(app: Flask, user: User) -> None:
    add_post(user, "Cats only", "Whiskers.", minute=1)
    add_post(user, "Dogs only", "Barking.", minute=2)
    add_post(user, "Cats and dogs", "Both of them.", minute=3)

    assert found("cats dogs") == ["Cats and dogs"]
    assert found("dogs cats") == ["Cats and dogs"]
    assert found("cats") == ["Cats and dogs", "Cats only"]


def test_case_and_accents_do_not_matter(app: Flask, user: User) -> None:
    add_post(user, "Café crème", "A naïve résumé.", minute=1)

    assert found("CAFE") == ["Café crème"]
    assert found("creme resume") == ["Café crème"]
    assert found("naïve") == ["Café crème"]


@pytest.mark.parametrize(
    "query",
    [
        # Each database's operators, taken as words: every one of them is required.
        "cats OR dogs",
        "cats | dogs",
        "+cats -dogs",
        '"cats dogs"',
        ">cats <dogs",
        "~dogs (cats)",
        "cats* dogs*",
        "dogs@3 cats",
        "{cats} [dogs]",
        "cats AND dogs",
    ],
)
def test_search_syntax_in_a_query_is_searched_as_plain_words(
    app: Flask, user: User, query: str
) -> None:
    add_post(user, "Cats only", "Whiskers.", minute=1)
    add_post(user, "Dogs only", "Barking.", minute=2)
    add_post(user, "Cats and dogs", "Both of them.", minute=3)

    assert found(query) == ["Cats and dogs"]


def test_a_word_ending_in_a_star_is_no_prefix(app: Flask, user: User) -> None:
    add_post(user, "Categories", "Sorting things.", minute=1)

    assert found("cat*") == []
    assert found("categories*") == ["Categories"]


def test_operator_words_are_required_like_any_other(app: Flask, user: User) -> None:
    add_post(user, "Owls and bats", "Night animals.", minute=1)
    add_post(user, "Near the owls", "Bats too.", minute=2)

    assert found("NEAR(owls bats)") == ["Near the owls"]
    assert found("title:owls") == []


@pytest.mark.parametrize("query", ["%", "_", "%%", "__", "'", '"', "\\", "%_%", "' OR 1=1 --"])
def test_like_wildcards_quotes_and_punctuation_alone_find_nothing(
    app: Flask, user: User, query: str
) -> None:
    add_post(user, "100% done", "Under_score, 'quoted' and \"double\" \\ backslash.", minute=1)

    page = search_posts(query, 1, 20, NEWEST)

    assert (page.items, page.total) == ([], 0)


def test_underscores_join_words_as_in_a_name(app: Flask, user: User) -> None:
    add_post(user, "Configuring mod_wsgi", "Daemon mode.", minute=1)

    assert found("mod_wsgi") == ["Configuring mod_wsgi"]
    assert found("wsgi") == []


def test_short_and_common_words_are_not_searched_and_do_not_hide_the_rest(
    app: Flask, user: User
) -> None:
    add_post(user, "A cat", "On a mat.", minute=1)

    assert found("the cat is on it") == ["A cat"]
    page = search_posts("of the is on a", 1, 20, NEWEST)
    assert (page.items, page.total) == ([], 0)


def test_an_edited_post_is_found_by_its_new_words_only(app: Flask, user: User) -> None:
    post_id = add_post(user, "Old lantern", "Old words.", minute=1)

    post = db.session.get(Post, post_id)
    assert post is not None
    post.title = "New candle"
    post.body = "New words."
    db.session.commit()

    assert found("lantern") == []
    assert found("candle") == ["New candle"]
    assert found("words") == ["New candle"]


def test_a_change_to_another_column_keeps_the_post_findable(app: Flask, user: User) -> None:
    post_id = add_post(user, "Lantern", minute=1)

    db.session.execute(
        sql("UPDATE posts SET updated_at = :now WHERE id = :id"),
        {"now": BASE_TIME + timedelta(days=1), "id": post_id},
    )
    db.session.commit()

    assert found("lantern") == ["Lantern"]


def test_a_deleted_post_is_not_found(app: Flask, user: User) -> None:
    post_id = add_post(user, "Lantern one", minute=1)
    add_post(user, "Lantern two", minute=2)

    post = db.session.get(Post, post_id)
    db.session.delete(post)
    db.session.commit()

    assert found("lantern") == ["Lantern two"]


def test_the_posts_of_a_deleted_account_are_not_found(app: Flask, user: User) -> None:
    bob = make_user("bob")
    add_post(user, "Lantern by alice", minute=1)
    add_post(bob, "Lantern by bob", minute=2)

    # The database deletes bob's posts (ON DELETE CASCADE), not the ORM.
    db.session.execute(sql("DELETE FROM users WHERE id = :id"), {"id": bob.id})
    db.session.commit()

    assert found("lantern") == ["Lantern by alice"]


def test_posts_written_with_plain_sql_are_found(app: Flask, user: User) -> None:
    db.session.execute(
        sql(
            "INSERT INTO posts (title, body, user_id, created_at, updated_at) "
            "VALUES ('Imported lantern', 'From a bulk import.', :user, :now, :now)"
        ),
        {"user": user.id, "now": BASE_TIME},
    )
    db.session.commit()

    assert found("imported") == ["Imported lantern"]


# --- Order and pages ---------------------------------------------------------------------


def test_newest_first_by_default(app: Flask, user: User) -> None:
    add_post(user, "Middle lantern", minute=2)
    add_post(user, "Oldest lantern", minute=1)
    add_post(user, "Newest lantern", minute=3)

    assert found("lantern") == ["Newest lantern", "Middle lantern", "Oldest lantern"]


def test_best_match_first_then_newest_among_equals(app: Flask, user: User) -> None:
    filler = " ".join(f"filler{number}" for number in range(40))
    add_post(user, "Once first", f"One lantern among many other words. {filler}", minute=1)
    add_post(user, "Many times", "Lantern, lantern, lantern: a lantern.", minute=2)
    add_post(user, "Once again", f"One lantern among many other words. {filler}", minute=3)
    # Posts without the word keep it rare, so it weighs something in the score.
    for number in range(6):
        add_post(user, f"Other {number}", "Something else.", minute=10 + number)

    assert found("lantern", RELEVANCE) == ["Many times", "Once again", "Once first"]
    assert found("lantern", NEWEST) == ["Once again", "Many times", "Once first"]


def test_pages_split_the_results_and_count_them_all(app: Flask, user: User) -> None:
    for number in range(1, 6):
        add_post(user, f"Lantern {number}", minute=number)
    add_post(user, "Candle", minute=9)

    fresh()
    first = search_posts("lantern", 1, 2, NEWEST)
    last = search_posts("lantern", 3, 2, NEWEST)

    assert [post.title for post in first.items] == ["Lantern 5", "Lantern 4"]
    assert (first.total, first.pages, first.has_next) == (5, 3, True)
    assert [post.title for post in last.items] == ["Lantern 1"]
    assert (last.total, last.has_next) == (5, False)
    assert found("lantern", RELEVANCE, page=2, per_page=2) == ["Lantern 3", "Lantern 2"]


def test_a_page_past_the_last_result_is_empty_and_still_counts_them(app: Flask, user: User) -> None:
    add_post(user, "Lantern", minute=1)

    fresh()
    page = search_posts("lantern", 4, 20, RELEVANCE)

    assert (page.items, page.total, page.out_of_range) == ([], 1, True)
    assert search_posts("candle", 1, 20, NEWEST).total == 0


def test_results_carry_the_author_as_the_lists_do(app: Flask, user: User) -> None:
    add_post(user, "Lantern", "Its text.", minute=1)

    fresh()
    (post,) = search_posts("lantern", 1, 20, NEWEST).items

    assert (post.title, post.body, post.author.username) == ("Lantern", "Its text.", "alice")
    assert post.created_at == BASE_TIME + timedelta(minutes=1)


@pytest.mark.parametrize(
    "query", ["", "   ", "\u200b", "x" * 201, " ".join(["word"] * 17)], ids=repr
)
def test_a_query_the_rules_refuse_is_a_value_error(app: Flask, query: str) -> None:
    with pytest.raises(ValueError, match="Give one or more words|at most"):
        search_posts(query, 1, 20, NEWEST)


# --- A search over the time limit --------------------------------------------------------


@contextmanager
def searches_held_up(app: Flask) -> Iterator[None]:
    """Another connection holds the posts table, so a search waits, until its time limit.

    MariaDB only (LOCK TABLES, max_statement_time): SQLite searches have no
    limit. The limit is 0.2 s meanwhile.
    """
    # Tests using this are marked mariadb_only: SQLite searches have no time limit.
    assert db.engine.dialect.name in MARIADB_DIALECTS, "mark the test mariadb_only"
    # The test's own transaction must not be using the table.
    fresh()
    limit = app.config["SEARCH_TIME_LIMIT"]
    app.config["SEARCH_TIME_LIMIT"] = 0.2
    other = create_engine(db.engine.url)
    try:
        with other.connect() as connection:
            # A table left in use fails the test in 5 s rather than hanging it.
            connection.exec_driver_sql("SET SESSION lock_wait_timeout = 5")
            connection.exec_driver_sql("LOCK TABLES posts WRITE")
            try:
                yield
            finally:
                connection.exec_driver_sql("UNLOCK TABLES")
    finally:
        other.dispose()
        app.config["SEARCH_TIME_LIMIT"] = limit


@pytest.mark.mariadb_only
def test_mariadb_stops_a_search_over_the_time_limit_and_the_next_search_runs(
    app: Flask, user: User
) -> None:
    add_post(user, "Lantern", minute=1)

    with searches_held_up(app), pytest.raises(SearchTookTooLong) as stopped:
        search_posts("lantern", 1, 20, NEWEST)

    assert stopped.value.code == 503
    assert dict(stopped.value.get_headers())["Retry-After"] == "30"
    # Stopped by the server, on a connection that still works: nothing else is refused.
    assert found("lantern") == ["Lantern"]
