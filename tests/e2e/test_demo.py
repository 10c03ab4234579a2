"""The demo scenario as a test: the real DAG trains v1 and v2 in the real Airflow, interlock
promotes through the canary, predictions switch, degraded live metrics roll back to v1."""

from __future__ import annotations

import pytest

from interlock_dev.demo import Demo, Timeline, demo_stack

from .demo_report import check_report as _check_report
from .leftovers import processes_under


@pytest.mark.slow
def test_whole_loop_promotes_canaries_and_rolls_back_with_predictions_switching(tmp_path, capsys):
    root = tmp_path / "demo"
    timeline = Timeline()
    stack = demo_stack(root, timeline.say)
    demo = None
    try:
        info = stack.start()
        demo = Demo(stack, info, timeline)
        demo.run()  # raises StepFailed naming the step that did not happen
        _check_report(stack, info)  # the page `make demo` writes, rendered in Chromium
    finally:
        if demo is not None:
            demo.stop()
        stack.stop()
    kinds = [row.decision for row in timeline.rows]
    assert kinds == [
        "triggered",
        "promoted",
        "triggered",
        "promoted",
        "advanced",
        "promoted",
        "rolled_back",
        "triggered",  # the batched export: three files and _SUCCESS, one run
        "held",  # its v3 evaluation arrives within the rollback's cooldown
    ]
    out = capsys.readouterr().out
    assert "served by v1: 40" in out and "served by v2: 40" in out
    assert processes_under(root) == []
