"""`interlock lineage` and `interlock history` on a ledger the handlers built: a landing, its run,
two evaluations, a canary, completion and a rollback — then the commands as a user types them."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from interlock.adapters.ledger_sqlite import SqliteLedger
from interlock.cli.main import main
from interlock.core.events import DataLanded, PromoteRequested
from interlock.core.inbound import Inbound
from interlock.core.kinds import kind_of
from interlock.core.lineage import RegistryVersion, chain, evidence, input_answer, run_digest
from tests.builders import NOW
from tests.handlers.world import World, evaluation, window

POLICY = str(Path(__file__).resolve().parents[2] / "interlock.yaml")
LANDED = DataLanded(bucket="landing", name="churn/day2.csv", generation=17)


def inbound(payload: object, ce_id: str = "e1") -> Inbound:
    """As delivered: with the CloudEvents type of its kind (lineage tells verdicts by it)."""
    return Inbound(
        id=ce_id, type=kind_of(payload).ce_type, source="test", time=None, payload=payload
    )


@pytest.fixture
def built(tmp_path, monkeypatch, capsys):
    """The handlers' whole lifecycle on a SQLite ledger, a minute apart; (ledger path, times)."""
    for name in ("INTERLOCK_PROJECT", "GOOGLE_CLOUD_PROJECT", "INTERLOCK_AIRFLOW_URL",
                 "PUBSUB_EMULATOR_HOST", "INTERLOCK_LEDGER", "INTERLOCK_POLICY"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTERLOCK_DEV_ROOT", str(tmp_path / "no-stack"))
    w = World(ledger=SqliteLedger(tmp_path / "ledger.db"))  # type: ignore[arg-type]
    times = {}

    def at(minute: int) -> None:
        w.now = NOW + timedelta(minutes=minute)

    at(-60)
    assert w.handler.handle(inbound(evaluation("1", when=w.now))).kind == "promoted"
    at(-50)
    assert w.handler.handle(inbound(LANDED, "landing-1")).kind == "triggered"
    (run,) = w.dags.runs.values()
    v2 = dataclasses.replace(evaluation("2", when=w.now), run_id=run.run_id, input_uri=LANDED.uri)
    at(-40)
    assert w.handler.handle(inbound(v2, "evaluated-2")).kind == "promoted"
    times["canary"] = w.now
    for m in range(1, 5):
        at(-40 + m)
        w.handler.handle(inbound(window("2", m, when=NOW)))
    assert w.traffic() == {"churn-v2": 100}
    times["champion"] = w.now
    for m in range(5, 8):
        at(-30 + m)
        w.handler.handle(inbound(window("2", m, error_rate=0.5, when=NOW)))
    assert w.traffic() == {"churn-v1": 100}
    times["rollback"] = w.now
    capsys.readouterr()  # the handlers' logs
    return tmp_path / "ledger.db", times, run.run_id, w


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--policy", POLICY])
    out, err = capsys.readouterr()
    return code, out, err


def test_lineage_of_the_serving_version_after_a_rollback_is_v1(capsys, built):
    db, _, _, _ = built
    code, out, err = cli(capsys, "lineage", "churn", "--serving", "--ledger", f"sqlite:{db}")
    assert code == 0, err
    assert out.startswith("churn v1: 100 % of traffic now")
    assert "dataset ds1 (1000 rows): auc=0.9, latency_ms=50; event e1; promoted" in out
    assert "rolled_back: v1 100% [champion]" in out
    # Nothing but the ledger could be asked here: said so, not hidden.
    assert "registry: no project" in out


def test_lineage_of_v2_goes_back_to_the_landed_generation_and_its_run(capsys, built):
    db, _, run_id, _ = built
    code, out, err = cli(capsys, "lineage", "churn", "v2", "--ledger", f"sqlite:{db}", "--json")
    assert code == 0, err
    doc = json.loads(out)
    links = {link["step"]: link for link in doc["links"] if link["step"] not in ("move", "verdict")}
    assert doc["version"] == "2" and doc["share"] == 0
    assert links["input"]["text"] == LANDED.uri and links["input"]["source"] == "ledger (landing)"
    assert links["run"]["text"].startswith(f"DAG train_on_arrival run {run_id}")
    assert "event evaluated-2; promoted: gate passed" in links["evaluation"]["text"]
    assert links["revision"]["text"] == "churn-v2"
    moves = [link["text"] for link in doc["links"] if link["step"] == "move"]
    assert moves[0].startswith("promoted: v1 90% [champion], v2 10% [candidate]")
    assert moves[-1].startswith("rolled_back: v1 100% [champion]")
    # The verdicts that moved nothing (a move is listed once, as a move).
    verdicts = [link["text"] for link in doc["links"] if link["step"] == "verdict"]
    assert len(verdicts) == 4 and all(v.startswith("held: ") for v in verdicts)
    assert "breaches (2) in the last 4 window(s) < breaches (3): holding" in verdicts[-1]


def test_history_at_names_v2_with_its_canary_share_then_all_of_it(capsys, built):
    db, times, _, _ = built
    ledger = f"sqlite:{db}"
    during = (times["canary"] + timedelta(seconds=30)).isoformat()
    code, out, err = cli(capsys, "history", "churn", "--at", during, "--ledger", ledger)
    assert code == 0, err
    assert "v2       10 %  revision churn-v2  [candidate]" in out
    assert "v1       90 %  revision churn-v1  [champion]" in out
    assert "put there by: promoted" in out
    champion = (times["champion"] + timedelta(seconds=1)).isoformat()
    code, out, _ = cli(capsys, "history", "churn", "--at", champion, "--ledger", ledger, "--json")
    (served,) = json.loads(out)["served"]
    assert [(s["version"], s["percent"]) for s in served["shares"]] == [("2", 100), ("1", 0)]
    span = (times["canary"].isoformat(), times["rollback"].isoformat())
    code, out, _ = cli(capsys, "history", "churn", "--between", *span, "--ledger", ledger, "--json")
    kinds = [s["decision"]["kind"] for s in json.loads(out)["served"]]
    assert kinds == ["promoted", "advanced", "promoted", "rolled_back"]


def test_history_before_anything_served_and_bad_times_say_so(capsys, built):
    db, _, _, _ = built
    ledger = f"sqlite:{db}"
    code, out, _ = cli(
        capsys, "history", "churn", "--at", "2020-01-01T00:00:00Z", "--ledger", ledger
    )
    assert code == 0 and "nothing served, as far as the ledger knows; its first traffic" in out
    code, _, err = cli(capsys, "history", "churn", "--at", "yesterday", "--ledger", ledger)
    assert code == 1 and "--at: not an RFC 3339 timestamp: 'yesterday'" in err
    code, _, err = cli(capsys, "history", "churn", "--ledger", ledger)
    assert code == 1 and "give --at TIME or --between START END" in err
    code, _, err = cli(capsys, "lineage", "churn", "v9", "--ledger", ledger)
    assert code == 1 and "churn v9: the ledger has no decision on it" in err
    code, _, err = cli(capsys, "lineage", "fraudx", "--serving", "--ledger", ledger)
    assert code == 1 and "unknown model 'fraudx'" in err
    assert "Traceback" not in err


def test_a_manual_promote_is_the_link_where_an_evaluation_would_be(capsys, built):
    db, _, _, w = built
    w.now += timedelta(hours=2)
    ask = PromoteRequested(request_id="r-9", model="churn", version="3", requested_by="ana")
    assert w.handler.handle(inbound(ask, "promote-3")).kind == "promoted"
    code, out, err = cli(capsys, "lineage", "churn", "3", "--ledger", f"sqlite:{db}")
    assert code == 0, err
    assert "none decided on: promoted by hand by ana (request r-9)" in out


def test_chain_flags_an_input_no_longer_retrievable_and_a_registry_label_of_another_run(built):
    db, _, run_id, _ = built
    ledger = SqliteLedger(db)
    ev = evidence("2", ledger.outcomes("churn", limit=100), ledger.runs())
    registry = RegistryVersion("projects/p/locations/l/models/churn@2", ("previous",),
                               {"interlock-run": run_digest("someone-else")}, "not json", "gs://m")  # fmt: skip
    gone = input_answer(LANDED.uri, "abc==", None)
    built_chain = chain("churn", ev, registry, gone, None)
    assert built_chain.problems == (
        f"input: {LANDED.uri}: that generation no longer exists (overwritten or deleted): "
        "the version's training input is not retrievable",
        f"registry: label interlock-run={run_digest('someone-else')} is not run {run_id}'s",
    )
    same = input_answer(LANDED.uri, "abc==", (120, "abc=="))
    assert same.holds and "md5 abc== as read at training" in same.detail
    assert input_answer(LANDED.uri, "abc==", (120, "xyz==")).holds is False


def test_the_documented_archive_query_reads_fields_the_published_outcome_has():
    """docs/operations.md 4c: the SQL's JSON paths are the outcome schema's (data) and its Share's
    (each traffic element), so the query cannot drift from what the decisions topic carries."""
    repo = Path(__file__).resolve().parents[2]
    doc = (repo / "docs" / "operations.md").read_text()
    section = doc[doc.index("## 4c.") : doc.index("## 5.")]
    sql = section[section.index("```sql") : section.index("```", section.index("```sql") + 6)]
    schema = json.loads((repo / "events" / "schemas" / "outcome.v1.json").read_text())
    share = schema["$defs"]["Share"]["properties"]

    data_paths = set(re.findall(r"JSON_(?:VALUE|QUERY_ARRAY)\(data, '\$\.(\w+)'\)", sql))
    share_paths = set(re.findall(r"JSON_VALUE\(share, '\$\.(\w+)'\)", sql))
    assert data_paths == {"decided_at", "kind", "decision_id", "subject", "traffic"}
    assert data_paths <= set(schema["properties"]) and share_paths <= set(share)
    assert share_paths == {"version", "percent", "revision", "tag"}
