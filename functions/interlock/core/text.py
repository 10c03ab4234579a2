"""Core layer: text from outside (upstream error bodies, event fields) made safe to record.

A reason is stored in the ledger, published on the decisions topic and logged: it must be one
readable line of bounded length whatever an upstream answered (an HTML error page, ANSI escapes,
a megabyte of JSON). Schema validation of an outcome rejects control characters, so text that
reaches a reason unsanitized would make every redelivery fail to record — a retry loop.
"""

from __future__ import annotations

import html
import re

_TAGS = re.compile(
    r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|</?[A-Za-z!?][^<>]{0,2000}>", re.I | re.S
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def one_line(text: object, limit: int = 300) -> str:
    """`text` as one printable line of at most `limit` characters (an ellipsis marks a cut).

    HTML markup is reduced to its text, escapes and control characters become spaces, runs of
    white space fold into one. Idempotent: a sanitized line comes back unchanged.
    """
    raw = text if isinstance(text, str) else str(text)
    if len(raw) > 20 * limit + 2000:
        raw = raw[: 20 * limit + 2000]  # bound the regex work on huge bodies first
    if "<" in raw and ">" in raw:
        raw = html.unescape(_TAGS.sub(" ", raw))
    raw = _SURROGATES.sub("\ufffd", _ANSI.sub(" ", raw))
    line = _SPACES.sub(" ", _CONTROL.sub(" ", raw)).strip()
    if len(line) <= limit:
        return line
    return line[: max(limit - 1, 0)].rstrip() + "…"
