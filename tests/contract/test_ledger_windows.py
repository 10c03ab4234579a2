"""Contract: batch windows behave the same in every `Ledger` (memory fake, SQLite, Firestore)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from interlock.core import batch
from interlock.core.batch import Member
from interlock.ports import Conflict, Ledger
from tests.contract.test_ledger import ledger  # noqa: F401  (the fixture, every implementation)

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def member(n: int, generation: int = 1) -> Member:
    return Member("landing", f"in/dt=1/part-{n:05d}.csv", generation, 10 + n, "bWQ1", T0)


class TestWindowLedgerContract:
    def test_join_opens_epoch_zero_and_counts_when_the_first_object_arrives(
        self, ledger: Ledger
    ) -> None:
        window, added = ledger.join("p", "1", member(1), T0)
        assert added and (window.epoch, window.state, window.count) == (0, "open", 1)
        assert ledger.window("p", "1", 0) == window
        assert ledger.members("p", "1", 0) == [member(1)]

    def test_join_is_a_no_op_when_the_notification_is_delivered_again(self, ledger: Ledger) -> None:
        first, _ = ledger.join("p", "1", member(1), T0)
        again, added = ledger.join("p", "1", member(1), T0 + timedelta(seconds=5))
        assert not added and again == first
        assert ledger.window("p", "1", 0).count == 1  # type: ignore[union-attr]

    def test_a_new_generation_is_a_new_member_when_an_object_is_overwritten(
        self, ledger: Ledger
    ) -> None:
        ledger.join("p", "1", member(1, 1), T0)
        _, added = ledger.join("p", "1", member(1, 2), T0)
        assert added and len(ledger.members("p", "1", 0)) == 2

    def test_an_arrival_joins_the_next_epoch_when_the_window_is_closing(
        self, ledger: Ledger
    ) -> None:
        window, _ = ledger.join("p", "1", member(1), T0)
        ledger.advance(batch.closing(window, "quiet", T0), window.version)
        later, added = ledger.join("p", "1", member(2), T0 + timedelta(seconds=1))
        assert added and later.epoch == 1 and later.state == "open"
        # A redelivery of the first object stays in the closing window: never in two.
        again, added = ledger.join("p", "1", member(1), T0 + timedelta(seconds=2))
        assert not added and again.epoch == 0 and again.state == "closing"

    def test_advance_conflicts_when_a_member_joined_since_the_read(self, ledger: Ledger) -> None:
        window, _ = ledger.join("p", "1", member(1), T0)
        ledger.join("p", "1", member(2), T0)
        with pytest.raises(Conflict):
            ledger.advance(batch.closing(window, "quiet", T0), window.version)

    def test_advance_adds_only_unknown_members_when_the_listing_is_reconciled(
        self, ledger: Ledger
    ) -> None:
        window, _ = ledger.join("p", "1", member(1), T0)
        closing = ledger.advance(batch.closing(window, "sentinel", T0), window.version)
        ledger.join("p", "1", member(9), T0)  # epoch 1
        found = [replace(member(n), found_by="listing") for n in (1, 2, 9)]
        done = ledger.advance(replace(closing, reconciled=True, version=closing.version + 1),
                              closing.version, found)  # fmt: skip
        assert done.count == 2
        members = {m.key: m.found_by for m in ledger.members("p", "1", 0)}
        assert members == {member(1).key: "notification", member(2).key: "listing"}
        assert [m.key for m in ledger.members("p", "1", 1)] == [member(9).key]

    def test_sentinel_marks_the_open_window_when_it_arrives(self, ledger: Ledger) -> None:
        ledger.join("p", "1", member(1), T0)
        window, _ = ledger.join("p", "1", None, T0)
        assert window.sentinel and window.count == 1 and window.epoch == 0

    def test_windows_lists_by_state_newest_first_when_several_exist(self, ledger: Ledger) -> None:
        a, _ = ledger.join("p", "a", member(1), T0)
        b, _ = ledger.join("p", "b", member(2), T0 + timedelta(seconds=1))
        ledger.join("q", "a", member(3), T0 + timedelta(seconds=2))
        ledger.advance(batch.closing(a, "quiet", T0), a.version)
        assert [w.partition for w in ledger.windows(("open",), "p")] == ["b"]
        assert [w.pipeline for w in ledger.windows(("open", "closing"))] == ["q", "p", "p"]

    def test_every_object_is_a_member_exactly_once_when_deliveries_race(
        self, ledger: Ledger
    ) -> None:
        arrivals = [member(n % 12) for n in range(36)]  # each delivered three times

        def deliver(m: Member) -> bool:
            return ledger.join("p", "1", m, T0)[1]

        with ThreadPoolExecutor(8) as pool:
            added = list(pool.map(deliver, arrivals))
        assert sum(added) == 12
        assert ledger.window("p", "1", 0).count == 12  # type: ignore[union-attr]
        assert len(ledger.members("p", "1", 0)) == 12
