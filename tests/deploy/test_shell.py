"""Deploy: the shell reader (tests/deploy/shell.py) sees each gcloud command as the shell runs it."""

from __future__ import annotations

from tests.deploy.shell import gcloud_commands


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
