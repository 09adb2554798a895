"""Emails masked for outputs others read (pull-request comments, CI logs): enough to
recognise a customer, not to harvest addresses."""

from __future__ import annotations

import re
from dataclasses import replace

from reconciler.plan import Plan

_EMAIL_IN_TEXT = re.compile(r"[^\s@'\"(),;<>]+@[^\s@'\"(),;<>]+")


def mask_email(email: str) -> str:
    """`jane@example.com` -> `j***@example.com`."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_emails_in(text: str) -> str:
    """Every email in a sentence (a warning quoting the config) masked as mask_email does."""
    return _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group()), text)


def masked(plan: Plan) -> Plan:
    """`plan` with every email it holds masked: the JSON plan printed to a CI log."""
    return replace(
        plan,
        emails={pid: mask_email(email) for pid, email in plan.emails.items()},
        create_profiles=tuple(
            replace(p, email=mask_email(p.email)) if p.email else p for p in plan.create_profiles
        ),
        warnings=tuple(mask_emails_in(w) for w in plan.warnings),
    )
