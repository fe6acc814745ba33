"""The LLM engine: the offline engine's evidence, ranked and explained by a chat model, validated against the corpus."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .. import prompts
from ..codes import format_code
from ..errors import InputError, UnusableOutput
from ..models import Classification, Suggestion
from .evidence import Evidence
from .llm_cache import AnswerCache, answer_key
from .llm_output import RESPONSE_FORMAT, RationaleTap, Usage, clarification, confidence, parse_answer, resolve_code
from .llm_prompt import PROMPT_CANDIDATES, Prompt, clip, message, messages_of
from .llm_walk import Walk
from .offline import check_description
from .query import with_listing

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from ..config import Settings

log = logging.getLogger(__name__)



STRATEGIES = ("walk", "oneshot")


class LLMEngine:
    """Classifies with a chat model from the offline engine's evidence (TARIFF_LLM_STRATEGY: walk the tree from the
    best headings, or pick one of the best lines at once); falls back to the offline engine when it fails."""

    name = "llm"

    def __init__(self, runtime: Any, *, settings: Settings | None = None, chat_model: Any = None,
                 offline: Any = None):
        self.runtime = runtime
        self.settings = settings or runtime.settings
        self._chat_model = chat_model
        self._made: dict[bool, Any] = {}
        self._structured = True  # send response_format until the server says it does not support it
        if offline is None:
            from .offline import OfflineEngine

            offline = OfflineEngine(runtime)
        self.offline = offline  # gathers the evidence, and answers alone when the LLM fails
        self._answers = AnswerCache(self.settings.home / "llm-answers.sqlite")

    # ------------------------------------------------------------ public

    def classify(self, description: str, *, context: list[str] | None = None,
                 attributes: Mapping[str, object] | None = None, category: str | Iterable[str] | None = None,
                 top: int = 5) -> Classification:
        """Validated suggestions with citations; a degraded offline answer (saying why) when the LLM fails.

        A listing's decisive attributes and category leaves reach the prompt as follow-up facts."""
        description, context = with_listing(description, context, attributes=attributes, category=category)
        *_, last = self._start(description, context, top, streaming=False)
        return last["classification"]

    def stream(self, description: str, *, context: list[str] | None = None, top: int = 5) -> Iterator[dict]:
        """{"type": "token", "text"} events of the rationales as the model writes them, then {"type": "result"}."""
        return self._start(description, context, top, streaming=True)

    def _start(self, description: str, context: list[str] | None, top: int, *, streaming: bool) -> Iterator[dict]:
        # Bad input raises here, before the first event, like the offline engine.
        started = time.perf_counter()
        description = check_description(description, limit=self.settings.max_description_chars)
        top = max(1, min(int(top), 50))
        context = [c for c in context or [] if c and c.strip()]
        cached, key = self._cached(description, context, top)
        if cached is not None:
            return iter(_replay(cached, started))
        evidence = self.offline.gather(description, context=context)
        return self._run(description, context, top, evidence, started, streaming=streaming, key=key)

    def _cached(self, description: str, context: list[str], top: int) -> tuple[Classification | None, str | None]:
        """The stored answer to the same request, and the key to store a new one under (None: caching is off)."""
        strategy = (self.settings.llm_strategy or "walk").lower()
        if not self.settings.llm_cache or not self._model_name() or strategy not in STRATEGIES:
            return None, None  # (an unknown strategy degrades in _run, saying why)
        key = answer_key(description, context, snapshot=str(self.runtime.catalog.snapshot), model=self._model_name(),
                         strategy=strategy, top=top, base_url=self.settings.llm_base_url or "")
        try:
            return self._answers.get(key, description=description, context=context), key
        except Exception as exc:  # noqa: BLE001 - a damaged or locked cache costs a model call, never an answer
            log.warning("LLM answer cache unreadable (%s): %s", self._answers.path, exc)
            return None, None

    def _strategy(self) -> str:
        strategy = (self.settings.llm_strategy or "walk").lower()
        if strategy not in STRATEGIES:
            raise InputError(f"unknown TARIFF_LLM_STRATEGY {strategy!r}; use {' or '.join(STRATEGIES)}")
        return strategy

    # ------------------------------------------------------------ one request

    def _run(self, description: str, context: list[str], top: int, evidence: Evidence, started: float, *,
             streaming: bool, key: str | None = None) -> Iterator[dict]:
        prompt = Prompt(evidence, self.runtime.catalog, limit=PROMPT_CANDIDATES)  # one catalog snapshot throughout
        usage = Usage(price_in=self.settings.llm_price_in, price_out=self.settings.llm_price_out)
        answer: dict = {}
        try:
            strategy = usage.strategy = self._strategy()
            model = self._model(streaming=streaming)

            def call(messages: list, fmt: dict, stream: bool) -> Generator[dict, None, Any]:
                reply = yield from self._call(model, messages, streaming=stream, response_format=fmt)
                usage.add(reply)
                return reply

            if strategy == "walk":
                walk = Walk(evidence, prompt.catalog, description=description, context=context, top=top,
                            stage_tokens=self.settings.llm_stage_tokens, call=call)
                suggestions = yield from walk.run(streaming=streaming)
                answer = walk.question
            else:
                suggestions, answer = yield from self._oneshot(prompt, description, context, top, call, streaming)
        except Exception as exc:  # noqa: BLE001 - an LLM failure never reaches the caller; the payload says why
            reason = _reason(exc, self.settings)
            log.warning("LLM engine degraded: %s", reason)
            fallback = self._fallback(description, context, top, evidence, reason, usage, started)
            yield {"type": "result", "classification": fallback}
            return
        if not suggestions:
            reason = "LLM returned no valid code"
            result = self._fallback(description, context, top, evidence, reason, usage, started)
            if not result.clarifying_question and answer.get("clarifying_question"):
                result = result.model_copy(update=clarification(answer))
        else:
            result = Classification(
                description=description, context=context, suggestions=suggestions,
                candidates=prompt.candidates_scored(), engine=self.name, model=self._model_name(),
                edition=prompt.nomenclature.edition, corpus_snapshot=str(prompt.catalog.snapshot),
                usage=usage.as_dict(), elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
                **clarification(answer),
            )
            if key is not None:
                try:
                    self._answers.put(key, result)
                except Exception as exc:  # noqa: BLE001 - the answer stands; only its reuse is lost
                    log.warning("LLM answer cache not written (%s): %s", self._answers.path, exc)
        yield {"type": "result", "classification": result}

    def _oneshot(self, prompt: Prompt, description: str, context: list[str], top: int, call: Any,
                 streaming: bool) -> Generator[dict, None, tuple[list[Suggestion], dict]]:
        """Today's prompt: the offline engine's best lines, the model picks and ranks them (one repair round)."""
        messages = prompt.messages(description, context, top)
        reply = yield from call(messages, RESPONSE_FORMAT, streaming)
        answer = parse_answer(reply.text)
        suggestions, errors = self._validate(answer, prompt, top)
        if errors:  # one repair round: the model sees its answer and what was wrong with it
            repair = prompts.render("repair", errors="\n".join(f"- {e}" for e in errors))
            messages = [*messages, message("assistant", reply.text), *messages_of(repair)]
            try:
                repaired = yield from call(messages, RESPONSE_FORMAT, False)
                second = parse_answer(repaired.text)
                fixed, still = self._validate(second, prompt, top)
                if fixed:
                    answer, suggestions, errors = second, fixed, still
            except Exception as exc:  # noqa: BLE001 - keep the first answer's valid part
                log.warning("LLM repair call failed: %s", _reason(exc, self.settings))
            if errors:
                log.info("LLM answer items dropped after repair: %s", "; ".join(errors))
        return suggestions, answer

    def _call(self, model: Any, messages: list[BaseMessage], *, streaming: bool,
              response_format: dict) -> Generator[dict, None, Any]:
        """One chat completion (token events while it streams); returns the reply message."""
        import openai

        kwargs = {"response_format": response_format} if self._structured else {}
        try:
            if not streaming:
                return model.invoke(messages, **kwargs)
            reply, tap = None, RationaleTap()
            for chunk in model.stream(messages, **kwargs):
                reply = chunk if reply is None else reply + chunk
                for text in tap.feed(chunk.text):
                    yield {"type": "token", "text": text}
            if reply is None:
                raise UnusableOutput("LLM stream ended without a message")
            return reply
        except openai.BadRequestError as exc:
            # Some OpenAI-compatible servers reject json_schema; the prompt alone asks for the same JSON.
            if not kwargs or not re.search(r"response_format|json_schema", str(exc)):
                raise
            log.info("the LLM server rejects response_format (%s); asking for JSON in the prompt only", exc)
            self._structured = False
            return (yield from self._call(model, messages, streaming=streaming, response_format=response_format))

    def _model(self, *, streaming: bool) -> Any:
        """The injected chat model, else one from the factory (a streaming one for `stream`)."""
        if self._chat_model is not None:
            return self._chat_model
        if streaming not in self._made:
            from ..backends import make_chat_model

            self._made[streaming] = make_chat_model(self.settings, streaming=streaming)
        return self._made[streaming]

    def _model_name(self) -> str | None:
        return self.settings.llm_model or getattr(self._chat_model, "model_name", None)

    def _fallback(self, description: str, context: list[str], top: int, evidence: Evidence, reason: str,
                  usage: Usage, started: float) -> Classification:
        """The offline engine's answer from the same evidence, marked degraded with the reason."""
        result = self.offline.answer(description, evidence, context=context, top=top, started=started)
        return result.model_copy(update={
            "degraded": True, "degraded_reason": f"{reason}; answered by the offline engine",
            "usage": usage.as_dict() if usage.calls else result.usage,
        })

    # ------------------------------------------------------------ validation

    def _validate(self, answer: dict, prompt: Prompt, top: int) -> tuple[list[Suggestion], list[str]]:
        """Suggestions whose code is a leaf line of the nomenclature, with only supplied citations; and the errors."""
        items = answer.get("suggestions")
        if not isinstance(items, list):
            raise UnusableOutput("LLM output has no suggestions list")
        out: list[Suggestion] = []
        errors: list[str] = []
        for item in items:
            if not isinstance(item, dict):
                errors.append(f"suggestion {str(item)[:60]!r} is not an object")
                continue
            code, error = resolve_code(item.get("code"), prompt.nomenclature)
            cited = [str(i).strip() for i in item.get("cited_ids") or [] if str(i).strip()]
            errors += [f"id {i} was not supplied; cite only the ids listed" for i in cited if i not in prompt.ids]
            if error:
                errors.append(error)
                continue
            if code in {s.code for s in out}:
                continue
            citations = prompt.citations(code, cited)
            if not citations:
                errors.append(f"suggestion {format_code(code)} cites no supplied source; cite its candidate id")
                continue
            line = prompt.nomenclature.line(code)
            out.append(Suggestion.for_code(
                code, description=line.description, path=prompt.path(line, own=True), confidence=confidence(item),
                rationale=str(item.get("rationale") or "").strip(), general_rate=line.general_rate,
                citations=citations,
            ))
        out.sort(key=lambda s: -s.confidence)
        return out[:top], errors


def _replay(cached: Classification, started: float) -> list[dict]:
    """The events of a cached answer: its rationales as one token event, then the result (no model call)."""
    result = cached.model_copy(update={
        "usage": {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cached": True,
                  **({"strategy": cached.usage["strategy"]} if cached.usage.get("strategy") else {})},
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2)})
    text = "\n\n".join(s.rationale for s in result.suggestions if s.rationale)
    return [*([{"type": "token", "text": text}] if text else []), {"type": "result", "classification": result}]


def _reason(exc: Exception, settings: Any) -> str:
    """A one-line cause for degraded_reason."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return f"LLM timeout after {settings.llm_timeout}s"
    if isinstance(exc, openai.APIConnectionError):
        return f"LLM server unreachable at {settings.llm_base_url or 'the default OpenAI URL'}"
    if isinstance(exc, openai.APIStatusError):
        detail = re.sub(r"^Error code: \d+ - ", "", exc.message)
        return f"LLM server answered HTTP {exc.status_code} ({clip(detail, 120)})"
    if isinstance(exc, (UnusableOutput, InputError)):
        return str(exc)
    return f"LLM call failed ({type(exc).__name__}: {clip(str(exc), 160)})"


def create(runtime: Any, engine: Callable[[str], Any]) -> LLMEngine:
    """The entry point of `tariff_assistant.engines`: llm (pyproject); falls back to the offline engine."""
    return LLMEngine(runtime, offline=engine("offline"))
