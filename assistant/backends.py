"""The one factory that picks backends from settings: embedder, vector store, chat model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import Settings
from .errors import InputError

if TYPE_CHECKING:  # heavy imports stay lazy
    from langchain_openai import ChatOpenAI


def make_chat_model(settings: Settings, *, streaming: bool = False) -> "ChatOpenAI":
    """ChatOpenAI against any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp)."""
    if not settings.llm_model:
        raise InputError("the LLM engine needs TARIFF_LLM_MODEL (or OPENAI_MODEL)")
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one.
        api_key=settings.llm_api_key or "not-needed",
        timeout=settings.llm_timeout,
        max_retries=0,  # a failed call falls back to the offline engine instead of waiting
        temperature=settings.llm_temperature,
        streaming=streaming,
        stream_usage=True,
    )


# make_embedder(settings) and make_store(settings) are added below by the index work.
