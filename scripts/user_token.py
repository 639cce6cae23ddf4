"""``marketplace user-token USER_ID``: issue the token a user's client sends with its events.

Tokens are derived from ``MARKETPLACE_USER_TOKEN_SECRET`` (see ``api.security``),
so issuing one needs no server round trip and no token table; the operator (or
the sign-in service) runs this and hands the token to the user's client.
"""

from __future__ import annotations

import argparse

from scripts.errors import CliError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "user-token", help="print the X-User-Token for a user (needs MARKETPLACE_USER_TOKEN_SECRET)"
    )
    parser.add_argument("user_id", help="the user the token speaks for")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from api.security import user_token
    from api.settings import Settings

    if not 1 <= len(args.user_id) <= 128:
        raise CliError("user id must be 1 to 128 characters")
    settings = Settings()
    try:
        print(user_token(settings.user_token_secret, args.user_id))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return 0
