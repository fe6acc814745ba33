"""The one factory that picks backends from settings: embedder, vector store, chat model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings, offline_env
from .errors import BackendUnavailable, InputError

if TYPE_CHECKING:  # heavy imports stay lazy
    from langchain_core.language_models import BaseChatModel

    from .index.embed import CachedEmbedder
    from .index.vectorstore import ChromaStore


def make_chat_model(settings: Settings, *, streaming: bool = False) -> "BaseChatModel":
    """The chat model of TARIFF_LLM_MODEL: a plain model name runs on ChatOpenAI against any OpenAI-compatible
    endpoint (OpenAI, vLLM, Ollama, llama.cpp at TARIFF_LLM_BASE_URL); `provider:model` (e.g. `anthropic:...`,
    `ollama:llama3.1`) goes through langchain's init_chat_model, which names the package a provider needs."""
    if not settings.llm_model:
        raise InputError("the LLM engine needs TARIFF_LLM_MODEL (or OPENAI_MODEL)")
    provider, _, name = settings.llm_model.partition(":")
    if name and provider != "openai" and provider in _langchain_providers():
        from langchain.chat_models import init_chat_model

        extra = {"base_url": settings.llm_base_url} if settings.llm_base_url else {}
        try:
            return init_chat_model(name, model_provider=provider, temperature=settings.llm_temperature, **extra)
        except ImportError as exc:
            extra = f" (pip install 'tariff-assistant[{provider}]')" if provider in _EXTRAS else ""
            raise BackendUnavailable(f"TARIFF_LLM_MODEL={settings.llm_model} needs {exc}{extra}") from exc
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=name if name and provider == "openai" else settings.llm_model,
        base_url=settings.llm_base_url,
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
        api_key=settings.llm_api_key or "not-needed",
        timeout=settings.llm_timeout,
        max_retries=0,  # a failed call falls back to the offline engine instead of waiting
        temperature=settings.llm_temperature,
        **({"streaming": True} if streaming else {}),  # streaming=False would stop .stream() from streaming
        stream_usage=True,
    )


_EXTRAS = ("ollama", "anthropic")  # providers with an optional extra in pyproject


def _langchain_providers() -> frozenset[str]:
    """The providers init_chat_model knows (a model name such as `qwen2.5:7b` is not `provider:model`)."""
    try:
        from langchain.chat_models.base import _BUILTIN_PROVIDERS  # no public list exists
    except ImportError:  # pragma: no cover - a langchain without it: plain model names only
        return frozenset()
    return frozenset(_BUILTIN_PROVIDERS)


def embed_cache_dir(settings: Settings) -> Path:
    """Where embeddings and the exported ONNX model are cached: TARIFF_EMBED_CACHE_DIR (shared by test sessions) or
    the home's cache folder."""
    return settings.embed_cache_dir.expanduser() if settings.embed_cache_dir else settings.cache_dir / "embeddings"


def make_embedder(settings: Settings) -> "CachedEmbedder":
    """The embedding model from settings (never from a hub), behind the on-disk embedding cache."""
    from .index.embed import CachedEmbedder, SentenceTransformerEmbedder
    from .index.onnx import OnnxEmbedder

    offline_env()
    model = settings.resolved_embedding_model()
    if not Path(model).is_dir():
        raise BackendUnavailable(f"embedding model not found at {model} (TARIFF_EMBEDDING_MODEL)")
    runtime = (settings.embedding_runtime or "onnx-int8").lower()
    cache = embed_cache_dir(settings)
    if runtime in ("onnx-int8", "onnx"):
        inner = OnnxEmbedder.for_model(model, cache_dir=cache, quantize=runtime == "onnx-int8")
    elif runtime == "torch":
        inner = SentenceTransformerEmbedder(model)
    else:
        raise InputError(f"unknown TARIFF_EMBEDDING_RUNTIME {runtime!r}; use onnx-int8, onnx or torch")
    return CachedEmbedder(inner, cache / "vectors.sqlite")


def store_namespace(settings: Settings) -> str:
    """Collection prefix: the configured name, the embedding model, its runtime (precision) and the passage recipe,
    so vectors of two embedders never mix in one index (one corpus snapshot, one set of vectors)."""
    from .index.embed import EMBED_RECIPE, model_label

    runtime = (settings.embedding_runtime or "onnx-int8").lower()
    return f"{settings.collection}-{model_label(settings.resolved_embedding_model())}-{runtime}-{EMBED_RECIPE}"


def make_store(settings: Settings) -> "ChromaStore":
    """Chroma: a server when TARIFF_CHROMA_URL is set, else embedded under TARIFF_HOME/chroma."""
    from .index.vectorstore import ChromaStore

    return ChromaStore(namespace=store_namespace(settings), path=settings.chroma_path, url=settings.chroma_url)
