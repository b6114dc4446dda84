"""The project lock (it lives in rorunner.records: the plan cache's fast path takes it too)."""

from __future__ import annotations

from rorunner.records import ProjectLock

__all__ = ["ProjectLock"]
