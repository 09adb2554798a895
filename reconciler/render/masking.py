"""Emails masked for outputs others read (pull-request comments, CI logs): enough to
recognise a customer, not to harvest addresses."""

from __future__ import annotations

import re

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
