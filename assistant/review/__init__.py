"""The case lifecycle, independent of HTTP (the API and the web UI both call these functions).

    pending_review --confirm--> confirmed              (code: one of the case's current suggestions)
                   --override-> overridden             (any declarable line; reason required)
                      four-eyes: override_pending_approval --approve_override (another officer)--> overridden
                   --reject---> rejected               (reason required)
                   --request_info--> needs_info --add_info: re-classified--> pending_review
    A decided case changes only through a decision that `supersedes` its current decision (a correction).
    Only confirmed and overridden cases have a final_code; every other status is advisory.
"""

from .cases import (
    OPEN_STATUSES,
    Desk,
    Prepared,
    add_info,
    case_audit,
    create_case,
    get_case,
    insert_case,
    list_cases,
    load,
    prepare,
    stream_case,
)
from .decisions import decide
from .queue import QUEUE_STATUSES, QueueFilter, QueueForm, Sort, assign, organisations, queue
from .replay import Replay, replay_case
from .requests import ClassificationRequest, DecisionRequest, InfoRequest
from .risk import declared_code_risks

__all__ = [
    "OPEN_STATUSES",
    "ClassificationRequest",
    "DecisionRequest",
    "Desk",
    "InfoRequest",
    "Prepared",
    "Replay",
    "QUEUE_STATUSES",
    "QueueFilter",
    "QueueForm",
    "Sort",
    "add_info",
    "assign",
    "case_audit",
    "create_case",
    "decide",
    "declared_code_risks",
    "get_case",
    "insert_case",
    "list_cases",
    "load",
    "organisations",
    "prepare",
    "queue",
    "replay_case",
    "stream_case",
]
