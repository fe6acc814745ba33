"""The LLM engine's output: the JSON schema asked for, reading the reply, streamed rationales, token usage."""

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
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {
    "name": "classification", "description": "ranked tariff code suggestions", "strict": True, "schema": SCHEMA}}


@dataclass
class Usage:
    """Token usage summed over the calls of one request, with cost when prices are configured."""

    price_in: float | None = None  # USD per million prompt tokens (TARIFF_LLM_PRICE_IN)
    price_out: float | None = None  # ... and per million completion tokens (TARIFF_LLM_PRICE_OUT)
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
