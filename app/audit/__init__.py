"""Append-only, hash-chained audit log. Domain services call ``record`` before committing."""

from app.audit.service import record, snapshot, to_jsonable, verify_chain

__all__ = ["record", "snapshot", "to_jsonable", "verify_chain"]
