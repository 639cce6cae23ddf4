"""The catalogue database out of reach, as the service says it: ``Unavailable``.

Searches never need the database (the rows, vectors and cached profiles are
in memory), but a write does, and so do the few reads that are not cached:
a user's events for a profile not built yet, a photo uploaded through
another machine. The store raises ``indexing.store_database.StoreUnavailable``
for those while its server is away; the service's methods that reach the
store are wrapped with ``needs_store`` so the caller gets the domain error
(HTTP: 503 with ``Retry-After``) instead of a traceback.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from api.domain_errors import Unavailable
from indexing.store_database import StoreUnavailable

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def store_required() -> Iterator[None]:
    """Inside: ``StoreUnavailable`` becomes ``Unavailable``, saying when to retry."""
    try:
        yield
    except StoreUnavailable as exc:
        retry_after_s = max(1, math.ceil(exc.retry_after_s))
        raise Unavailable(f"{exc}; try again in {retry_after_s} s", retry_after_s) from None


def needs_store(method: Callable[P, R]) -> Callable[P, R]:
    """``method`` with ``store_required`` around it."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with store_required():
            return method(*args, **kwargs)

    return wrapper
