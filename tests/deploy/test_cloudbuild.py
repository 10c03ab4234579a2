"""Deploy: cloudbuild.yaml, deploy/*.sh and docs/iam.md agree with each other, with the code, and
with the installed Google Cloud CLI (every gcloud command path and flag exists)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from interlock import bootstrap, topics
from tests.deploy.gcloud_cli import cli_help, flag_known
from tests.deploy.shell import (
    BUILD,
    DEPLOY,
    IAM_DOC,
    OPS_DOC,
    ROOT,
    SCRIPTS,
    account_of,
    all_commands,
    command_path,
    commands,
    deployed_names,
    deploys,
    expand,
    flags,
    function_accounts,
    granted_roles,
    grants,
    logical_text,
    normalise_role,
    script_commands,
    script_env,
)
from tests.fixtures.components import require

SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET|KEY", re.IGNORECASE)


# --- cloudbuild.yaml -----------------------------------------------------------------------


def test_every_substitution_used_is_declared_and_every_declared_one_is_used():
    text = BUILD.read_text()
    declared = set(yaml.safe_load(text)["substitutions"])
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{(_[A-Z0-9_]+)\}|\$(_[A-Z0-9_]+)", body))
    used_names = {a or b for a, b in used}
    assert used_names - declared == set(), "used but not declared in substitutions:"
    assert declared - used_names == set(), "declared but never used (Cloud Build rejects it)"


def test_every_build_step_runs_an_existing_script_and_each_env_is_read_by_one():
    build = yaml.safe_load(BUILD.read_text())
    scripts = [
        a for step in build["steps"] for a in step.get("args", []) if str(a).startswith("deploy/")
    ]
    assert scripts, "the deploy logic belongs in deploy/*.sh, called by the build"
    for script in scripts:
        assert (ROOT / script).is_file(), script
    all_text = "\n".join(s.read_text() for s in SCRIPTS)
    for entry in build["options"]["env"]:
        name = entry.split("=", 1)[0]
        assert re.search(rf"\$\{{{name}\b", all_text), f"{name} is passed but no script reads it"
    test_step = build["steps"][0]
    script = "\n".join(test_step["args"])
    for needed in ("pip install", "'.[dev]'", "ruff check", "pytest tests/unit", "policy check"):
        assert needed in script, f"the first step must run {needed}"
    for step in build["steps"][1:]:
        assert step["name"].startswith("gcr.io/google.com/cloudsdktool/cloud-sdk")


def test_serving_services_default_matches_the_policy():
    build = yaml.safe_load(BUILD.read_text())
    policy = yaml.safe_load((ROOT / "interlock.yaml").read_text())
    services = {m["service"].rsplit("/", 1)[-1] for m in policy["models"]}
    default = set(re.split(r"[,\s]+", build["substitutions"]["_SERVING_SERVICES"].strip()))
    assert default == services


# --- topics, policy, requirements ----------------------------------------------------------


def test_topic_names_are_the_ones_of_topics_py():
    env = script_env(DEPLOY / "lib.sh")
    names = {v[0] for k, v in env.items() if k.startswith("TOPIC_")}
    assert names == set(topics.ALL)


def test_policy_ships_where_bootstrap_reads_it():
    assert bootstrap.DEFAULT_POLICY == ROOT / "functions" / "interlock.yaml"
    assert 'cp "${POLICY_FILE}" functions/interlock.yaml' in (DEPLOY / "functions.sh").read_text()


def _requirement(line: str) -> tuple[str, str]:
    m = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", line.strip())
    assert m is not None, line
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_function_requirements_cover_the_package_dependencies_with_the_same_floor():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = (ROOT / "functions" / "requirements.txt").read_text().splitlines()
    pinned = dict(_requirement(x) for x in lines if x.strip() and not x.startswith("#"))
    for dep in deps:
        name, spec = _requirement(dep)
        assert name in pinned, f"{name} missing from functions/requirements.txt"
        floor = re.search(r">=([\w.]+)", spec)
        if floor:
            assert f">={floor.group(1)}" in pinned[name], f"{name}: {pinned[name]} vs {spec}"
    assert "google-auth" in pinned


# --- functions -----------------------------------------------------------------------------


def _entry_points() -> set[str]:
    tree = ast.parse((ROOT / "functions" / "main.py").read_text())
    return {
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("on_")
    }


def test_each_function_deploys_with_its_own_service_account_never_the_compute_default():
    found = deploys()
    assert set(found) == _entry_points() == set(topics.SUBSCRIBERS.values())
    # Seven: the four deciding functions, on_alert, on_dead_letter and on_tick. An eighth must
    # be wired here on purpose.
    assert len(found) == 7, sorted(found)
    lib = script_env(DEPLOY / "lib.sh")
    created = (DEPLOY / "iam.sh").read_text()
    accounts = {}
    for entry, alternatives in found.items():
        for words in alternatives:
            f = flags(words)
            assert len(f.get("--service-account", [])) == 1, f"{entry}: --service-account"
            (account,) = expand(f["--service-account"][0], lib)
            assert "-compute@developer.gserviceaccount.com" not in account
            assert account.endswith(".iam.gserviceaccount.com"), account
            accounts.setdefault(entry, set()).add(account)
    assert all(len(a) == 1 for a in accounts.values())
    flat = [next(iter(a)) for a in accounts.values()]
    assert len(set(flat)) == len(flat) == 7, "two functions share a service account"
    for name, values in lib.items():
        if name.startswith("SA_") and values[0] in flat:
            assert f'ensure_account "${{{name}}}"' in created, f"iam.sh does not create {name}"


def test_each_function_is_gen2_python311_from_functions_with_retry_on_its_topic():
    lib = script_env(DEPLOY / "lib.sh")
    for entry, alternatives in deploys().items():
        for words in alternatives:
            f = flags(words)
            assert "--gen2" in f and "--retry" in f, entry
            assert f["--runtime"] == ["python311"] and f["--source"] == ["functions"], entry
            (topic,) = expand(f["--trigger-topic"][0], lib)
            assert topics.SUBSCRIBERS[topic] == entry
            assert "--trigger-service-account" in f and "--timeout" in f and "--memory" in f
            warm = ["1"] if entry == "on_model_observed" else ["0"]
            assert f["--min-instances"] == warm, f"{entry}: --min-instances"
            assert f["--ingress-settings"] == ["internal-only"], entry
            if entry == "on_dead_letter":
                # A ledger write and one publish: a short timeout, no Airflow, no secret.
                assert f["--timeout"] == ["60s"], entry
                assert "--set-secrets" not in f, entry
                assert "AIRFLOW" not in " ".join(f["--set-env-vars"]), entry


def test_no_secret_travels_in_an_environment_variable():
    env_commands = [c for c in all_commands() if "--set-env-vars" in flags(c[1])]
    assert env_commands
    # Branches are expanded independently, so a mount is looked up among every alternative of
    # the same function's deploy (the script sets the env var and the mount in one branch).
    mounts: dict[tuple[str, str], set[str]] = {}
    for where, words, env in env_commands:
        key = (where, (flags(words).get("--entry-point") or [""])[0])
        for value in flags(words).get("--set-secrets", []):
            for expanded in expand(value, env):
                for item in expanded.split(","):
                    target, _, ref = item.partition("=")
                    assert re.fullmatch(r"[\w.-]+:(latest|\d+)", ref), f"{where}: {item}"
                    mounts.setdefault(key, set()).add(target)
    for where, words, env in env_commands:
        key = (where, (flags(words).get("--entry-point") or [""])[0])
        for value in flags(words)["--set-env-vars"]:
            for expanded in expand(value, env):
                for item in expanded.split(","):
                    name, _, val = item.partition("=")
                    if SECRETISH.search(name):
                        assert name.endswith("_FILE") and val in mounts.get(key, set()), (
                            f"{where}: {name} looks like a secret in --set-env-vars; "
                            "use --set-secrets (a mounted file named by *_FILE)"
                        )


def _bootstrap_variables() -> set[str]:
    """The environment variables bootstrap.py's docstring documents (the single truth)."""
    doc = bootstrap.__doc__ or ""
    section = doc[doc.index("Environment") :]
    return set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", section))


def test_every_variable_functions_sh_sets_is_one_bootstrap_documents():
    documented = _bootstrap_variables()
    assert "INTERLOCK_LEASE_TTL_S" in documented
    set_here: dict[str, set[str]] = {}
    for _, words, env in commands("functions", "deploy", where="functions.sh"):
        entry = flags(words)["--entry-point"][0]
        for value in flags(words)["--set-env-vars"]:
            for expanded in expand(value, env):
                for item in expanded.split(","):
                    set_here.setdefault(entry, set()).add(item.partition("=")[0])
    assert set(set_here) == _entry_points()
    for entry, names in set_here.items():
        assert names - documented == set(), f"{entry}: not read by bootstrap.py"
    # It never publishes dead letters, so it is not told where they go.
    assert "INTERLOCK_DEAD_LETTER_TOPIC" not in set_here["on_dead_letter"]


def test_operations_md_lists_every_variable_bootstrap_reads():
    doc = OPS_DOC.read_text()
    section = doc[doc.index("### Environment of the functions") :].split("\n## ", 1)[0]
    missing = {name for name in _bootstrap_variables() if f"`{name}`" not in section}
    assert missing == set(), "docs/operations.md, 'Environment of the functions'"
    lease = re.search(r"^\|[^|\n]*`INTERLOCK_LEASE_TTL_S`[^\n]*$", section, re.M)
    assert lease and "540" in lease.group(0)


# --- Pub/Sub -------------------------------------------------------------------------------


# Subscriptions that must have a retry policy but NO dead-letter policy; every other one has both.
NO_DEAD_LETTER_POLICY = {
    # on_dead_letter's Eventarc subscription reads the dead-letter topic: a dead-letter policy
    # would send its own failures back to the topic it reads, i.e. to itself, forever.
    "on_dead_letter",
    # on_tick's: a tick is evidence of nothing, and the next one comes a minute later.
    "on_tick",
    # The pull subscription that keeps dead letters for inspection: a dead letter of a dead
    # letter has nowhere better to go.
    "interlock-dead-letter-hold",
}
RETRY = {"--min-retry-delay": ["10s"], "--max-retry-delay": ["600s"]}


def _retry(f: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: f.get(k, []) for k in RETRY}


def test_created_subscriptions_have_a_retry_policy_and_a_dead_letter_policy():
    subs = commands("pubsub", "subscriptions", "create")
    assert subs
    names = set()
    for where, words, env in subs:
        f = flags(words)
        assert _retry(f) == RETRY, f"{where}: {words}"
        (name,) = expand(words[4], env)
        names.add(name)
        topic = [t for v in f.get("--topic", []) for t in expand(v, env)]
        if name in NO_DEAD_LETTER_POLICY:
            assert topic == [topics.DEAD_LETTER], f"{where}: {name} reads the dead-letter topic"
            assert "--dead-letter-topic" not in f, f"{where}: {words}"
            continue
        assert "--dead-letter-topic" in f and "--max-delivery-attempts" in f, f"{where}: {words}"
    assert "interlock-dead-letter-hold" in names, "the dead letters' pull subscription is gone"


def test_each_trigger_subscription_gets_its_policies_on_dead_letter_retry_only():
    functions = deployed_names()
    lib = script_env(DEPLOY / "lib.sh")
    updated: dict[str, list[dict[str, list[str]]]] = {}
    for words, function in script_commands("functions.sh"):
        if command_path(words)[:3] == ("pubsub", "subscriptions", "update"):
            assert function is not None and words[4] == "${subscription}", words
            updated.setdefault(function, []).append(flags(words))
    assert set(updated) == set(functions), "every function's subscription, and only those"
    dead_letter_topic = f"projects/${{PROJECT_ID}}/topics/{topics.DEAD_LETTER}"
    for function, alternatives in updated.items():
        for f in alternatives:
            assert _retry(f) == RETRY, function
            if functions[function] in NO_DEAD_LETTER_POLICY:
                assert "--dead-letter-topic" not in f and "--max-delivery-attempts" not in f
                assert "--clear-dead-letter-policy" in f, f"{function}: clear it explicitly"
            else:
                assert [d for v in f["--dead-letter-topic"] for d in expand(v, lib)] == [
                    dead_letter_topic
                ], function
                assert f["--max-delivery-attempts"] == ["${MAX_DELIVERY_ATTEMPTS}"], function


def test_other_subscription_updates_have_a_dead_letter_policy():
    for where, words, _ in commands("pubsub", "subscriptions", "update"):
        if where == "functions.sh":
            continue  # each trigger subscription, checked above
        f = flags(words)
        assert _retry(f) == RETRY and "--dead-letter-topic" in f, f"{where}: {words}"


# --- IAM -----------------------------------------------------------------------------------


def _documented_roles() -> set[str]:
    roles = set()
    for table in re.findall(r"(?:^\|.*\|\n)+", IAM_DOC.read_text(), re.M):
        rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in table.splitlines()]
        header = rows[0]
        if "Role" not in header:
            continue
        column = header.index("Role")
        for row in rows[2:]:
            roles.update(normalise_role(r) for r in re.findall(r"`([^`]+)`", row[column]))
    return roles


def test_every_role_granted_is_documented_and_every_documented_role_is_granted():
    granted, documented = granted_roles(), _documented_roles()
    assert granted, "no grants found in deploy/*.sh"
    assert granted - documented == set(), "granted but not in docs/iam.md"
    assert documented - granted == set(), "in docs/iam.md but granted by no script"


def test_custom_role_permissions_are_the_documented_ones():
    text = (DEPLOY / "iam.sh").read_text() + (DEPLOY / "deployer.sh").read_text()
    defined = {
        m.group(1): set(m.group(2).split(","))
        for m in re.finditer(r'ensure_role (interlock\.\w+) "[^"]*" \\\n\s*"([^"]+)"', text)
    }
    for m in re.finditer(
        r"roles create (interlock\.\w+).*?--permissions=(\S+)", logical_text(text)
    ):
        defined[m.group(1)] = set(m.group(2).split(","))
    doc = IAM_DOC.read_text()
    table = doc[doc.index("| Custom role |") :].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(interlock\.\w+)` \| ([^|]+) \|", table, re.M)
    documented = {name: set(re.findall(r"`([\w.]+)`", perms)) for name, perms in rows}
    assert defined == documented


def test_no_project_wide_pubsub_or_secret_or_run_invoker_grant():
    for where, words, _ in commands("projects", "add-iam-policy-binding"):
        for role in flags(words).get("--role", []):
            assert (
                not role.startswith(
                    (
                        "roles/pubsub.",
                        "roles/secretmanager.",
                        "roles/run.invoker",
                        "roles/iam.serviceAccountUser",
                    )
                )
                or role == "roles/pubsub.admin"
            ), f"{where}: {role} belongs on the resource"


def test_on_dead_letter_holds_the_ledger_and_the_decisions_topic_and_nothing_else():
    account = function_accounts()["on_dead_letter"]
    held = {(c, r, role) for c, r, m, role in grants() if account_of(m) == account}
    assert held == {
        ("projects add-iam-policy-binding", "${PROJECT_ID}", "roles/datastore.user"),
        ("pubsub topics add-iam-policy-binding", topics.DECISIONS, "roles/pubsub.publisher"),
    }


def test_only_the_deciding_functions_and_pubsub_may_publish_dead_letters():
    accounts = function_accounts()
    publishers = {
        account_of(m)
        for c, r, m, role in grants()
        if c == "pubsub topics add-iam-policy-binding"
        and r == topics.DEAD_LETTER
        and role == "roles/pubsub.publisher"
    }
    # The deciding functions, and on_tick which gives up on their pending events; on_dead_letter
    # reads this topic: publishing there would feed it its own messages.
    deciding = {a for entry, a in accounts.items() if entry != "on_dead_letter"}
    assert publishers == deciding | {"$(pubsub_agent)"}
    assert accounts["on_dead_letter"] not in publishers


def test_every_function_is_invoked_by_the_trigger_account_and_its_subscription_set_up():
    lib = script_env(DEPLOY / "lib.sh")
    (trigger,) = expand("${SA_TRIGGER}", lib)
    functions = set(deployed_names())
    invoked = {
        r
        for c, r, m, role in grants()
        if c == "functions add-invoker-policy-binding" and account_of(m) == trigger
    }
    assert invoked == functions
    agent_subscribes = {
        r
        for c, r, m, role in grants()
        if c == "pubsub subscriptions add-iam-policy-binding"
        and m == "serviceAccount:$(pubsub_agent)"
        and role == "roles/pubsub.subscriber"
    }
    assert agent_subscribes == {f"the Eventarc subscription of {f}" for f in functions}


def _doc_sections() -> dict[str, tuple[str, set[tuple[str, str | None]]]]:
    """Account name → (function, {(role, topic or None)}) from docs/iam.md's function sections."""
    out = {}
    doc = IAM_DOC.read_text()
    heads = list(re.finditer(r"^## (interlock-[\w-]+) \(function `([\w-]+)`\)$", doc, re.M))
    for head, nxt in zip(heads, [*heads[1:], None], strict=True):
        body = doc[head.end() : nxt.start() if nxt else len(doc)].split("\n## ", 1)[0]
        rows = set()
        for line in re.findall(r"^\|.*\|$", body, re.M)[2:]:
            role, scope = (c.strip() for c in line.strip("|").split("|")[:2])
            topic = re.search(r"topic `([\w-]+)`", scope)
            rows.add((normalise_role(role), topic.group(1) if topic else None))
        out[head.group(1)] = (head.group(2), rows)
    return out


def test_each_function_account_section_of_iam_md_lists_exactly_its_grants():
    names = {entry: name for name, entry in deployed_names().items()}
    sections = _doc_sections()
    accounts = function_accounts()
    assert {a.split("@")[0] for a in accounts.values()} == set(sections)
    for entry, account in accounts.items():
        function, documented = sections[account.split("@")[0]]
        assert function == names[entry], f"docs/iam.md: {account} runs {names[entry]}"
        granted = {
            (role, r if c == "pubsub topics add-iam-policy-binding" else None)
            for c, r, m, role in grants()
            if account_of(m) == account
        }
        assert documented == granted, f"docs/iam.md, section of {account}"


# --- the installed Google Cloud CLI --------------------------------------------------------


def test_every_gcloud_command_and_flag_exists_in_the_installed_cli():
    require("Google Cloud CLI", None if shutil.which("gcloud") else "gcloud is not on PATH")
    used: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for where, words, _ in all_commands():
        path = command_path(words)
        assert path, f"{where}: gcloud without a command: {words}"
        for flag in flags(words):
            used.setdefault(path, {}).setdefault(flag, set()).add(where)
        used.setdefault(path, {})
    with tempfile.TemporaryDirectory() as config, ThreadPoolExecutor(max_workers=8) as pool:
        helps = dict(zip(used, pool.map(lambda p: cli_help(p, config), used), strict=True))
    problems = []
    for path, used_flags in sorted(used.items()):
        code, text = helps[path]
        if code != 0:
            problems.append(f"gcloud {' '.join(path)}: {text.strip().splitlines()[0]}")
            continue
        name = re.search(r"^NAME\n\s+gcloud ([a-z0-9 -]+?) - ", text, re.M)
        if name and tuple(name.group(1).split()) != path:
            path_words = name.group(1)
            problems.append(f"gcloud {' '.join(path)}: the CLI reads it as gcloud {path_words}")
            continue
        if re.search(r"^(GROUPS|COMMANDS)$", text, re.M):
            problems.append(f"gcloud {' '.join(path)} is a group, not a command")
            continue
        for flag, places in sorted(used_flags.items()):
            if not flag_known(flag, text):
                problems.append(f"gcloud {' '.join(path)} {flag} ({', '.join(sorted(places))})")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_strict_and_valid_bash(script):
    text = script.read_text()
    assert "set -euo pipefail" in text or "lib.sh" in text
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_only_the_ticks_identity_reads_metrics_and_only_as_monitoring_viewer():
    accounts = function_accounts()
    readers = {account_of(m) for c, r, m, role in grants() if role.startswith("roles/monitoring.")}
    assert readers == {accounts["on_tick"]}
    roles = {role for c, r, m, role in grants() if role.startswith("roles/monitoring.")}
    assert roles == {"roles/monitoring.viewer"}


def test_the_monitoring_notification_agent_publishes_to_the_alerts_topic_only():
    agent = "serviceAccount:$(monitoring_notification_agent)"
    held = {(c, r, role) for c, r, m, role in grants() if m == agent}
    assert held == {
        ("pubsub topics add-iam-policy-binding", topics.ALERTS, "roles/pubsub.publisher")
    }
    assert (
        "gcp-sa-monitoring-notification.iam.gserviceaccount.com" in (DEPLOY / "lib.sh").read_text()
    )
