"""What shoppers type, drawn from the catalogue with a seed, with what it should mean.

Two kinds of query, both pure functions of the listings and a seed (no model,
no index), generated at run time and never written down: they are built from
the listings' own titles, which are third-party content.

- ``typo_pairs``: a listing's title and the same title with realistic typing
  mistakes (``evaluation.typos``), so search quality can be compared on the
  clean and the misspelt form of the same question.
- ``intents``: "<thing> under £<n>", "free <thing>", "<thing> near <place>"
  and the like, each with the ``ExpectedParse`` a query parser should return:
  the price and place filters the words state, the words left to search, and
  the root category the words point at. Things are words and word pairs that
  listings' titles use in mostly one root; category words come from the
  category names; places from the listings' locations; prices from the
  matching listings' own price distribution, in the catalogue's currency.

The hand-written queries (``evaluation/handwritten_queries.toml``) use the
same ``ExpectedParse``.
"""

from __future__ import annotations

import random
import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluation.typos import misspell
from multimodal.data.catalogue import Listing

HANDWRITTEN_FILE = Path(__file__).with_name("handwritten_queries.toml")
# Words a price or place phrase is made of: a "thing" never contains one.
_PARSER_WORDS = frozenset((
    "free", "under", "below", "less", "than", "over", "near", "in", "to", "and", "between",
    "quid", "pounds", "pound", "tenner", "fiver", "euro", "euros", "dollars", "bucks",
))  # fmt: skip
_STOPWORDS = frozenset((
    "a", "an", "the", "for", "with", "of", "on", "at", "by", "from", "or", "as", "is", "it",
    "its", "this", "that", "new", "used", "brand", "good", "great", "excellent",
    "condition", "very", "like", "fully", "working", "only", "sale", "set", "size", "item",
    "items", "your", "here", "available", "included", "approx", "full", "years", "old",
    "age", "delivery", "collection", "offers", "please",
))  # fmt: skip
# Category-name words no shopper types alone ("other", "home" of "Home & Garden").
_GENERIC_NAMES = frozenset((
    "other", "others", "accessories", "parts", "spares", "misc", "goods", "home", "stuff",
    "equipment", "general",
))  # fmt: skip
_NICE_PRICES = (
    1, 2, 3, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80, 100, 120, 150, 200, 250, 300, 350,
    400, 500, 600, 750, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000,
)  # fmt: skip


@dataclass(frozen=True)
class ExpectedParse:
    """What a query should be understood as: the filters its words state and the
    words left to search. ``root``: the root category the words point at; a
    parser that turns them into a category filter must pick a category there
    (and may then drop those words from the text)."""

    text: str
    price_min: float | None = None
    price_max: float | None = None
    location: str | None = None
    root: str | None = None

    @property
    def states_price(self) -> bool:
        return self.price_min is not None or self.price_max is not None

    @property
    def states_place(self) -> bool:
        return self.location is not None


@dataclass(frozen=True)
class Intent:
    """A query with its meaning; ``form`` names its phrasing ("under £n", "near place")."""

    query: str
    expected: ExpectedParse
    form: str


@dataclass(frozen=True)
class TypoPair:
    """A listing's title, clean and misspelt; ``root`` is the listing's root category."""

    clean: str
    typo: str
    root: str


@dataclass(frozen=True)
class Currency:
    """How shoppers write amounts of the catalogue's currency."""

    code: str
    symbol: str | None  # "£"; None: the amount is followed by ``word``
    word: str  # "pounds"
    slang: str  # "quid"; the plain word where the currency has none

    @classmethod
    def of(cls, code: str) -> Currency:
        known = {
            "GBP": ("£", "pounds", "quid"),
            "EUR": ("€", "euros", "euros"),
            "USD": ("$", "dollars", "bucks"),
        }
        symbol, word, slang = known.get(code, (None, code, code))
        return cls(code, symbol, word, slang)

    def amount(self, value: float) -> str:
        """ "£50", or "50 CHF" for a currency without a symbol."""
        number = _number(value)
        return f"{self.symbol}{number}" if self.symbol else f"{number} {self.word}"


@dataclass(frozen=True)
class _Phrase:
    """A thing or category words, the root it points at, and its listings' prices."""

    words: str
    root: str
    prices: tuple[float, ...]


@dataclass(frozen=True)
class ShopperVocabulary:
    """The catalogue's things, category words, places and currency."""

    things: tuple[_Phrase, ...]
    category_words: tuple[_Phrase, ...]
    places: tuple[str, ...]
    prices: tuple[float, ...]  # every listing price, for phrases with too few of their own
    currency: Currency


# -- the catalogue's vocabulary ------------------------------------------------


def catalogue_currency(listings: Sequence[Listing]) -> str:
    """The currency most listings are priced in."""
    counts = Counter(listing.currency for listing in listings)
    return counts.most_common(1)[0][0] if counts else "GBP"


def vocabulary(listings: Sequence[Listing], min_listings: int = 5) -> ShopperVocabulary:
    """Things, category words and places used by at least ``min_listings`` listings.

    A place is a part of a location ("Leeds" of "Leeds, West Yorkshire") that
    titles seldom use as a word (a fifth as often as locations do): "Bath" is
    a thing too, and a query naming it is no test of the place filter. A thing
    is a title word or word pair (``_things``).
    """
    listings = [listing for listing in listings if listing.categorised]
    used = Counter(word for listing in listings for word in set(_words(listing.title)))
    place_count = Counter(
        part.strip() for listing in listings for part in listing.location.split(",")
    )
    places = sorted(
        place
        for place, n in place_count.items()
        if n >= min_listings
        and re.fullmatch(r"[A-Za-z][A-Za-z ]*", place)
        and len(place.split()) <= 3
        and all(5 * used[word] < n for word in _words(place))
    )
    place_words = {word for place in places for word in _words(place)}
    return ShopperVocabulary(
        things=_things(listings, place_words, min_listings),
        category_words=_category_words(listings, min_listings),
        places=tuple(places),
        prices=tuple(listing.price for listing in listings if listing.price),
        currency=Currency.of(catalogue_currency(listings)),
    )


def _things(
    listings: Sequence[Listing], excluded: set[str], min_listings: int
) -> tuple[_Phrase, ...]:
    """Title words and word pairs that name a thing: used in mostly one root, and
    mostly at the end of a noun phrase (last in the title, or before a small
    word): "sofa" of "3 seater sofa for sale", not "shaped" of "L shaped desk";
    sold in at least ``min_listings`` places, so one shop's boilerplate
    ("warranty included") is no thing."""
    owners: dict[str, list[Listing]] = defaultdict(list)
    heads: Counter[str] = Counter()
    for listing in listings:
        tokens = re.findall(r"[a-z0-9]+", listing.title.lower())
        ends: dict[str, bool] = {}
        for size in (1, 2):
            for i in range(len(tokens) - size + 1):
                gram = tokens[i : i + size]
                if not all(w.isalpha() and _is_content(w) and w not in excluded for w in gram):
                    continue
                after = tokens[i + size] if i + size < len(tokens) else ""
                ends_phrase = not after or (after.isalpha() and not _is_content(after))
                key = " ".join(gram)
                ends[key] = ends.get(key, False) or ends_phrase
        for key, ends_phrase in ends.items():
            owners[key].append(listing)
            heads[key] += ends_phrase
    phrases = (
        _phrase(gram, found)
        for gram, found in sorted(owners.items())
        if len({x.location for x in found}) >= min_listings and 2 * heads[gram] >= len(found)
    )
    return tuple(p for p in phrases if p is not None and len(p.prices) >= min_listings)


def _phrase(words: str, listings: Sequence[Listing], majority: float = 0.6) -> _Phrase | None:
    """The phrase with its main root, or None when no root holds ``majority`` of it."""
    root, n = Counter(listing.root for listing in listings).most_common(1)[0]
    if n < majority * len(listings):
        return None
    return _Phrase(words, root, tuple(x.price for x in listings if x.root == root and x.price))


def _category_words(listings: Sequence[Listing], min_listings: int) -> tuple[_Phrase, ...]:
    """Short, plain parts of category names ("sofas" of "Sofas, Armchairs & Suites"),
    each found under one root only, in at least ``min_listings`` priced listings."""
    owners: dict[str, set[str]] = defaultdict(set)
    prices: dict[str, list[float]] = defaultdict(list)
    for listing in listings:
        for name in listing.category_path:
            for part in re.split(r",|&| / | and ", name):
                words = part.strip().lower()
                if re.fullmatch(r"[a-z' ]+", words) and 1 <= len(words.split()) <= 3:
                    owners[words].add(listing.root)
                    if listing.price:
                        prices[words].append(listing.price)
    return tuple(
        _Phrase(words, next(iter(roots)), tuple(prices[words]))
        for words, roots in sorted(owners.items())
        if len(roots) == 1
        and len(prices[words]) >= min_listings
        and not (_GENERIC_NAMES | _PARSER_WORDS | {"sale"}) & set(words.split())
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _is_content(word: str) -> bool:
    return len(word) >= 3 and word not in _STOPWORDS and word not in _PARSER_WORDS


# -- queries -------------------------------------------------------------------


def typo_pairs(listings: Sequence[Listing], count: int, seed: int) -> list[TypoPair]:
    """``count`` categorised listings' titles, each with its misspelt form."""
    rng = random.Random(f"typos:{seed}")
    candidates = sorted(
        (listing for listing in listings if listing.categorised and listing.title.strip()),
        key=lambda listing: listing.id,
    )
    rng.shuffle(candidates)
    pairs = []
    for listing in candidates:
        typo = misspell(listing.title, rng)
        if typo is not None:
            pairs.append(TypoPair(listing.title, typo, listing.root))
        if len(pairs) == count:
            break
    return pairs


def intents(vocab: ShopperVocabulary, count: int, seed: int) -> list[Intent]:
    """``count`` queries stating a price, a place, or both, cycling through the forms
    so that each is asked about equally often."""
    if not vocab.things or not vocab.category_words:
        raise ValueError("the catalogue names too few things to ask about")
    rng = random.Random(f"intents:{seed}")
    forms = [(name, build) for name, build in _FORMS.items() if vocab.places or "place" not in name]
    out = []
    for i in range(count):
        name, build = forms[i % len(forms)]
        pool = vocab.category_words if name.startswith("category") else vocab.things
        phrase = rng.choice(pool)
        query, expected = build(_Draw(rng, vocab, phrase))
        out.append(Intent(query, expected, name))
    return out


@dataclass(frozen=True)
class _Draw:
    """What one intent is made of: the phrase, and seeded draws of prices and places."""

    rng: random.Random
    vocab: ShopperVocabulary
    phrase: _Phrase

    @property
    def words(self) -> str:
        return self.phrase.words

    @property
    def money(self) -> Currency:
        return self.vocab.currency

    def limit(self) -> float:
        """An upper bound near the middle or top of the phrase's prices."""
        return _nice(_quantile(self._prices(), self.rng.choice((0.5, 0.75))))

    def band(self) -> tuple[float, float]:
        prices = self._prices()
        low, high = _nice(_quantile(prices, 0.25)), _nice(_quantile(prices, 0.75))
        if high <= low:
            high = float(next((p for p in _NICE_PRICES if p > low), low * 2))
        return low, high

    def place(self) -> tuple[str, str]:
        """A place as the catalogue spells it, and as this shopper types it."""
        place = self.rng.choice(self.vocab.places)
        return place, place if self.rng.random() < 0.5 else place.lower()

    def expect(self, **filters) -> ExpectedParse:
        return ExpectedParse(self.words, root=self.phrase.root, **filters)

    def _prices(self) -> Sequence[float]:
        return self.phrase.prices if len(self.phrase.prices) >= 3 else self.vocab.prices


def _under(d: _Draw) -> tuple[str, ExpectedParse]:
    n = d.limit()
    said = d.rng.choice((d.money.amount(n), f"{_number(n)} {d.money.word}"))
    return f"{d.words} under {said}", d.expect(price_max=n)


def _less_than(d: _Draw) -> tuple[str, ExpectedParse]:
    n = d.limit()
    return f"{d.words} less than {d.rng.choice((_number(n), d.money.amount(n)))}", d.expect(
        price_max=n
    )


def _below(d: _Draw) -> tuple[str, ExpectedParse]:
    n = d.limit()
    return f"{d.words} below {_number(n)} {d.money.word}", d.expect(price_max=n)


def _range(d: _Draw) -> tuple[str, ExpectedParse]:
    a, b = d.band()
    dash = d.rng.choice(("-", " - "))
    return f"{d.words} {d.money.amount(a)}{dash}{d.money.amount(b)}", d.expect(
        price_min=a, price_max=b
    )


def _to_slang(d: _Draw) -> tuple[str, ExpectedParse]:
    a, b = d.band()
    return f"{d.words} {_number(a)} to {_number(b)} {d.money.slang}", d.expect(
        price_min=a, price_max=b
    )


def _free(d: _Draw) -> tuple[str, ExpectedParse]:
    return f"free {d.words}", d.expect(price_max=0)


def _in_place(d: _Draw) -> tuple[str, ExpectedParse]:
    place, typed = d.place()
    return f"{d.words} in {typed}", d.expect(location=place)


def _near_place(d: _Draw) -> tuple[str, ExpectedParse]:
    place, typed = d.place()
    return f"{d.words} near {typed}", d.expect(location=place)


def _under_in_place(d: _Draw) -> tuple[str, ExpectedParse]:
    n, (place, typed) = d.limit(), d.place()
    return f"{d.words} under {d.money.amount(n)} in {typed}", d.expect(price_max=n, location=place)


def _free_near_place(d: _Draw) -> tuple[str, ExpectedParse]:
    place, typed = d.place()
    return f"free {d.words} near {typed}", d.expect(price_max=0, location=place)


def _range_near_place(d: _Draw) -> tuple[str, ExpectedParse]:
    (a, b), (place, typed) = d.band(), d.place()
    return f"{d.words} {d.money.amount(a)}-{d.money.amount(b)} near {typed}", d.expect(
        price_min=a, price_max=b, location=place
    )


def _category_under(d: _Draw) -> tuple[str, ExpectedParse]:
    n = d.limit()
    return f"{d.words} under {d.money.amount(n)}", d.expect(price_max=n)


def _category_in_place(d: _Draw) -> tuple[str, ExpectedParse]:
    place, typed = d.place()
    return f"{d.words} in {typed}", d.expect(location=place)


_FORMS: dict[str, Callable[[_Draw], tuple[str, ExpectedParse]]] = {
    "under £n": _under,
    "less than n": _less_than,
    "below n pounds": _below,
    "£a-£b": _range,
    "a to b quid": _to_slang,
    "free": _free,
    "in place": _in_place,
    "near place": _near_place,
    "under £n in place": _under_in_place,
    "free near place": _free_near_place,
    "£a-£b near place": _range_near_place,
    "category under £n": _category_under,
    "category in place": _category_in_place,
}


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _nice(value: float) -> float:
    """The round price nearest ``value``: shoppers say "under £50", not "under £47"."""
    return float(min(_NICE_PRICES, key=lambda p: (abs(p - value), p)))


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


# -- hand-written queries ------------------------------------------------------


def load_handwritten(path: Path = HANDWRITTEN_FILE) -> tuple[str, list[Intent]]:
    """The hand-written queries and the currency their amounts are in.

    Each ``[[query]]`` has ``text`` (what is typed), ``searched`` (the words
    left to search) and, when the words state them, ``price_min``,
    ``price_max``, ``location`` and ``root``; ``form`` groups it in the report.
    """
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    keys = {"text", "searched", "price_min", "price_max", "location", "root", "form", "note"}
    out = []
    for n, entry in enumerate(data["query"], start=1):
        unknown = set(entry) - keys
        if unknown or "text" not in entry or "searched" not in entry:
            raise ValueError(f"{path.name}: query {n} needs text and searched; unknown {unknown}")
        expected = ExpectedParse(
            entry["searched"],
            _float(entry.get("price_min")),
            _float(entry.get("price_max")),
            entry.get("location"),
            entry.get("root"),
        )
        out.append(Intent(entry["text"], expected, entry.get("form", "hand-written")))
    return data["currency"], out


def askable(intent: Intent, listings: Sequence[Listing], currency: str, own: str) -> bool:
    """Whether a hand-written query can be asked of this catalogue: its place is
    one of the catalogue's locations, and its amounts are in the catalogue's
    currency (``own``; hand-written amounts are in ``currency``)."""
    expected = intent.expected
    if expected.location is not None:
        place = expected.location.casefold()
        if not any(place in listing.location.casefold() for listing in listings):
            return False
    return currency == own or not (expected.price_min or expected.price_max)


def _float(value: object) -> float | None:
    return None if value is None else float(value)
