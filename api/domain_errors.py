"""What the service refuses, in its own words; ``api.errors`` maps each to an HTTP status.

The service is used by the API, the CLI and the tests alike, so it says *what*
is wrong (no such listing, a query it cannot run) and leaves *how to answer*
to the caller: the HTTP layer picks a status code, the CLI prints one line.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service refuses; ``message`` says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    """The request cannot be run as given (no query, an offset too deep, a bad category)."""


class BadImageId(ServiceError):
    """A photo id that could name a file outside the photo folder."""


class NotFound(ServiceError):
    """No live listing (or photo) has that id."""


class AlreadyExists(ServiceError):
    """A listing with that id exists already."""


class Forbidden(ServiceError):
    """The caller may not change this listing (it belongs to another seller)."""


class Unavailable(ServiceError):
    """The request needs the catalogue database, which cannot be reached now (a write so
    refused is not acknowledged); ``retry_after_s``: when trying again may succeed."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
