"""Fakes: an in-memory `Probe` (the smoke check's request); `tests/contract` keeps it honest.

Answers 200 with a prediction unless told otherwise for a URL (`answer`), records every request
(URL, body, audience, timeout), and can fail to reach a URL (`unreachable`: TransientError).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from interlock.core.errors import TransientError
from interlock.ports import ProbeAnswer

OK = ProbeAnswer(200, json.dumps({"predictions": [{"label": 1, "score": 0.9}]}))


@dataclass
class Probed:
    url: str
    body: Mapping[str, object]
    audience: str | None
    timeout_s: float


@dataclass
class FakeProbe:
    answers: dict[str, ProbeAnswer] = field(default_factory=dict)  # by URL prefix
    unreachable: set[str] = field(default_factory=set)
    requests: list[Probed] = field(default_factory=list)

    def answer(self, url_prefix: str, status: int | None, body: str) -> None:
        self.answers[url_prefix] = ProbeAnswer(status, body)

    def post(
        self, url: str, body: Mapping[str, object], audience: str | None, timeout_s: float
    ) -> ProbeAnswer:
        self.requests.append(Probed(url, dict(body), audience, timeout_s))
        if any(url.startswith(u) for u in self.unreachable):
            raise TransientError(f"smoke check POST {url}: ConnectionRefusedError")
        for prefix, answer in self.answers.items():
            if url.startswith(prefix):
                return answer
        return OK
