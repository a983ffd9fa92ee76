"""The Panama demo group, for newcomers and demos: ``poolbuy demo`` and ``poolbuy serve --demo``.

from app.demo import load_demo

summary = load_demo(session)      # idempotent; summary.changed says whether it did anything
print(summary.describe())
"""

from app.demo.loader import (
    DEMO_USERS,
    DemoSummary,
    DemoToken,
    DemoUser,
    issue_demo_tokens,
    load_demo,
)

__all__ = ["DEMO_USERS", "DemoSummary", "DemoToken", "DemoUser", "issue_demo_tokens", "load_demo"]
