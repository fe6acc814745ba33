"""Persistent state of the review workflow: cases, decisions, keys, audit events and batches (SQLite or PostgreSQL)."""

from .db import Database

__all__ = ["Database"]
