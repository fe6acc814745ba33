"""The LLM engine: the offline engine's evidence, ranked and explained by a chat model, validated against the corpus."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import prompts
from ..codes import format_code, normalize_code
from ..errors import InputError
from ..models import Candidate, Citation, Classification, Passage, SourceKind, Suggestion
from .base import Evidence
from .offline import check_description
from .query import with_listing

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from ..config import Settings

log = logging.getLogger(__name__)

PROMPT_CANDIDATES = 20  # candidate lines shown to the model
PROMPT_NOTES, PROMPT_RULINGS = 12, 8
NOTE_CHARS, GRI_CHARS, RULING_CHARS = 1200, 700, 600

_ITEM = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "description": "digits of one of the candidate codes"},
        "confidence": {"type": "number", "description": "0 to 1"},
        "rationale": {"type": "string", "description": "how the GRIs and notes lead to this code"},
        "cited_ids": {"type": "array", "items": {"type": "string"}, "description": "C.., N.., G.., R.."},
    },
    "required": ["code", "confidence", "rationale", "cited_ids"],
    "additionalProperties": False,
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "suggestions": {"type": "array", "items": _ITEM},
        "clarifying_question": {"type": ["string", "null"]},
        "clarifying_options": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["suggestions", "clarifying_question", "clarifying_options"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {
    "name": "classification", "description": "ranked tariff code suggestions", "strict": True, "schema": SCHEMA}}


class UnusableOutput(Exception):
    """The model's reply is not the JSON object the prompt asked for."""


@dataclass
class Usage:
    """Token usage summed over the calls of one request, with cost when prices are configured."""

    calls: int = 0
    tokens: dict[str, int] = field(default_factory=dict)

    def add(self, message: Any) -> None:
        self.calls += 1
        meta = getattr(message, "usage_metadata", None) or {}
        reported = (getattr(message, "response_metadata", None) or {}).get("token_usage") or {}
        for ours, theirs in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens"),
                             ("total_tokens", "total_tokens")):
            value = meta.get(theirs, reported.get(ours))
            if isinstance(value, int):
                self.tokens[ours] = self.tokens.get(ours, 0) + value

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"calls": self.calls, **self.tokens}
        price_in, price_out = os.environ.get("TARIFF_LLM_PRICE_IN"), os.environ.get("TARIFF_LLM_PRICE_OUT")
        if price_in and price_out and "prompt_tokens" in self.tokens:  # USD per million tokens
            cost = self.tokens["prompt_tokens"] * float(price_in)
            cost += self.tokens.get("completion_tokens", 0) * float(price_out)
            out["cost_usd"] = round(cost / 1_000_000, 6)
        return out


class LLMEngine:
    """Ranks the offline engine's candidates with a chat model; falls back to the offline engine when it fails."""

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
        evidence = self.offline.gather(description, context=context)
        return self._run(description, context, top, evidence, started, streaming=streaming)

    # ------------------------------------------------------------ one request

    def _run(self, description: str, context: list[str], top: int, evidence: Evidence, started: float, *,
             streaming: bool) -> Iterator[dict]:
        prompt = Prompt(evidence, self.runtime.catalog, limit=PROMPT_CANDIDATES)  # one catalog snapshot throughout
        usage = Usage()
        messages = prompt.messages(description, context, top)
        try:
            model = self._model(streaming=streaming)
            reply = yield from self._call(model, messages, streaming=streaming)
            usage.add(reply)
            answer = parse_answer(reply.text)
            suggestions, errors = self._validate(answer, prompt, top)
            if errors:  # one repair round: the model sees its answer and what was wrong with it
                repair = prompts.render("repair", errors="\n".join(f"- {e}" for e in errors))
                messages = [*messages, _message("assistant", reply.text), *_messages(repair)]
                try:
                    repaired = yield from self._call(model, messages, streaming=False)
                    usage.add(repaired)
                    second = parse_answer(repaired.text)
                    fixed, still = self._validate(second, prompt, top)
                    if fixed:
                        answer, suggestions, errors = second, fixed, still
                except Exception as exc:  # noqa: BLE001 - keep the first answer's valid part
                    log.warning("LLM repair call failed: %s", _reason(exc, self.settings))
                if errors:
                    log.info("LLM answer items dropped after repair: %s", "; ".join(errors))
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
                result = result.model_copy(update=_clarification(answer))
        else:
            result = Classification(
                description=description, context=context, suggestions=suggestions,
                candidates=prompt.candidates_scored(), engine=self.name, model=self._model_name(),
                edition=prompt.nomenclature.edition, corpus_snapshot=str(prompt.catalog.snapshot),
                usage=usage.as_dict(), elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
                **_clarification(answer),
            )
        yield {"type": "result", "classification": result}

    def _call(self, model: Any, messages: list[BaseMessage], *, streaming: bool) -> Generator[dict, None, Any]:
        """One chat completion (token events while it streams); returns the reply message."""
        import openai

        kwargs = {"response_format": RESPONSE_FORMAT} if self._structured else {}
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
            return (yield from self._call(model, messages, streaming=streaming))

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
            code, error = _resolve(item.get("code"), prompt.nomenclature)
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
                code, description=line.description, path=prompt.path(line, own=True), confidence=_confidence(item),
                rationale=str(item.get("rationale") or "").strip(), general_rate=line.general_rate,
                citations=citations,
            ))
        out.sort(key=lambda s: -s.confidence)
        return out[:top], errors


# ---------------------------------------------------------------- prompt and citations


class Prompt:
    """The evidence given ids (C1.., N1.., G1.., R1..) and rendered into classify.md."""

    def __init__(self, evidence: Evidence, catalog: Any, *, limit: int):
        self.evidence, self.catalog, self.nomenclature = evidence, catalog, catalog.nomenclature
        self.shown = evidence.candidates[:limit]
        supplied = evidence.passages()
        self.line_passages = {p.codes[0]: p for p in supplied.values()
                              if p.kind in (SourceKind.HS, SourceKind.HTS) and len(p.codes) == 1}
        notes = _unique([*evidence.notes, *(n for c in self.shown for n in c.notes)])[:PROMPT_NOTES]
        self.ids: dict[str, Passage | None] = {}
        self.codes: dict[str, str] = {}
        for i, c in enumerate(self.shown, 1):
            code = self.codes[f"C{i}"] = c.line.code
            self.ids[f"C{i}"] = catalog.line_passage(code) or self.line_passages.get(code)
        for prefix, group in (("N", notes), ("G", evidence.gris), ("R", evidence.rulings[:PROMPT_RULINGS])):
            for i, p in enumerate(group, 1):
                self.ids[f"{prefix}{i}"] = p

    def messages(self, description: str, context: list[str], top: int) -> list[BaseMessage]:
        lines = [f"{cid} | {format_code(code)} | {' > '.join(self.path(self.nomenclature.line(code), own=True))}"
                 for cid, code in self.codes.items()]
        return _messages(prompts.render(
            "classify", edition=self.nomenclature.edition, top=top,
            description=_quote(description, "DESCRIPTION>>>"),
            context=_quote("\n".join(context), "FACTS>>>") or "(none)",
            candidates="\n".join(lines) or "(none)",
            notes=self._list("N", NOTE_CHARS), gris=self._list("G", GRI_CHARS), rulings=self._list("R", RULING_CHARS),
        ))

    def _list(self, prefix: str, chars: int) -> str:
        rows = []
        for cid, p in self.ids.items():
            if cid[0] == prefix and p is not None:
                assigns = ", ".join(format_code(c) for c in p.codes)
                codes = f" (assigns {assigns})" if p.kind is SourceKind.RULING and assigns else ""
                rows.append(f"{cid} | {p.label}{codes}: {_clip(p.text, chars)}")
        return "\n".join(rows) or "(none)"

    def path(self, line: Any, *, own: bool = False) -> list[str]:
        """Descriptions from the chapter down to the line (the line itself only with `own`)."""
        chapter = self.nomenclature.get(line.code[:2])
        parts = list(line.path)
        if chapter is not None and chapter.code != line.code and (not parts or parts[0] != chapter.description):
            parts.insert(0, chapter.description)
        return [*parts, line.description] if own else parts

    def candidates_scored(self) -> list[Candidate]:
        return [Candidate(code=c.line.code, score=round(float(c.score), 5)) for c in self.evidence.candidates[:100]]

    def citations(self, code: str, cited: list[str]) -> list[Citation]:
        """The line's own passage and its heading's (when stored), then the supplied passages the model cited."""
        chosen: list[Passage] = []
        for own in (code, code[:4]):
            p = self.catalog.line_passage(own) or self.line_passages.get(own)
            if p is not None:
                chosen.append(p)
        chosen += [p for p in (self.ids.get(cid) for cid in cited) if p is not None]
        return [_citation(p) for p in _unique(chosen)]


def _citation(p: Passage) -> Citation:
    return Citation(label=p.label, kind=p.kind, source_id=p.id, excerpt=_clip(p.text, 400), source=p.source,
                    edition=p.edition)


# ---------------------------------------------------------------- model output


def parse_answer(text: str) -> dict:
    """The JSON object in the model's reply (bare, or fenced as ```json ...```)."""
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0:
        raise UnusableOutput("LLM output is not valid JSON (no object in it)")
    try:
        value = json.loads(body[start : end + 1] if end > start else body[start:])
    except json.JSONDecodeError as exc:
        raise UnusableOutput(f"LLM output is not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(value, dict):
        raise UnusableOutput("LLM output is not a JSON object")
    return value


def _resolve(raw: Any, nom: Any) -> tuple[str | None, str | None]:
    """Digits of a leaf line for a code the model wrote, or the error to send back."""
    try:
        code = normalize_code(str(raw))
    except InputError:
        return None, f"code {str(raw)[:40]!r} is not a tariff code; choose among the candidates"
    if code not in nom and code + "00" in nom:  # an 8-digit line printed only as its '00' statistical line
        code += "00"
    if code not in nom:
        return None, f"code {format_code(code)} is not in the nomenclature; choose among the candidates"
    kids = nom.children(code)
    if len(kids) == 1 and kids[0].code == code + "00":  # an undivided heading or line, e.g. 4903 -> 4903.00
        code = kids[0].code
    if not nom.is_leaf(code):
        return None, f"code {format_code(code)} is not a tariff line (it has subdivisions); choose among the candidates"
    return code, None


_RATIONALE = re.compile(r'"rationale"\s*:\s*"((?:[^"\\]|\\.)*)')


class RationaleTap:
    """Pulls the text of the "rationale" fields out of streamed JSON as it arrives."""

    def __init__(self) -> None:
        self.buffer = ""
        self.sent: list[int] = []

    def feed(self, text: str) -> list[str]:
        self.buffer += text
        out: list[str] = []
        for i, match in enumerate(_RATIONALE.finditer(self.buffer)):
            decoded = _decode_partial(match.group(1))
            if i == len(self.sent):
                self.sent.append(0)
                if i:
                    out.append("\n\n")
            if len(decoded) > self.sent[i]:
                out.append(decoded[self.sent[i] :])
                self.sent[i] = len(decoded)
        return out


def _decode_partial(raw: str) -> str:
    for cut in range(7):  # a trailing half escape ("\", "\u00") decodes once the rest arrives
        try:
            return json.loads(f'"{raw[: len(raw) - cut]}"')
        except json.JSONDecodeError:
            continue
    return ""


def _reason(exc: Exception, settings: Any) -> str:
    """A one-line cause for degraded_reason."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return f"LLM timeout after {settings.llm_timeout}s"
    if isinstance(exc, openai.APIConnectionError):
        return f"LLM server unreachable at {settings.llm_base_url or 'the default OpenAI URL'}"
    if isinstance(exc, openai.APIStatusError):
        detail = re.sub(r"^Error code: \d+ - ", "", exc.message)
        return f"LLM server answered HTTP {exc.status_code} ({_clip(detail, 120)})"
    if isinstance(exc, (UnusableOutput, InputError)):
        return str(exc)
    return f"LLM call failed ({type(exc).__name__}: {_clip(str(exc), 160)})"


# ---------------------------------------------------------------- small helpers


def _messages(pairs: list[tuple[str, str]]) -> list[BaseMessage]:
    return [_message(role, text) for role, text in pairs]


def _message(role: str, text: str) -> BaseMessage:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    return {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}[role](content=text)


def _quote(text: str, end_marker: str) -> str:
    """User text placed between markers; a copy of the end marker inside it is defused so it cannot close the quote."""
    return text.replace(end_marker, end_marker.replace(">>>", ">\u200b>>")).strip()


def _clip(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def _unique(passages: list[Passage]) -> list[Passage]:
    return list({p.id: p for p in passages}.values())


def _confidence(item: dict) -> float:
    try:
        return min(1.0, max(0.0, float(item.get("confidence", 0.0))))
    except (TypeError, ValueError):
        return 0.0


def _clarification(answer: dict) -> dict[str, Any]:
    question = answer.get("clarifying_question")
    options = answer.get("clarifying_options") or []
    if not isinstance(question, str) or not question.strip():
        return {"clarifying_question": None, "clarifying_options": []}
    return {"clarifying_question": question.strip(), "clarifying_options": [str(o) for o in options][:8]}
