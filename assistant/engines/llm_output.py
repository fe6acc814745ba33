"""The LLM engine's output: the JSON schemas asked for, reading the reply, streamed rationales, token usage."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..codes import format_code, normalize_code
from ..errors import InputError, UnusableOutput

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


def response_format(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI `response_format` asking for `schema` (strict JSON schema output)."""
    return {"type": "json_schema", "json_schema": {"name": name, "description": description, "strict": True,
                                                   "schema": schema}}


RESPONSE_FORMAT = response_format("classification", "ranked tariff code suggestions", SCHEMA)
_QUESTION = {"clarifying_question": {"type": ["string", "null"]},
             "clarifying_options": {"type": "array", "items": {"type": "string"}}}
# The tree walk: step 1 names one heading (two when GRI 3 decides), or says that none of the offered headings fits
# (the walk then shows the chapters, and the headings of the chapter chosen); later steps name subheadings or lines,
# or the note that excludes the goods from the chosen heading (the walk then backtracks).
def heading_format(*, may_decline: bool) -> dict[str, Any]:
    """The schema of the heading step; with `may_decline`, the model may answer that no listed heading fits."""
    decline = {"none_fits": {"type": "boolean", "description": "true when no listed heading covers the goods"}}
    properties = {"headings": {"type": "array", "items": _ITEM}, **(decline if may_decline else {}), **_QUESTION}
    return response_format("heading", "the heading, or two when GRI 3 decides", {
        "type": "object", "properties": properties, "required": list(properties), "additionalProperties": False,
    })


CHAPTER_FORMAT = response_format("chapter", "the chapter, or two when GRI 3 decides", {
    "type": "object",
    "properties": {"chapters": {"type": "array", "items": _ITEM}, **_QUESTION},
    "required": ["chapters", "clarifying_question", "clarifying_options"],
    "additionalProperties": False,
})


def subtree_format(name: str) -> dict[str, Any]:
    """The schema of a step below the heading (`name`: subheading or line)."""
    return response_format(name, f"the {name}(s) chosen within the heading, or the note excluding the goods", {
        "type": "object",
        "properties": {"suggestions": {"type": "array", "items": _ITEM}, "excluded_by": {"type": ["string", "null"]},
                       **_QUESTION},
        "required": ["suggestions", "excluded_by", "clarifying_question", "clarifying_options"],
        "additionalProperties": False,
    })


@dataclass
class Usage:
    """Token usage summed over the calls of one request, with cost when prices are configured."""

    price_in: float | None = None  # USD per million prompt tokens (TARIFF_LLM_PRICE_IN)
    price_out: float | None = None  # ... and per million completion tokens (TARIFF_LLM_PRICE_OUT)
    calls: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    strategy: str | None = None  # walk | oneshot
    served_by: str | None = None  # the server's system_fingerprint (the eval's oracle model names itself there)

    def add(self, message: Any) -> None:
        self.calls += 1
        response = getattr(message, "response_metadata", None) or {}
        if isinstance(response.get("system_fingerprint"), str):
            self.served_by = response["system_fingerprint"]
        meta = getattr(message, "usage_metadata", None) or {}
        reported = response.get("token_usage") or {}
        for ours, theirs in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens"),
                             ("total_tokens", "total_tokens")):
            value = meta.get(theirs, reported.get(ours))
            if isinstance(value, int):
                self.tokens[ours] = self.tokens.get(ours, 0) + value

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"calls": self.calls, **self.tokens}
        out.update({k: v for k, v in (("strategy", self.strategy), ("served_by", self.served_by)) if v})
        if self.price_in is not None and self.price_out is not None and "prompt_tokens" in self.tokens:
            cost = self.tokens["prompt_tokens"] * self.price_in
            cost += self.tokens.get("completion_tokens", 0) * self.price_out
            out["cost_usd"] = round(cost / 1_000_000, 6)
        return out


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


def resolve_code(raw: Any, nom: Any) -> tuple[str | None, str | None]:
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


def confidence(item: dict) -> float:
    try:
        return min(1.0, max(0.0, float(item.get("confidence", 0.0))))
    except (TypeError, ValueError):
        return 0.0


def clarification(answer: dict) -> dict[str, Any]:
    question = answer.get("clarifying_question")
    options = answer.get("clarifying_options") or []
    if not isinstance(question, str) or not question.strip():
        return {"clarifying_question": None, "clarifying_options": []}
    return {"clarifying_question": question.strip(), "clarifying_options": [str(o) for o in options][:8]}
