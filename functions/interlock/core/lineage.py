"""Core layer: a model version's lineage — input bytes → DAG run → evaluation → registry version →
revision → every traffic move and guard verdict since → its share of traffic now.

Pure: the CLI (`interlock lineage`) reads the ledger, then asks the registry, Airflow and the
object store whether each link still holds, and hands the answers here. Each link says where it
came from and whether it is still verifiable; text from upstreams (labels, descriptions) is data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from interlock.core.events import Outcome, Trained
from interlock.core.history import oldest_first, periods
from interlock.core.runs import WatchedRun
from interlock.core.text import one_line

# Where the guard's verdicts come from: live windows and alert incidents.
VERDICT_TYPES = ("model.observed", "monitoring.incident")
# Labels and description fields the training DAG sets at upload (dags/interlock_dag/chain.py).
RUN_LABEL = "interlock-run"
DESCRIPTION_KEYS = (
    "run_id", "input_uri", "input_md5", "manifest_sha256", "objects", "dataset_id",
    "evaluated_event_id", "artifact_uri",
)  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """What an upstream said when asked whether a link still holds."""

    holds: bool | None  # True: verified now; False: no longer (gone, differs); None: not asked
    detail: str


@dataclass(frozen=True)
class RegistryVersion:
    """The registry's version as read (values are the upstream's text)."""

    name: str  # projects/P/locations/L/models/M@VERSION
    aliases: tuple[str, ...]
    labels: Mapping[str, str]
    description: str
    artifact_uri: str
    created: datetime | None = None


@dataclass(frozen=True)
class Link:
    step: str  # input, object (of a manifest), run, evaluation, registry, revision, move, verdict, now
    text: str
    source: str  # ledger, registry, Airflow, storage
    at: datetime | None = None
    holds: bool | None = None  # still verifiable? None: nothing to verify, or not asked
    check: str | None = None  # what the upstream said


@dataclass(frozen=True)
class Evidence:
    """What the ledger knows of one version."""

    version: str
    trained: Trained | None  # the evaluation decided on
    gate: Outcome | None  # the decision on that evaluation
    run: WatchedRun | None  # the DAG run interlock started, which produced it
    revision: str | None
    moves: tuple[Outcome, ...]  # every traffic move since the version first held traffic
    verdicts: tuple[Outcome, ...]  # guard verdicts on its revision since
    share: int  # its percent of traffic now
    manual: Outcome | None = None  # a manual promote, when no evaluation was decided on


@dataclass(frozen=True)
class Chain:
    model: str
    version: str
    share: int
    links: tuple[Link, ...]
    problems: tuple[str, ...] = field(default=())  # links that no longer hold


def evidence(version: str, outcomes: Sequence[Outcome], runs: Sequence[WatchedRun]) -> Evidence:
    """Gather, from one model's outcomes and the ledger's runs, what concerns `version`."""
    ordered = oldest_first(outcomes)
    judged = [o for o in ordered if o.trained is not None and o.trained.version == version]
    gate = next((o for o in reversed(judged) if o.kind in ("promoted", "advanced")), None)
    gate = gate or (judged[-1] if judged else None)
    trained = gate.trained if gate else None
    run = next((r for r in runs if trained and r.run_id == trained.run_id), None)
    blocks = periods(outcomes)
    present = [i for i, p in enumerate(blocks) if any(s.version == version for s in p.shares)]
    # From its first block to the one that took it out of the service (if one did).
    span = blocks[present[0] : present[-1] + 2] if present else []
    moves = tuple(p.decision for p in span)
    revision = next((s.revision for m in moves for s in m.traffic if s.version == version), None)
    # Every guard verdict while it held traffic (its canary, its guard window), moves aside.
    since = moves[0].decided_at if moves else None
    out = span and all(s.version != version for s in span[-1].shares)
    until = span[-1].since if out else None
    moved = {m.decision_id for m in moves}
    verdicts = tuple(
        o
        for o in ordered
        if since is not None
        and since <= o.decided_at
        and (until is None or o.decided_at <= until)
        and o.decision_id not in moved
        and o.event_type.endswith(tuple(f"{t}.v1" for t in VERDICT_TYPES))
    )
    manual = next(
        (o for o in moves if o.manual and o.event_type.endswith("model.promote.requested.v1")), None
    )
    share = blocks[-1].share_of(version) if blocks else 0
    return Evidence(version, trained, gate, run, revision, moves, verdicts, share, manual)


def described(registry: RegistryVersion | None) -> dict[str, str]:
    """The lineage fields of the version's description (one JSON object), as text; {} when the
    description is not one (written by hand, or by an older DAG)."""
    if registry is None:
        return {}
    try:
        doc = json.loads(registry.description)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: one_line(doc[k], 300) for k in DESCRIPTION_KEYS if doc.get(k) not in (None, "")}


def input_of(ev: Evidence, registry: RegistryVersion | None) -> tuple[str | None, str | None]:
    """(pinned input URI, its base64 md5 when known): the ledger's, else the registry's."""
    fields = described(registry)
    uri = (ev.trained.input_uri if ev.trained else None) or (ev.run.object if ev.run else None)
    return uri or fields.get("input_uri"), fields.get("input_md5")


def run_of(ev: Evidence, registry: RegistryVersion | None) -> str | None:
    return (ev.trained.run_id if ev.trained else None) or described(registry).get("run_id")


def manifest_members(data: bytes | None) -> list[tuple[str, str | None]]:
    """(pinned URI, base64 md5) of every object a batch window's manifest lists (`core.batch`);
    [] when it cannot be read as one."""
    try:
        entries = json.loads(data or b"null")["objects"]
    except (ValueError, KeyError, TypeError):
        return []
    if not isinstance(entries, list):
        return []
    return [
        (e["uri"], e.get("md5") if isinstance(e.get("md5"), str) else None)
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("uri"), str)
    ]


def input_answer(
    uri: str, expected_md5: str | None, found: tuple[int, str | None] | None
) -> Answer:
    """Does the pinned generation still exist with the bytes trained on? `found`: (size, md5)."""
    if found is None:
        return Answer(False, f"{uri}: that generation no longer exists (overwritten or deleted): "
                             "the version's training input is not retrievable")  # fmt: skip
    size, md5 = found
    if expected_md5 and md5 and md5 != expected_md5:
        return Answer(False, f"{uri}: md5 is now {md5}, the run read {expected_md5}")
    said = f", md5 {md5} as read at training" if expected_md5 and md5 else ""
    return Answer(True, f"generation still exists ({size} bytes{said})")


def run_answer(run_id: str, state: str | None) -> Answer:
    """What Airflow says of the run now; `state` None: Airflow no longer has it."""
    if state is None:
        return Answer(False, f"Airflow no longer has run {run_id} (deleted, or its database reset)")
    return Answer(True, f"still in Airflow, state {state}")


def registry_answer(registry: RegistryVersion, run_id: str | None) -> Answer:
    """The registry's version, and whether its run label is this run's digest."""
    label = registry.labels.get(RUN_LABEL)
    if run_id and label and label != run_digest(run_id):
        return Answer(False, f"label {RUN_LABEL}={one_line(label, 64)} is not run {run_id}'s")
    said = f"label {RUN_LABEL} matches run {run_id}" if run_id and label else "no run label"
    return Answer(True, f"version exists; {said}")


def run_digest(run_id: str) -> str:
    """As the DAG labels a version with its run (label values: <= 63 lowercase characters);
    dags/interlock_dag/registry.py computes the same, as DAGs cannot import interlock."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:32]


def chain(
    model: str,
    ev: Evidence,
    registry: RegistryVersion | Answer,
    input_check: Answer | None,
    run_check: Answer | None,
    members: Sequence[tuple[str, Answer | None]] = (),
    unchecked: int = 0,
) -> Chain:
    """The links in order. `members`: a batch input's objects (its manifest's), each checked or
    not; `unchecked`: how many more the manifest lists that were not asked about."""
    found = registry if isinstance(registry, RegistryVersion) else None
    uri, md5 = input_of(ev, found)
    run_id = run_of(ev, found)
    fields = described(found)
    links: list[Link] = []

    where = "ledger (landing)" if ev.run else ("registry" if fields.get("input_uri") else "ledger")
    if uri:
        more = f", md5 {md5}" if md5 else ""
        manifest = fields.get("manifest_sha256")
        more += (
            f", manifest sha256 {manifest}, {fields.get('objects', '?')} objects"
            if manifest
            else ""
        )
        links.append(Link("input", uri + more, where, ev.run.triggered_at if ev.run else None,
                          *_held(input_check)))  # fmt: skip
        for member, answer in members:
            links.append(Link("object", member, "manifest", None, *_held(answer)))
        if unchecked:
            links.append(Link("object", f"… and {unchecked} more objects, not checked", "manifest"))
    else:
        links.append(Link("input", "unknown", "ledger", holds=False,
                          check="no evaluation, run or registry description names it"))  # fmt: skip
    if run_id:
        dag = ev.run.dag_id if ev.run else "?"
        ended = f"; {ev.run.outcome or ev.run.state}" if ev.run else ""
        links.append(Link("run", f"DAG {dag} run {run_id}{ended}",
                          "ledger" if ev.run else "registry", None, *_held(run_check)))  # fmt: skip
    if ev.trained and ev.gate:
        t = ev.trained
        metrics = ", ".join(f"{k}={v:g}" for k, v in sorted(t.metrics.items()))
        text = (
            f"dataset {t.dataset_id} ({t.sample_count} rows): {metrics}; event {ev.gate.event_id}"
            f"; {ev.gate.kind}: " + "; ".join(ev.gate.reasons)
        )
        links.append(Link("evaluation", text, "ledger", ev.gate.decided_at))
    elif ev.manual is not None:
        who = f" by {ev.manual.requested_by}" if ev.manual.requested_by else ""
        links.append(Link("evaluation", f"none decided on: promoted by hand{who} "
                          f"(request {ev.manual.request_id})", "ledger", ev.manual.decided_at))  # fmt: skip
    if found is not None:
        aliases = ", ".join(found.aliases) or "no aliases"
        answer = registry_answer(found, run_id)
        links.append(Link("registry", f"{found.name} ({aliases})", "registry", found.created,
                          answer.holds, answer.detail))  # fmt: skip
    elif isinstance(registry, Answer):
        links.append(Link("registry", f"{model} v{ev.version}", "registry", None, *_held(registry)))
    if ev.revision:
        links.append(Link("revision", ev.revision, "ledger", ev.moves[0].decided_at))
    for move in ev.moves:
        split = ", ".join(f"v{s.version} {s.percent}%" + (f" [{s.tag}]" if s.tag else "")
                          for s in move.traffic)  # fmt: skip
        links.append(
            Link("move", f"{move.kind}: {split} — {_last(move)}", "ledger", move.decided_at)
        )
    for verdict in ev.verdicts:
        links.append(Link("verdict", f"{verdict.kind}: " + "; ".join(verdict.reasons), "ledger",
                          verdict.decided_at))  # fmt: skip
    links.append(Link("now", f"{ev.share} % of traffic", "ledger"))
    problems = tuple(f"{link.step}: {link.check}" for link in links if link.holds is False)
    return Chain(model, ev.version, ev.share, tuple(links), problems)


def _held(answer: Answer | None) -> tuple[bool | None, str | None]:
    return (answer.holds, answer.detail) if answer is not None else (None, None)


def _last(o: Outcome) -> str:
    """A move's own reason: the last one says what it did (`canary v2: 10 % …`)."""
    return f"{o.reasons[-1] if o.reasons else o.kind} (decision {o.decision_id})"
