"""CLI layer: `interlock lineage MODEL [VERSION | --serving]` — the version's chain from the bytes
it was trained on to its share of traffic now, each link with its source and whether it still holds.

The ledger is read first (evaluation, run, moves, verdicts); then the registry, Airflow and the
object store are asked, each at most once (`cli/upstreams.py`). Assembly is `core/lineage.py`.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from interlock.cli.common import fail, load_policy_or_fail, open_ledger
from interlock.cli.target import resolve
from interlock.cli.upstreams import Upstream, upstreams
from interlock.core import history, lineage
from interlock.core.codec import encode, format_time
from interlock.core.errors import PermanentError, TransientError
from interlock.core.events import GCS_URI
from interlock.core.lineage import Answer, Chain, RegistryVersion

# How far back the ledger is read: every decision of a model for months of canaries.
OUTCOMES_READ = 5000
RUNS_READ = 1000
VERSION = re.compile(r"v?([0-9]{1,18})")
MANIFESTS = "/_interlock/manifests/"  # a batch window's input (core/batch.py `manifest_name`)
MEMBERS_CHECKED = 100  # a manifest's objects asked about, one request each


def context(args: Any) -> tuple[Any, Any, Any, Any]:
    """(target, model policy, ledger, the model's outcomes): shared with `history`."""
    target = resolve(args.project, args.ledger)
    policy = load_policy_or_fail(
        args.policy or os.environ.get("INTERLOCK_POLICY") or (target.local or {}).get("policy")
    )
    if args.model not in {m.name for m in policy.models}:
        known = ", ".join(m.name for m in policy.models) or "none"
        fail(f"unknown model {args.model!r} (the policy's models: {known})")
    ledger = open_ledger(target.ledger or "firestore", target.project)
    outcomes = ledger.outcomes(args.model, limit=OUTCOMES_READ)
    return target, policy.model(args.model), ledger, outcomes


def lineage_command(args: Any) -> int:
    target, mp, ledger, outcomes = context(args)
    version = _version(args, outcomes)
    ev = lineage.evidence(version, outcomes, ledger.runs(limit=RUNS_READ))
    ups = upstreams(target, mp.vertex_model.split("/")[3], args.offline)
    registry = _registry(ups.registry, mp.vertex_model, version)
    if ev.gate is None and not ev.moves and not isinstance(registry, RegistryVersion):
        fail(f"{args.model} v{version}: the ledger has no decision on it and the registry "
             f"no such version ({registry.detail})")  # fmt: skip
    found = registry if isinstance(registry, RegistryVersion) else None
    uri, md5 = lineage.input_of(ev, found)
    run_id = lineage.run_of(ev, found)
    input_check = _object(ups.storage, uri, md5) if uri else None
    members = _members(ups.storage, uri) if uri and MANIFESTS in uri else []
    checked = [(m, _object(ups.storage, m, m_md5)) for m, m_md5 in members[:MEMBERS_CHECKED]]
    run_check = _run(ups.airflow, ev.run.dag_id, run_id) if ev.run and run_id else None
    built = lineage.chain(
        args.model, ev, registry, input_check, run_check, checked, len(members) - len(checked)
    )
    if args.json:
        print(json.dumps(encode(built), indent=2))
    else:
        _print(built, len(outcomes) >= OUTCOMES_READ)
    return 0


def _version(args: Any, outcomes: list[Any]) -> str:
    if args.serving == bool(args.version):
        fail("give a VERSION (e.g. 2 or v2) or --serving, not both")
    if args.serving:
        share = history.serving_version(outcomes)
        if share is None:
            fail(f"nothing serves {args.model}: the ledger has no traffic move for it")
        return share.version
    match = VERSION.fullmatch(args.version)
    if match is None:
        fail(f"VERSION must be a Vertex version id like 2 or v2, got {args.version[:40]!r}")
    return match[1]


def _asked(upstream: Upstream, what: str, call: Any) -> Any:
    """`call(client)`; an upstream that is missing or down is an Answer saying so, never a crash."""
    if upstream.build is None:
        return Answer(None, f"{what}: {upstream.missing}")
    try:
        return call(upstream.client())
    except PermanentError as err:
        return err
    except (TransientError, OSError) as err:
        return Answer(None, f"{what}: could not ask ({err})")


def _registry(upstream: Upstream, vertex_model: str, version: str) -> RegistryVersion | Answer:
    found = _asked(upstream, "registry", lambda r: r.get_version(vertex_model, version))
    if isinstance(found, PermanentError):
        return Answer(False, f"the registry has no {vertex_model}@{version}: {found}")
    if isinstance(found, Answer):
        return found
    return RegistryVersion(
        name=f"{vertex_model}@{version}",
        aliases=tuple(found.aliases),
        labels=dict(found.labels),
        description=found.description,
        artifact_uri=found.artifact_uri,
        created=found.created,
    )


def _object(upstream: Upstream, uri: str, md5: str | None) -> Answer:
    if not re.fullmatch(GCS_URI, uri):
        return Answer(None, f"{uri} is not a pinned gs://BUCKET/NAME#GENERATION")
    bucket, _, rest = uri.removeprefix("gs://").partition("/")
    name, _, generation = rest.rpartition("#")
    found = _asked(upstream, "storage", lambda s: s.generation(bucket, name, int(generation)))
    if isinstance(found, Answer):
        return found
    if isinstance(found, PermanentError):
        return Answer(None, f"storage refused: {found}")
    stored = (found.size, found.md5) if found is not None else None
    return lineage.input_answer(uri, md5, stored)


def _members(upstream: Upstream, uri: str) -> list[tuple[str, str | None]]:
    """The objects a batch window's manifest lists (the manifest is written once, never changed)."""
    bucket, _, rest = uri.removeprefix("gs://").partition("/")
    data = _asked(upstream, "storage", lambda s: s.read(bucket, rest.rpartition("#")[0]))
    return lineage.manifest_members(data) if isinstance(data, bytes) else []


def _run(upstream: Upstream, dag_id: str, run_id: str) -> Answer:
    found = _asked(upstream, "Airflow", lambda d: d.get_run(dag_id, run_id))
    if isinstance(found, Answer):
        return found
    if isinstance(found, PermanentError):
        gone = found.field == "run_id"
        return lineage.run_answer(run_id, None) if gone else Answer(None, f"Airflow: {found}")
    return lineage.run_answer(run_id, found.state)


MARK = {True: "verified", False: "NO LONGER HOLDS", None: "not verified"}


def _print(c: Chain, truncated: bool) -> None:
    print(f"{c.model} v{c.version}: {c.share} % of traffic now")
    for link in c.links:
        when = f"{format_time(link.at)}  " if link.at else ""
        print(f"  {link.step:<10} {when}{link.text}")
        check = f"; {MARK[link.holds]}: {link.check}" if link.check else ""
        print(f"  {'':<10} from {link.source}{check}")
    if truncated:
        print(f"(only the newest {OUTCOMES_READ} decisions of {c.model} were read)")
    for problem in c.problems:
        print(f"WARNING: {problem}")
