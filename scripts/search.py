"""``marketplace search "query"``: one search from the terminal, printed as a table.

It goes through the same ``SearchService`` as the API, so what it prints is
what ``POST /search`` would return.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from multimodal.data.prices import SYMBOLS
from scripts.errors import CliError
from scripts.serve import add_data_argument, load_service, settings_from

_SIGNS = {code: sign for sign, code in SYMBOLS.items()}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="search the catalogue from the terminal")
    parser.add_argument("text", nargs="?", help="query text (optional with --image)")
    parser.add_argument("--image", type=Path, help="a photo to search with")
    parser.add_argument("--user", help="personalise for this user id")
    parser.add_argument("--k", type=int, default=10, help="results to show (1-100, default 10)")
    parser.add_argument("--offset", type=int, default=0, help="results to skip")
    parser.add_argument("--price-min", type=float)
    parser.add_argument("--price-max", type=float)
    parser.add_argument("--category", help="root category or 'Root / Sub' prefix")
    parser.add_argument("--location", help="substring of the location")
    add_data_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from api.domain_errors import ServiceError
    from api.errors import InputError
    from api.image_input import decode_image
    from api.schemas import Filters
    from api.search_pipeline import Query

    if not args.text and args.image is None:
        raise CliError("give a query text, --image PATH, or both")
    settings = settings_from(args)
    try:
        filters = Filters(
            price_min=args.price_min,
            price_max=args.price_max,
            category=args.category,
            location=args.location,
        )
    except ValidationError as exc:
        raise CliError("; ".join(error["msg"] for error in exc.errors())) from None
    if args.image is not None and not args.image.is_file():
        raise CliError(f"no such photo: {args.image}")
    service = load_service(settings)
    try:
        image = None if args.image is None else decode_image(args.image.read_bytes(), settings)
        query = Query(
            text=args.text, image=image, k=args.k, offset=args.offset, filters=filters,
            user_id=args.user,
        )  # fmt: skip
        response = service.search(query)
    except (InputError, ServiceError) as exc:
        raise CliError(exc.message) from None
    finally:
        service.close()
    print(format_table(response))
    print(
        f"{len(response.results)} of {response.total_candidates} candidates "
        f"in {response.took_ms:.1f} ms (model {response.model_version})"
    )
    return 0


def format_table(response) -> str:
    """Rank, score, price, category, location, title and reasons, fitted to the terminal."""
    width = shutil.get_terminal_size((120, 20)).columns
    header = ("#", "score", "price", "category", "location", "title", "why")
    rows = [
        (
            str(rank),
            f"{r.score:.3f}",
            format_price(r.price, r.currency),
            r.category.split(" / ")[0],
            r.location,
            r.title,
            ", ".join(r.reasons),
        )
        for rank, r in enumerate(response.results, start=1)
    ]
    caps = (3, 6, 10, 22, 22, max(30, width - 109), 40)
    lines = []
    for row in (header, *rows):
        cells = [_fit(cell, cap) for cell, cap in zip(row, caps, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) if rows else "no results"


def format_price(price: float | None, currency: str) -> str:
    """``£1,234`` or ``€25`` for a currency with a sign, ``1,234 CHF`` otherwise."""
    if price is None:
        return "-"
    sign = _SIGNS.get(currency)
    return f"{sign}{price:,.0f}" if sign else f"{price:,.0f} {currency}"


def _fit(text: str, width: int) -> str:
    return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)
