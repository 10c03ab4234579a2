"""Local stack (stand-in): a request as handlers see it, and the route table that finds them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interlock_dev.standin.errors import ApiError


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    query: dict[str, str]
    body: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)
    # Every value of a repeated query parameter (`query` keeps the last), e.g. groupByFields.
    query_all: dict[str, list[str]] = field(default_factory=dict)
    # The discovery document's method id (e.g. "run.projects.locations.services.patch").
    api_method: str = ""

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def wants_int_enums(self) -> bool:
        return "enum-encoding=int" in self.query.get("$alt", "")


Handler = Callable[[Request], tuple[int, dict[str, Any]]]

# One path segment, as the REST transcoding's `*` matches it.
SEG = r"[^/:]+"


class Router:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler, str]] = []

    def add(self, method: str, pattern: str, handler: Handler, api_method: str = "") -> None:
        """`pattern` is a regex over the path with named groups; it must match the whole path.

        `api_method` names the method in Google's discovery document, for the schema check."""
        self._routes.append((method, re.compile(pattern), handler, api_method))

    def dispatch(
        self, request: Request, before: Callable[[Request], None] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Run the handler of the route matching `request`; `before` sees it first."""
        path_matched = False
        for method, pattern, handler, api_method in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if method == request.method:
                request.params = {k: v for k, v in match.groupdict().items() if v is not None}
                request.api_method = api_method
                if before is not None:
                    before(request)
                return handler(request)
        if path_matched:
            raise ApiError("UNIMPLEMENTED", f"{request.method} is not supported on {request.path}")
        raise ApiError("NOT_FOUND", f"The requested URL {request.path} was not found.")
