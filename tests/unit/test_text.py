"""Core: upstream text becomes one bounded, printable line."""

from __future__ import annotations

import pytest

from interlock.core.text import one_line

HTML_404 = """<!DOCTYPE html>
<html><head><title>404 Not Found</title><style>body { color: red }</style></head>
<body>\n<h1>Not Found</h1>\r\n<p>The requested URL was not found on this server.</p></body></html>"""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            HTML_404,
            "404 Not Found Not Found The requested URL was not found on this server.",
            id="html-page",
        ),
        pytest.param("line one\nline two\r\n\tthree", "line one line two three", id="newlines"),
        pytest.param("\x1b[31mred\x1b[0m alert", "red alert", id="ansi"),
        pytest.param("a\x00b\x7fc\u2028d", "a b c d", id="control-chars"),
        pytest.param("plain", "plain", id="unchanged"),
        pytest.param("x < 3 and y > 2", "x < 3 and y > 2", id="comparison-not-a-tag"),
        pytest.param("lone \ud800 surrogate", "lone \ufffd surrogate", id="lone-surrogate"),
        pytest.param(b"bytes", "b'bytes'", id="not-a-string"),
    ],
)
def test_one_line_reads_as_one_printable_line_when_upstream_text_is_hostile(raw, expected):
    assert one_line(raw) == expected


def test_one_line_is_bounded_when_the_body_is_huge():
    line = one_line("x" * 5_000_000, limit=50)
    assert len(line) == 50 and line.endswith("…")


def test_one_line_is_idempotent_when_applied_twice():
    once = one_line(HTML_404 * 30, limit=120)
    assert one_line(once, limit=120) == once
