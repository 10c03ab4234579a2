"""The timeline report of a demo run, seen as a person sees it: the page `make demo` writes at its
end (`interlock_dev.demo.write_report`, over the demo's ledger), rendered in headless Chromium
with the helpers of tests/report: a non-blank screenshot, and the marks, windows and split drawn."""

from __future__ import annotations

import re
from pathlib import Path

from interlock_dev.demo import write_report
from interlock_dev.stack import LocalStack, StackInfo
from tests.report.test_report_html import _browse, _png_size_and_colours


def check_report(stack: LocalStack, info: StackInfo) -> None:
    page = write_report(stack.policy, info.ledger, Path(info.root) / "report.html")
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched
    dom = _browse(page, "--dump-dom").stdout
    counted = re.search(r"(\d+) marks, (\d+) windows", dom)
    assert counted is not None, "the page's script did not run"
    assert int(counted[1]) >= 5 and int(counted[2]) >= 3, counted[0]
    for kind in ("promoted", "advanced", "rolled_back"):
        assert f'data-kind="{kind}"' in dom, f"no {kind} mark"
    assert 'class="chart traffic"' in dom and 'class="split"' in dom
    assert 'data-metric="error_rate"' in dom and 'class="threshold"' in dom
    assert "window breach" in dom  # v2's 20 % errors, drawn against error_rate's threshold
    shot = page.parent / "report.png"
    _browse(page, f"--screenshot={shot}", "--window-size=1000,900", "--hide-scrollbars")
    width, height, colours = _png_size_and_colours(shot.read_bytes())
    assert (width, height) == (1000, 900) and colours > 5, "the screenshot is blank"
