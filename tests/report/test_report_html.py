"""`interlock report MODEL --html FILE` seen as a person sees it: rendered by a real headless
Chromium (Debian's `chromium`, `make install-chromium`), its screenshot and its elements checked."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib
from datetime import timedelta
from pathlib import Path

import pytest

from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.core.events import ApproveRequested
from interlock.core.inbound import Inbound
from interlock.core.kinds import BY_PAYLOAD
from interlock.core.policy_load import load_policy
from tests.builders import POLICY_DOC
from tests.cli.test_cli import run
from tests.fixtures.components import require
from tests.handlers.world import World, evaluation, window


def inbound(payload, ce_id: str) -> Inbound:
    ce_type = BY_PAYLOAD[type(payload)].ce_type
    return Inbound(id=ce_id, type=ce_type, source="test", time=None, payload=payload)


GATED = {**POLICY_DOC["models"][0], "canary": {"steps": [10, "approve", 100], "hold_windows": 1}}
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    require("Chromium (make install-chromium)", None if found else "chromium is not on PATH")
    return str(found)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A lifecycle worth drawing: v1, v2 canary waits for approval, approved, degrades, rolled back."""
    root = tmp_path_factory.mktemp("report")
    w = World(ledger=SqliteLedger(root / "ledger.db"))
    doc = {**POLICY_DOC, "models": [GATED]}
    w.handler.policy = load_policy(doc)
    steps = [evaluation("1"), evaluation("2"), window("2", 1), window("2", 2)]
    for i, payload in enumerate(steps):
        w.now += timedelta(minutes=1)
        w.handler.handle(inbound(payload, f"e{i}"))
    w.now += timedelta(minutes=1)
    w.handler.handle(inbound(ApproveRequested(request_id="r1", model="churn", version="2",
                                              requested_by="ana", reason="fine"), "r1"))  # fmt: skip
    for m in range(3, 6):
        w.now += timedelta(minutes=1)
        w.handler.handle(inbound(window("2", m, error_rate=0.3), f"b{m}"))
    (root / "policy.json").write_text(json.dumps(doc))
    page = root / "churn.html"
    code = run_cli(root, page)
    assert code == 0
    return page


def run_cli(root: Path, page: Path) -> int:
    from interlock.cli.main import main

    return main(["report", "churn", "--html", str(page), "--policy", str(root / "policy.json"),
                 "--ledger", f"sqlite:{root / 'ledger.db'}", "--project", "p"])  # fmt: skip


def _browse(page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = page.parent / "profile"
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=90, check=True, cwd=page.parent,
    )  # fmt: skip


def _png_size_and_colours(png: bytes) -> tuple[int, int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    idat, pos = b"", 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, len(set(raw[::97]))


def test_report_renders_charts_marks_and_tooltips_when_opened_in_chromium(report):
    dom = _browse(report, "--dump-dom").stdout
    # Script ran (the count is written by the page's JS) and every part is there, no fetch.
    assert "5 marks, 7 windows" in dom
    assert 'class="chart traffic"' in dom and 'data-metric="error_rate"' in dom
    assert dom.count('class="mark"') >= 4 and 'data-kind="awaiting_approval"' in dom
    assert 'data-kind="rolled_back"' in dom and "approved by ana: fine" in dom
    assert "window breach" in dom and 'class="threshold"' in dom
    assert "http://" not in report.read_text() and "https://" not in report.read_text()


def test_report_screenshot_is_a_full_non_blank_page_when_rendered(report):
    shot = report.parent / "shot.png"
    _browse(report, f"--screenshot={shot}", "--window-size=1000,900", "--hide-scrollbars")
    width, height, colours = _png_size_and_colours(shot.read_bytes())
    assert (width, height) == (1000, 900)
    assert colours > 5, "the screenshot is blank"
    assert shot.stat().st_size > 10_000


def test_report_refuses_an_unknown_model_in_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "report", "nope", "--html", str(tmp_path / "x.html"),
                       "--policy", str(Path(__file__).parents[2] / "interlock.yaml"))  # fmt: skip
    assert code == 1 and err.strip() == "interlock: error: unknown model 'nope'"
