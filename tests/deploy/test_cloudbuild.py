"""Deploy: cloudbuild.yaml, deploy/*.sh and docs/iam.md agree with each other, with the code, and
with the installed Google Cloud CLI (every gcloud command path and flag exists)."""

from __future__ import annotations

import ast
import itertools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest
import yaml

from interlock import bootstrap, topics
from tests.fixtures.components import require

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))
BUILD = ROOT / "cloudbuild.yaml"
IAM_DOC = ROOT / "docs" / "iam.md"
OPS_DOC = ROOT / "docs" / "operations.md"
SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET|KEY", re.IGNORECASE)
COMMAND_WORD = re.compile(r"[a-z][a-z0-9-]*")
# `gcloud` where a shell command starts, not inside a message such as "run 'gcloud auth login'".
GCLOUD_AT = re.compile(
    r"(?:^|\$\(|[;&|]|\b(?:if|elif|while|until|then|do|else)\b|!)[ \t]*(gcloud)[ \t]", re.M
)


# --- reading shell -------------------------------------------------------------------------


def logical_text(text: str) -> str:
    """Full-line comments dropped and backslash continuations joined."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return re.sub(r"\\\n", " ", "\n".join(lines))


def command_at(text: str, start: int) -> str:
    """The text of the simple command starting at `start`, redirections removed.

    Stops at an unquoted `|`, `;`, `&`, newline, comment, or the `)` closing an enclosing `$(`.
    """
    out: list[str] = []
    stack: list[str] = []
    i = start
    while i < len(text):
        c = text[i]
        mode = stack[-1] if stack else ""
        if mode == "'":
            if c == "'":
                stack.pop()
        elif mode == '"':
            if c == "\\":
                out.append(text[i : i + 2])
                i += 2
                continue
            if c == '"':
                stack.pop()
            elif text.startswith("$(", i):
                stack.append("$(")
                out.append("$(")
                i += 2
                continue
        else:
            if c == "\\":
                out.append(text[i : i + 2])
                i += 2
                continue
            if c in "'\"":
                stack.append(c)
            elif text.startswith("$(", i):
                stack.append("$(")
                out.append("$(")
                i += 2
                continue
            elif c == "(":
                stack.append("(")
            elif c == ")":
                if not stack:
                    break
                stack.pop()
            elif not stack and (c in "|;&\n" or (c == "#" and text[i - 1].isspace())):
                break
            elif not stack and c in "<>":
                # A redirection anywhere in the command: drop it with its target and fd.
                if out and out[-1].isdigit() and (len(out) < 2 or out[-2].isspace()):
                    out.pop()
                m = re.compile(r"[<>]+(?:&\d+|[ \t]*[^\s;|&<>]+)").match(text, i)
                assert m is not None
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def gcloud_commands(text: str) -> list[list[str]]:
    """Every `gcloud …` command in a shell text, as words (quotes removed, variables kept)."""
    flat = logical_text(text)
    found = []
    for m in GCLOUD_AT.finditer(flat):
        words = shlex.split(command_at(flat, m.start(1)))
        found.append(words)
    return found


def markdown_shell(text: str) -> str:
    """The fenced bash/sh code blocks of a markdown page."""
    return "\n".join(re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S))


def assignments(text: str) -> dict[str, list[str | list[str]]]:
    """name → the values the scripts may give it; self-referencing ones accumulate.

    Alternatives (if/else branches) are all kept: a check must hold for every branch.
    """
    values: dict[str, list[str | list[str]]] = {}
    flat = logical_text(text)
    pattern = re.compile(
        r"""^[ \t]*(?:local[ \t]+)?([A-Za-z_]\w*)=(\((?:[^()]|\([^()]*\))*\)|"(?:[^"\\]|\\.)*"|'[^']*'|\S*)"""
        r"""|^[ \t]*:[ \t]+"\$\{([A-Za-z_]\w*):[=?]([^}]*)\}\"""",
        re.M,
    )
    for m in pattern.finditer(flat):
        if m.group(3):
            name, raw = m.group(3), m.group(4)
            value: str | list[str] = "" if raw.startswith("set ") else raw
            if m.group(0).count(":?"):
                continue
        else:
            name, raw = m.group(1), m.group(2)
            if raw.startswith("("):
                value = shlex.split(raw[1:-1])
            else:
                value = shlex.split(raw)[0] if raw.strip() else ""
        if isinstance(value, str) and re.search(rf"\$\{{{name}\}}|\${name}\b", value):
            values[name] = [
                v.replace("${" + name + "}", prev) if isinstance(prev, str) else v
                for prev in values.get(name, [""])
                for v in [value]
            ]
        else:
            values.setdefault(name, []).append(value)
    return values


def expand(text: str, env: dict[str, list[str | list[str]]], depth: int = 0) -> list[str]:
    """Every value `text` may take, expanding ${NAME} / $NAME from `env` (unknown names stay)."""
    refs = re.findall(r"\$\{(\w+)\}|\$(\w+)", text)
    names = [a or b for a, b in refs if (a or b) in env]
    if not names or depth > 24:
        return [text]
    name = names[0]
    out: list[str] = []
    for value in env[name]:
        as_text = " ".join(value) if isinstance(value, list) else value
        replaced = text.replace("${" + name + "}", as_text)
        replaced = re.sub(rf"\${name}\b", lambda _m, t=as_text: t, replaced)
        out.extend(expand(replaced, env, depth + 1))
    return list(dict.fromkeys(out))[:32]


def expand_words(words: list[str], env: dict[str, list[str | list[str]]]) -> list[list[str]]:
    """Alternatives of a command's words, where a word that is only a variable may be flags."""
    choices = []
    for word in words:
        m = re.fullmatch(r"\$\{(\w+)(?:\[@\])?\}|\$(\w+)", word)
        name = m and (m.group(1) or m.group(2))
        alts = []
        if name and name in env:
            for value in env[name]:
                alts.append(
                    value if isinstance(value, list) else [v for v in expand(value, env) if v]
                )
        # Only a variable holding flags is spliced in; a positional value stays as written, so
        # it is never mistaken for a command word.
        if alts and all(w.startswith("--") for alt in alts for w in alt):
            choices.append(alts)
        else:
            choices.append([[word]])
    return [
        [w for part in combo for w in part]
        for combo in itertools.islice(itertools.product(*choices), 64)
    ]


@cache
def script_env(path: Path) -> dict[str, list[str | list[str]]]:
    text = path.read_text()
    if "lib.sh" in text and path.name != "lib.sh":
        text = (DEPLOY / "lib.sh").read_text() + "\n" + text
    return assignments(text)


def flags(words: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for word in words:
        if word == "--":
            break
        if word.startswith("--"):
            name, _, value = word.partition("=")
            out.setdefault(name, []).append(value)
    return out


@cache
def cli_tree() -> dict | None:
    """The installed CLI's static command tree (shipped for shell completion), if present."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    tree = Path(os.path.realpath(gcloud)).parents[1] / "data" / "cli" / "gcloud_completions.py"
    if not tree.is_file():
        return None
    namespace: dict = {}
    exec(compile(tree.read_text(), str(tree), "exec"), namespace)
    return namespace["STATIC_COMPLETION_CLI_TREE"]


def command_path(words: list[str]) -> tuple[str, ...]:
    """The command group path after `gcloud`: command words up to the first flag or value.

    A literal value (`pull interlock-dead-letter-hold`) looks like a command word, so the
    installed CLI's tree decides where the path ends; without the tree, `--help` resolves it.
    """
    path: list[str] = []
    node = cli_tree()
    for word in words[1:]:
        if not COMMAND_WORD.fullmatch(word):
            break
        if node is not None:
            if word not in node.get("commands", {}):
                break
            node = node["commands"][word]
        path.append(word)
    return tuple(path)


@cache
def all_commands() -> list[tuple[str, list[str], dict[str, list[str | list[str]]]]]:
    """(where, words, variables) for every gcloud command in the scripts, the build and the docs."""
    found = []
    for script in SCRIPTS:
        env = script_env(script)
        for words in gcloud_commands(script.read_text()):
            for alt in expand_words(words, env):
                found.append((script.name, alt, env))
    build = yaml.safe_load(BUILD.read_text())
    for step in build["steps"]:
        text = " ".join(str(a) for a in step.get("args", []))
        if step.get("entrypoint") == "gcloud":
            text = "gcloud " + text
        found.extend(("cloudbuild.yaml", w, {}) for w in gcloud_commands(text))
    for doc in (IAM_DOC, OPS_DOC):
        found.extend((doc.name, w, {}) for w in gcloud_commands(markdown_shell(doc.read_text())))
    return found


def commands(*path: str, where: str | None = None) -> list[tuple[str, list[str], dict]]:
    return [
        c
        for c in all_commands()
        if command_path(c[1])[: len(path)] == path and (where is None or c[0] == where)
    ]


LOOP = re.compile(
    r"^[ \t]*for (\w+) in ([^\n;]*); do\n((?:(?![ \t]*for \w+ in )[^\n]*\n)*?)[ \t]*done\b[^\n]*",
    re.M,
)


def unrolled(text: str, env: dict[str, list[str | list[str]]]) -> str:
    """`text` (comments dropped, continuations joined) with each `for X in LIST` loop written out.

    Innermost loops first. A list word that is one variable is expanded and word-split; a loop
    over anything else (`"${pids[@]}"`, `${A//,/ }`) keeps its body once, with `X` unresolved.
    """
    flat = logical_text(text)
    while m := LOOP.search(flat):
        var, items_text, body = m.groups()
        items: list[str] | None = []
        for word in shlex.split(items_text):
            ref = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", word)
            if ref and (ref.group(1) or ref.group(2)) in env:
                values = expand(word, env)
                if len(values) != 1:
                    items = None
                    break
                items.extend(values[0].split())
            elif "$" in word:
                items = None
                break
            else:
                items.append(word)
        pattern = re.compile(rf"\$\{{{var}\}}|\${var}\b")
        if items is None:
            copies = [body]
        else:
            copies = [pattern.sub(lambda _m, item=item: item, body) for item in items]
        flat = flat[: m.start()] + "".join(copies) + flat[m.end() :]
    return flat


@cache
def script_commands(name: str) -> list[tuple[list[str], str | None]]:
    """(words, function) for every gcloud command of a script, loops unrolled; `function` is
    the deployed function whose Eventarc subscription `trigger_subscription` last looked up
    (None before the first lookup), i.e. the subscription a `${subscription}` word names."""
    path = DEPLOY / name
    env = script_env(path)
    flat = unrolled(path.read_text(), env)
    events = [(m.start(), "gcloud", m) for m in GCLOUD_AT.finditer(flat)]
    lookups = re.finditer(r'trigger_subscription "([^"]+)"', flat)
    events += [(m.start(), "lookup", m) for m in lookups]
    current: str | None = None
    out = []
    for _, kind, m in sorted(events, key=lambda e: e[0]):
        if kind == "lookup":
            (current,) = expand(m.group(1), env)
            continue
        for words in expand_words(shlex.split(command_at(flat, m.start(1))), env):
            out.append((words, current))
    return out


def _deployed_names() -> dict[str, str]:
    """Deployed function name → entry point."""
    lib = script_env(DEPLOY / "lib.sh")
    out = {}
    for _, words, _ in commands("functions", "deploy", where="functions.sh"):
        (name,) = expand(words[3], lib)
        out[name] = flags(words)["--entry-point"][0]
    return out


def _account(member: str) -> str:
    return member.removeprefix("serviceAccount:")


@cache
def grants() -> list[tuple[str, str, str, str]]:
    """(command, resource, member, role) of every binding iam.sh and deployer.sh add."""
    out = []
    for name in ("iam.sh", "deployer.sh"):
        env = script_env(DEPLOY / name)
        for words, function in script_commands(name):
            at = [i for i, w in enumerate(words) if w.endswith("-policy-binding")]
            if not at:
                continue
            command = " ".join(words[1 : at[0] + 1])
            resource = next((w for w in words[at[0] + 1 :] if not w.startswith("-")), "")
            if resource.startswith("${subscription") and function:
                resource = f"the Eventarc subscription of {function}"
            f = flags(words)
            roles = f.get("--role", ["roles/run.invoker"])
            for member in (m for v in f.get("--member", []) for m in expand(v, env)):
                for role in (_normalise(r) for v in roles for r in expand(v, env)):
                    for where in expand(resource, env):
                        out.append((command, where, member, role))
    return out


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


def _deploys() -> dict[str, list[list[str]]]:
    """entry point → alternatives of its deploy command."""
    out: dict[str, list[list[str]]] = {}
    for _, words, _ in commands("functions", "deploy", where="functions.sh"):
        entry = flags(words)["--entry-point"][0]
        out.setdefault(entry, []).append(words)
    return out


def test_each_function_deploys_with_its_own_service_account_never_the_compute_default():
    deploys = _deploys()
    assert set(deploys) == _entry_points() == set(topics.SUBSCRIBERS.values())
    # Five: the four deciding functions and on_dead_letter. A sixth must be wired here on purpose.
    assert len(deploys) == 5, sorted(deploys)
    lib = script_env(DEPLOY / "lib.sh")
    created = (DEPLOY / "iam.sh").read_text()
    accounts = {}
    for entry, alternatives in deploys.items():
        for words in alternatives:
            f = flags(words)
            assert len(f.get("--service-account", [])) == 1, f"{entry}: --service-account"
            (account,) = expand(f["--service-account"][0], lib)
            assert "-compute@developer.gserviceaccount.com" not in account
            assert account.endswith(".iam.gserviceaccount.com"), account
            accounts.setdefault(entry, set()).add(account)
    assert all(len(a) == 1 for a in accounts.values())
    flat = [next(iter(a)) for a in accounts.values()]
    assert len(set(flat)) == len(flat) == 5, "two functions share a service account"
    for name, values in lib.items():
        if name.startswith("SA_") and values[0] in flat:
            assert f'ensure_account "${{{name}}}"' in created, f"iam.sh does not create {name}"


def test_each_function_is_gen2_python311_from_functions_with_retry_on_its_topic():
    lib = script_env(DEPLOY / "lib.sh")
    for entry, alternatives in _deploys().items():
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
    functions = _deployed_names()
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


def _normalise(role: str) -> str:
    return re.sub(r"^projects/[^/]+/roles/", "", role.strip("`"))


def _granted_roles() -> set[str]:
    roles = set()
    for where, words, env in all_commands():
        if not where.endswith(".sh"):
            continue
        path = command_path(words)
        if path == ("functions", "add-invoker-policy-binding"):
            roles.add("roles/run.invoker")
        for value in flags(words).get("--role", []):
            roles.update(_normalise(v) for v in expand(value, env))
    return roles


def _documented_roles() -> set[str]:
    roles = set()
    for table in re.findall(r"(?:^\|.*\|\n)+", IAM_DOC.read_text(), re.M):
        rows = [[c.strip() for c in r.strip().strip("|").split("|")] for r in table.splitlines()]
        header = rows[0]
        if "Role" not in header:
            continue
        column = header.index("Role")
        for row in rows[2:]:
            roles.update(_normalise(r) for r in re.findall(r"`([^`]+)`", row[column]))
    return roles


def test_every_role_granted_is_documented_and_every_documented_role_is_granted():
    granted, documented = _granted_roles(), _documented_roles()
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


def _function_accounts() -> dict[str, str]:
    """Entry point → the e-mail of the account it runs as."""
    lib = script_env(DEPLOY / "lib.sh")
    return {
        entry: expand(flags(alternatives[0])["--service-account"][0], lib)[0]
        for entry, alternatives in _deploys().items()
    }


def test_on_dead_letter_holds_the_ledger_and_the_decisions_topic_and_nothing_else():
    account = _function_accounts()["on_dead_letter"]
    held = {(c, r, role) for c, r, m, role in grants() if _account(m) == account}
    assert held == {
        ("projects add-iam-policy-binding", "${PROJECT_ID}", "roles/datastore.user"),
        ("pubsub topics add-iam-policy-binding", topics.DECISIONS, "roles/pubsub.publisher"),
    }


def test_only_the_deciding_functions_and_pubsub_may_publish_dead_letters():
    accounts = _function_accounts()
    publishers = {
        _account(m)
        for c, r, m, role in grants()
        if c == "pubsub topics add-iam-policy-binding"
        and r == topics.DEAD_LETTER
        and role == "roles/pubsub.publisher"
    }
    deciding = {a for entry, a in accounts.items() if entry not in NO_DEAD_LETTER_POLICY}
    # on_dead_letter reads this topic: publishing there would feed it its own messages.
    assert publishers == deciding | {"$(pubsub_agent)"}
    assert accounts["on_dead_letter"] not in publishers


def test_every_function_is_invoked_by_the_trigger_account_and_its_subscription_set_up():
    lib = script_env(DEPLOY / "lib.sh")
    (trigger,) = expand("${SA_TRIGGER}", lib)
    functions = set(_deployed_names())
    invoked = {
        r
        for c, r, m, role in grants()
        if c == "functions add-invoker-policy-binding" and _account(m) == trigger
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
            rows.add((_normalise(role), topic.group(1) if topic else None))
        out[head.group(1)] = (head.group(2), rows)
    return out


def test_each_function_account_section_of_iam_md_lists_exactly_its_grants():
    names = {entry: name for name, entry in _deployed_names().items()}
    sections = _doc_sections()
    accounts = _function_accounts()
    assert {a.split("@")[0] for a in accounts.values()} == set(sections)
    for entry, account in accounts.items():
        function, documented = sections[account.split("@")[0]]
        assert function == names[entry], f"docs/iam.md: {account} runs {names[entry]}"
        granted = {
            (role, r if c == "pubsub topics add-iam-policy-binding" else None)
            for c, r, m, role in grants()
            if _account(m) == account
        }
        assert documented == granted, f"docs/iam.md, section of {account}"


# --- the installed Google Cloud CLI --------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _help(path: tuple[str, ...], config: str) -> tuple[int, str]:
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_CONFIG": config}
    proc = subprocess.run(
        ["gcloud", *path, "--help"], capture_output=True, text=True, env=env, timeout=60
    )
    return proc.returncode, ANSI.sub("", proc.stdout + proc.stderr)


def _flag_known(flag: str, help_text: str) -> bool:
    name = flag[2:]
    words = set(re.findall(r"--(?:\[no-\])?[a-z0-9][a-z0-9-]*", help_text))
    if f"--{name}" in words or f"--[no-]{name}" in words:
        return True
    return name.startswith("no-") and f"--[no-]{name[3:]}" in words


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
        helps = dict(zip(used, pool.map(lambda p: _help(p, config), used), strict=True))
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
            if not _flag_known(flag, text):
                problems.append(f"gcloud {' '.join(path)} {flag} ({', '.join(sorted(places))})")
    assert problems == [], "\n".join(problems)


def test_the_command_extraction_sees_continuations_subshells_and_redirections():
    text = (
        'x="$(gcloud run services describe "${s}" --region=r \\\n'
        "  --format='value(a)' 2>/dev/null)\"\n"
        "gcloud projects add-iam-policy-binding p --condition=None >/dev/null \\\n"
        "  --member=m --role=roles/x\n"
        "log \"run 'gcloud auth login' first\"\n"
    )
    got = gcloud_commands(text)
    assert got == [
        ["gcloud", "run", "services", "describe", "${s}", "--region=r", "--format=value(a)"],
        ["gcloud", "projects", "add-iam-policy-binding", "p", "--condition=None",
         "--member=m", "--role=roles/x"],
    ]  # fmt: skip


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_strict_and_valid_bash(script):
    text = script.read_text()
    assert "set -euo pipefail" in text or "lib.sh" in text
    subprocess.run(["bash", "-n", str(script)], check=True)
