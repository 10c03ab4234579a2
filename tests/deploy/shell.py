"""Tests' reader of the deploy side: every gcloud command in deploy/*.sh, cloudbuild.yaml and the
docs' shell blocks, as words with their variables expanded, and what those commands deploy and grant.

No shell runs: the scripts are read as text (comments dropped, continuations joined, loops
unrolled), and every branch's value of a variable is kept, so a check must hold for each.
"""

from __future__ import annotations

import itertools
import re
import shlex
from functools import cache
from pathlib import Path

import yaml

from tests.deploy.gcloud_cli import cli_tree

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))
BUILD = ROOT / "cloudbuild.yaml"
IAM_DOC = ROOT / "docs" / "iam.md"
OPS_DOC = ROOT / "docs" / "operations.md"
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


# --- what the commands deploy and grant ---------------------------------------------------


def deployed_names() -> dict[str, str]:
    """Deployed function name → entry point."""
    lib = script_env(DEPLOY / "lib.sh")
    out = {}
    for _, words, _ in commands("functions", "deploy", where="functions.sh"):
        (name,) = expand(words[3], lib)
        out[name] = flags(words)["--entry-point"][0]
    return out


def account_of(member: str) -> str:
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
                for role in (normalise_role(r) for v in roles for r in expand(v, env)):
                    for where in expand(resource, env):
                        out.append((command, where, member, role))
    return out


def deploys() -> dict[str, list[list[str]]]:
    """entry point → alternatives of its deploy command."""
    out: dict[str, list[list[str]]] = {}
    for _, words, _ in commands("functions", "deploy", where="functions.sh"):
        entry = flags(words)["--entry-point"][0]
        out.setdefault(entry, []).append(words)
    return out


def function_accounts() -> dict[str, str]:
    """Entry point → the e-mail of the account it runs as."""
    lib = script_env(DEPLOY / "lib.sh")
    return {
        entry: expand(flags(alternatives[0])["--service-account"][0], lib)[0]
        for entry, alternatives in deploys().items()
    }


def normalise_role(role: str) -> str:
    return re.sub(r"^projects/[^/]+/roles/", "", role.strip("`"))


def granted_roles() -> set[str]:
    roles = set()
    for where, words, env in all_commands():
        if not where.endswith(".sh"):
            continue
        path = command_path(words)
        if path == ("functions", "add-invoker-policy-binding"):
            roles.add("roles/run.invoker")
        for value in flags(words).get("--role", []):
            roles.update(normalise_role(v) for v in expand(value, env))
    return roles
