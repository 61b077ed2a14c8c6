"""Each API operation described once, on its view, and run as described.

``@operation(...)`` states what an endpoint takes and answers: who may call it,
its rate limit, the schemas of its query string, body and replies, and the
errors only its own logic raises. The same statement does the work (checks the
credentials, applies the limit, loads and validates the input, dumps the reply
through the declared schema) and is what ``openapi.py`` builds the document
from, so the view, its behaviour and its documentation cannot drift apart.

Errors follow from what is declared: a query string or body can be invalid
(400), a body too large (413) or not JSON (415), credentials missing or wrong
(401), a rate limit reached (429). ``errors`` adds the rest (403, 409); a path
parameter that names a row adds 404 when the document is built. A body may be
optional (``body_required=False``): an empty request body is then loaded as
``{}``, so the schema's defaults apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, wraps
from typing import Any, Literal

from flask.wrappers import Response
from marshmallow import Schema
from werkzeug.http import HTTP_STATUS_CODES

from .auth import authenticate
from .request_parsing import load_args, load_body, load_optional_body

View = Callable[..., Any]
Auth = Literal["bearer", "basic"]

# The attribute of a view function that holds its Operation.
ATTRIBUTE = "api_operation"

HEADERS = {
    "Location": "The new resource's URL.",
    "Retry-After": "Seconds to wait before asking again.",
}


@dataclass(frozen=True)
class Reply:
    """One success (or documented non-error) response: its body's schema and headers."""

    schema: type[Schema] | None
    description: str = ""
    headers: tuple[str, ...] = ()

    def describe(self, status: int) -> str:
        """The document's description: given, else the schema's docstring, else the reason."""
        if self.description:
            return self.description
        doc = (self.schema.__doc__ or "") if self.schema else ""
        return doc.strip().splitlines()[0] if doc.strip() else HTTP_STATUS_CODES[status] + "."

    @cached_property
    def dumper(self) -> Schema | None:
        """One instance of ``schema`` for every request: dumping keeps no state in it."""
        return self.schema() if self.schema is not None else None


def created(schema: type[Schema], description: str) -> Reply:
    """A 201 whose Location header is the new resource's URL."""
    return Reply(schema, description, headers=("Location",))


@dataclass(frozen=True)
class Operation:
    """What one endpoint takes and answers; see the module docstring."""

    view: View
    replies: Mapping[int, Reply]
    query: type[Schema] | None
    body: type[Schema] | None
    auth: Auth | None
    error_codes: frozenset[int]
    body_required: bool = True

    @property
    def summary(self) -> str:
        return (self.view.__doc__ or "").strip().splitlines()[0].rstrip(".")

    @property
    def operation_id(self) -> str:
        """``list_user_posts`` becomes ``listUserPosts``."""
        first, *rest = self.view.__name__.split("_")
        return first + "".join(word.capitalize() for word in rest)

    @property
    def tag(self) -> str:
        """The resource, named by the module the view lives in (``posts``, ``users``...)."""
        return self.view.__module__.rsplit(".", 1)[-1]

    # Schema instances are built once per operation, not per request: building
    # one binds every field, and loading or dumping keeps no state in it.
    @cached_property
    def query_loader(self) -> Schema | None:
        return self.query() if self.query is not None else None

    @cached_property
    def body_loader(self) -> Schema | None:
        return self.body() if self.body is not None else None

    def prepare_schemas(self) -> None:
        """Build the schema instances now rather than on the first request."""
        _ = (self.query_loader, self.body_loader, [r.dumper for r in self.replies.values()])

    def prepare(self, kwargs: dict[str, Any]) -> None:
        """Authenticate, then load the declared input into the view's keyword arguments."""
        if self.auth is not None:
            authenticate(self.auth)
        if self.query_loader is not None:
            kwargs["query"] = load_args(self.query_loader)
        if self.body_loader is not None:
            load = load_body if self.body_required else load_optional_body
            kwargs["body"] = load(self.body_loader)

    def render(self, result: Any) -> Any:
        """The view's result with its body dumped through the reply schema of its status.

        A view returns the object, or ``(object, status)``, ``(object, headers)`` or
        ``(object, status, headers)``; the status defaults to the lowest declared one.
        """
        if isinstance(result, Response):
            return result
        status, headers = min(self.replies), {}
        body = result
        if isinstance(result, tuple):
            body, *rest = result
            for part in rest:
                if isinstance(part, int):
                    status = part
                else:
                    headers = part
        reply = self.replies.get(status)
        if reply is None:
            raise LookupError(f"{self.view.__name__} answered {status}, which it does not declare")
        if reply.dumper is None:
            return "", status, headers
        return reply.dumper.dump(body), status, headers


def operation(
    *,
    replies: Mapping[int, Reply | type[Schema] | None],
    query: type[Schema] | None = None,
    body: type[Schema] | None = None,
    body_required: bool = True,
    auth: Auth | None = None,
    rate_limit: Callable[[View], View] | None = None,
    errors: tuple[int, ...] = (),
) -> Callable[[View], View]:
    """Describe an API view and run it as described (see the module docstring).

    The view receives the loaded ``query`` and ``body`` as keyword arguments.
    Its docstring's first line is the operation's summary.
    """
    codes = set(errors)
    if query is not None:
        codes.add(400)
    if body is not None:
        codes |= {400, 413, 415}
    if auth is not None:
        codes.add(401)
    if rate_limit is not None:
        codes.add(429)
    normalised = {
        status: reply if isinstance(reply, Reply) else Reply(reply)
        for status, reply in replies.items()
    }

    def decorate(view: View) -> View:
        described = Operation(view, normalised, query, body, auth, frozenset(codes), body_required)

        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            described.prepare(kwargs)
            return described.render(view(*args, **kwargs))

        setattr(run, ATTRIBUTE, described)
        return rate_limit(run) if rate_limit is not None else run

    return decorate


def operation_of(view: View) -> Operation | None:
    """The Operation a view was declared with, if any."""
    return getattr(view, ATTRIBUTE, None)
