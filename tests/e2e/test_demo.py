"""The demo scenario as a test: the real DAG trains v1 and v2 in the real Airflow, interlock
promotes through the canary, predictions switch, degraded live metrics roll back to v1."""

from __future__ import annotations

import pytest

from interlock_dev import demo_lineage
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
        _check_lineage(info.root, demo)
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
    assert "$ interlock lineage churn --serving" in out and "churn v1: 100 % of traffic now" in out
    assert processes_under(root) == []


def _check_lineage(root: str, demo: Demo) -> None:
    """The chain of what serves after the rollback (v1) back to the CSV it was trained on, every
    link verified against the stack; and v2 named with its share while it served."""
    chain = demo_lineage.ask_json(root, "lineage", "churn", "--serving")
    assert (chain["version"], chain["share"], chain["problems"]) == ("1", 100, [])
    links = {
        link["step"]: link for link in chain["links"] if link["step"] not in ("move", "verdict")
    }
    assert links["input"]["text"].startswith("gs://interlock-landing/churn/incoming/day1.csv#")
    assert ", md5 " in links["input"]["text"]
    assert links["input"]["holds"] and links["input"]["check"].startswith("generation still exists")
    assert links["run"]["holds"] and links["run"]["check"] == "still in Airflow, state success"
    assert links["registry"]["holds"] and "champion" in links["registry"]["text"]
    assert "label interlock-run matches run " in links["registry"]["check"]
    assert links["evaluation"]["text"].startswith("dataset ")
    assert links["revision"]["text"] == "churn-v1"
    moves = [link["text"] for link in chain["links"] if link["step"] == "move"]
    assert moves[0].startswith("promoted: v1 100% [champion]")
    assert moves[-1].startswith("rolled_back: v1 100% [champion]")
    assert demo.v2_served_at is not None
    at = demo.v2_served_at.isoformat()
    (served,) = demo_lineage.ask_json(root, "history", "churn", "--at", at)["served"]
    assert [(s["version"], s["percent"]) for s in served["shares"] if s["percent"]] == [("2", 100)]
    assert served["decision"]["kind"] == "promoted"
    # v3, trained on the batch window, held by the cooldown: its input is the manifest, and each
    # of the three files it lists is still there as the run read it.
    batch = demo_lineage.ask_json(root, "lineage", "churn", "3")
    assert batch["share"] == 0 and batch["problems"] == []
    steps = [(link["step"], link["text"], link["holds"]) for link in batch["links"]]
    (manifest,) = [text for step, text, _ in steps if step == "input"]
    assert manifest.startswith("gs://interlock-landing/_interlock/manifests/churn-batched/")
    objects = [(text, holds) for step, text, holds in steps if step == "object"]
    assert [text.rsplit("/", 1)[-1].split("#")[0] for text, _ in objects] == [
        "part-0.csv", "part-1.csv", "part-2.csv",
    ]  # fmt: skip
    assert all(holds for _, holds in objects)
