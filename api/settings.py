"""The one settings object of the service, read from ``MARKETPLACE_*`` variables.

Everything the API, the CLI and the tests can tune lives here and is passed
down explicitly, so a test builds its own ``Settings`` instead of patching
globals. Other parts of ``api`` (input limits) append their fields here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.facets import FacetConfig
from api.price_context import PriceContextConfig
from indexing.change_log import ChangeLogConfig
from multimodal.device import Device
from multimodal.precision import Precision
from multimodal.runtime.engine import Engine
from multimodal.workspace import DEFAULT_HOME, REAL_DATA_DIR, Workspace

# English words that carry no keyword evidence (see ``api.search_pipeline.keywords``).
ENGLISH_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "i"}
    | {"in", "is", "it", "its", "my", "of", "on", "or", "so", "that", "the", "this", "to"}
    | {"was", "with"}
)


@dataclass(frozen=True)
class RankingConfig:
    """Ranking constants that are not worth an environment variable each."""

    # Words left out of the BM25 leg of a query.
    stopwords: frozenset[str] = ENGLISH_STOPWORDS
    # How many top hits say whether a query has one clear intent.
    ambiguity_hits: int = 20
    # A category holding at least this share of a user's history is "an interest".
    interest_share: float = 0.2


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MARKETPLACE_", frozen=True)

    # Where things live. The workspace derives model, index, store and photo
    # folders from the data dir; the explicit paths override it (tests, demos).
    data: Path = REAL_DATA_DIR
    home: Path = DEFAULT_HOME
    model_dir: Path | None = None
    index_dir: Path | None = None
    store_path: Path | None = None
    image_dir: Path | None = None
    # ``postgresql://user:password@host:port/db``: the catalogue and the user
    # events live there, shared by every serving process (``docs/postgresql.md``);
    # None: the SQLite file at ``store_path`` or in the workspace.
    database_url: SecretStr | None = None

    # None means catalogue writes are disabled, never open to everyone.
    admin_key: SecretStr | None = None

    # Query shape (k is 1..100, default 20, by the API contract in ``api.schemas``).
    max_offset: int = Field(10_000, ge=0)
    max_text_chars: int = Field(1000, ge=1)

    # Ranking. Candidates are fused from this many dense and lexical hits
    # (more when a page reaches deeper), so paging never reshuffles a page.
    candidate_pool: int = Field(200, ge=10)
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    # Share of ``dense_weight`` a text query gives to text-only listing vectors
    # (the rest to fused ones); tuned on validation queries.
    text_dense_share: float = Field(0.5, ge=0, le=1)
    lexical_weight: float = Field(1.0, ge=0)
    query_cache_size: int = Field(1024, ge=0)
    # RRF weight of the photo-level instance channel of photo queries, when
    # the service has one (``indexing.instance_index``).
    # Tuned on validation photo pairs: with the channel, a photo query's lists
    # are fused with a sharper RRF constant, so each list's top hits count most.
    instance_weight: float = Field(5.0, ge=0)
    photo_rrf_k: int = Field(20, ge=1)
    # Serve that channel when the index version has one (``marketplace reindex``
    # builds it from the workspace's split and training feature cache).
    instance_channel: bool = True
    ranking: RankingConfig = RankingConfig()
    # What a result says beyond its rank: facet price bands and how many values
    # each facet lists (``api.facets``); how many similar listings a price is
    # compared with, and how few are too few to say (``api.price_context``).
    facets: FacetConfig = FacetConfig()
    price_context: PriceContextConfig = PriceContextConfig()

    # A query naming a category (``api.category_match``): the RRF weight of the
    # search restricted to the named categories' roots, and the score bonus
    # (times coverage ** power) for listings in or near the named category.
    # Tuned on validation queries (``marketplace evaluate retrieval --split val``).
    category_weight: float = Field(1.0, ge=0)
    category_bonus: float = Field(0.5, ge=0)
    # A category named by the whole query becomes a filter only when it holds a page's
    # worth of listings (the default k); a smaller one is boosted, as a filter would leave
    # a short page and hide the like items filed elsewhere.
    category_filter_min_listings: int = Field(20, ge=0)
    category_coverage_power: float = Field(3.0, ge=0)
    # A typed query: the score bonus (times coverage ** power) for listings whose
    # title holds the query's words, so a title naming the item outranks a
    # description mentioning it. Tuned on validation queries.
    title_coverage_bonus: float = Field(0.2, ge=0)
    title_coverage_power: float = Field(2.0, ge=0)

    # Personalisation (see ``api.personalisation``); tuned on validation users
    # and validation ambiguous words, with the clear-query drop kept under 0.02.
    personal_weight_max: float = Field(2.0, ge=0)
    ambiguity_threshold: float = Field(0.5, ge=0, lt=1)
    personal_category_share: float = Field(0.8, ge=0, le=1)
    event_half_life_days: float = Field(14.0, gt=0)
    profile_max_events: int = Field(200, ge=1)

    # Serving. The server checks this often for a newer index version (written
    # by ``marketplace reindex``) and swaps it in; 0: only at start-up.
    index_poll_seconds: float = Field(5.0, ge=0)
    # How often the server applies what other replicas wrote (``api.replica_sync``;
    # with PostgreSQL also at once on a NOTIFY); 0: never. The log's upkeep beside it.
    change_poll_seconds: float = Field(0.5, ge=0)
    change_log: ChangeLogConfig = ChangeLogConfig()
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # One thread: a short query gains little from two, and an OpenMP team spins
    # badly when the cores are shared; concurrency comes from batching instead.
    torch_threads: int = Field(1, ge=1)
    # Encoder number format (``multimodal.precision``): bf16 where the CPU has it.
    precision: Precision = "auto"
    # Where the encoders run (``multimodal.device``): auto is CUDA when torch sees a GPU.
    device: Device = "auto"
    # What runs the encoders (``multimodal.runtime``): auto = the ONNX runtime, falling
    # back to torch when the export fails; torch = eager torch.
    engine: Engine = "auto"
    max_text_batch: int = Field(32, ge=1)
    # One query scans a few thousand vectors: an OpenMP team costs more than it saves.
    faiss_threads: int = Field(1, ge=1)
    # Request ids, request metrics and the JSON access log (``api.observability``);
    # off only to measure what they cost (``marketplace bench observability``).
    observability: bool = True

    # Input caps (enforced by ``api.limits`` and ``api.image_input``): a request
    # over one is refused with a 4xx before any expensive work starts.
    max_body_bytes: int = Field(12 * 2**20, ge=1024)  # a base64 photo at the image cap fits
    max_image_bytes: int = Field(8 * 2**20, ge=1024)
    max_image_pixels: int = Field(40_000_000, ge=1)
    min_image_side: int = Field(32, ge=1)

    # Per-user event tokens are HMAC(user_token_secret, user_id) (``api.security``);
    # None means event writes and reads are disabled, never open to everyone.
    user_token_secret: SecretStr | None = None
    # Demo personas the search page may browse as: ``GET /page/users`` hands
    # out their tokens to any visitor, so never list a real user here.
    demo_users: tuple[str, ...] = ()

    @property
    def workspace(self) -> Workspace:
        return Workspace.for_data(self.data, home=self.home)

    @property
    def resolved_model_dir(self) -> Path:
        return self.model_dir or self.workspace.model_dir

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir or self.workspace.index_dir

    @property
    def resolved_store_path(self) -> Path:
        return self.store_path or self.workspace.store_path

    @property
    def store_location(self) -> Path | str:
        """What ``indexing.store.Store`` opens: the database URL, else the SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.resolved_store_path

    @property
    def resolved_image_dir(self) -> Path:
        return self.image_dir or self.workspace.clean_dir / "images"
