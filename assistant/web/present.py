"""How a case looks on screen: status labels, the coded path of a suggestion, the chat's JSON view of a case."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..codes import format_code
from ..engines.suggestions import answered_offline, headline
from ..models import Suggestion
from ..store.records import FINAL, CaseView, Status

ADVISORY = "Pending officer review — advisory only"


@dataclass(frozen=True)
class StatusLabel:
    text: str
    tone: str  # css modifier: pending | info | final | rejected
    final: bool
    explain: str


STATUS_LABELS = {
    Status.PENDING_REVIEW: StatusLabel(
        ADVISORY, "pending", False,
        "These codes are suggestions. Nothing is final until a customs officer confirms, overrides or rejects them."),
    Status.NEEDS_INFO: StatusLabel(
        "Information requested by the officer — advisory only", "info", False,
        "The reviewing officer needs more facts before deciding. Add them in the chat; the case is re-classified."),
    Status.OVERRIDE_PENDING_APPROVAL: StatusLabel(
        "Override awaiting a second officer — advisory only", "pending", False,
        "An officer chose another code; a second officer must approve it before it is final."),
    Status.CONFIRMED: StatusLabel("Final — confirmed by a customs officer", "final", True,
                                  "A customs officer confirmed this code."),
    Status.OVERRIDDEN: StatusLabel("Final — classified by a customs officer (override)", "final", True,
                                   "A customs officer set this code in place of the suggestions."),
    Status.REJECTED: StatusLabel("Rejected by the officer — no final code", "rejected", False,
                                 "No code was confirmed. Start a new classification with more detail."),
}
assert set(STATUS_LABELS) == set(Status) and {s for s, v in STATUS_LABELS.items() if v.final} == FINAL

ACTION_LABELS = {
    "confirm": "Confirmed",
    "override": "Overrode",
    "reject": "Rejected",
    "request_info": "Requested information",
    "approve_override": "Approved override",
}


def status_label(status: Status | str) -> StatusLabel:
    return STATUS_LABELS[Status(status)]


def path_steps(s: Suggestion, nomenclature: Any | None) -> list[dict[str, str | None]]:
    """The suggestion's path from chapter to line, each step with its code when the nomenclature has one."""
    coded: list[tuple[str, str]] = []
    if nomenclature is not None and s.code in nomenclature:
        coded = [(ln.description.strip(), format_code(ln.code)) for ln in nomenclature.path_lines(s.code)]
    steps: list[dict[str, str | None]] = []
    for text in s.path:
        code = None
        # Match the coded lines in order: uncoded headers (HTS "Men's or boys':") keep no code.
        if coded and coded[0][0] == text.strip():
            code = coded.pop(0)[1]
        steps.append({"code": code, "text": text})
    if steps and steps[-1]["code"] is None and s.path and s.path[-1].strip() == s.description.strip():
        steps[-1]["code"] = s.display
    return steps


def case_payload(case: CaseView, nomenclature: Any | None) -> dict[str, Any]:
    """The case as the chat script renders it (the CaseView JSON plus labels and coded paths)."""
    data = case.model_dump(mode="json")
    label = status_label(case.status)
    data["status_label"] = {"text": label.text, "tone": label.tone, "final": label.final, "explain": label.explain}
    by_subheading = answered_offline(case)
    for raw, s in zip(data["suggestions"], case.suggestions, strict=True):
        raw["steps"] = path_steps(s, nomenclature)
        value, label = headline(s, by_subheading=by_subheading)
        raw["headline"] = {"value": value, "label": label}
    question = next((d.reason for d in reversed(case.decisions) if d.action.value == "request_info"), None)
    data["officer_question"] = question if case.status == Status.NEEDS_INFO else None
    data["outcome"] = officer_outcome(case)
    data["final_line"] = final_line(case.final_code, nomenclature)
    return data


def officer_outcome(case: CaseView) -> dict[str, Any] | None:
    """What the requester reads of the officer's current decision: who, when, which code and why."""
    current = next((d for d in case.decisions if d.id == case.current_decision_id), None)
    if current is None:
        return None
    return {"action": current.action.value, "label": ACTION_LABELS[current.action.value], "display": current.display,
            "officer": current.officer.name, "when": current.created_at.strftime("%Y-%m-%d"),
            "reason": current.reason}


def final_line(code: str | None, nomenclature: Any | None) -> dict[str, str | None] | None:
    """The final code's description and general duty rate, when the nomenclature has the line."""
    if not code or nomenclature is None or code not in nomenclature:
        return None
    line = nomenclature.line(code)
    return {"description": line.description, "general_rate": line.general_rate}


def _codes(codes: Any) -> str:
    return ", ".join(format_code(c) for c in codes or []) or "none"


def audit_summary(event_type: str, data: Any) -> str:
    """One readable line for an audit event of a case (the full record stays in the export)."""
    d = data if isinstance(data, dict) else {}
    if event_type == "case_created":
        extra = [f"reference {d['reference']}" if d.get("reference") else "",
                 f"declared {format_code(d['declared_code'])}" if d.get("declared_code") else ""]
        return "Case opened" + "".join(f"; {x}" for x in extra if x)
    if event_type == "suggestions_made":
        engine = d.get("engine") or "engine"
        flags = " (degraded)" if d.get("degraded") else ""
        return f"Round {d.get('round', '?')}: {engine}{flags} suggested {_codes(d.get('codes'))}"
    if event_type == "case_assigned":
        return f"Assigned to {d['assignee_name']}" if d.get("assignee_name") else "Released (no assignee)"
    if event_type == "case_opened":
        return f"Opened for review (status {str(d.get('status', '')).replace('_', ' ')})"
    if event_type == "decision":
        verb = ACTION_LABELS.get(str(d.get("action")), str(d.get("action")))
        code = f" {format_code(d['code'])}" if d.get("code") else ""
        reason = f" — “{d['reason']}”" if d.get("reason") else ""
        return f"{verb}{code}{reason}"
    if event_type == "decision_superseded":
        return f"Earlier decision ({d.get('action')}) superseded"
    if event_type == "info_requested":
        return f"Asked the requester: “{d.get('question', '')}”"
    if event_type == "info_added":
        return f"Information added ({d.get('chars', '?')} characters); re-classified as round {d.get('round', '?')}"
    return event_type.replace("_", " ")
