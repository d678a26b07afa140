"""Choosing a collector for a case: the qualified collector with room and the lightest load.

``Staff.choose`` keeps, per group of candidates, a heap it updates lazily as cases move; these
tests hold it to the plain rule it implements (speaking the debtor's language first, then the
lightest load, then the lowest id, never a collector at capacity) over random rosters and long
runs of assignments and departures.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_service.decide import CollectorInfo, Roster, RosterCache, Staff, TeamInfo

TEAMS = [TeamInfo(1, "T1", "early"), TeamInfo(2, "T2", "calls"), TeamInfo(3, "T3", "legal")]


class FixedRoster(RosterCache):
    """A roster given by the test instead of read from the database."""

    def __init__(self, roster: Roster) -> None:
        super().__init__()
        self.roster = roster

    def get(self, session: object) -> Roster:
        return self.roster


def roster_of(collectors: list[CollectorInfo]) -> Roster:
    by_team: dict[int | None, list[CollectorInfo]] = {}
    for collector in collectors:
        by_team.setdefault(collector.team_id, []).append(collector)
    return Roster(TEAMS, {c.id: c for c in collectors}, by_team)


def staff_with(collectors: list[CollectorInfo], loads: dict[int, int]) -> Staff:
    return Staff(None, loads=loads, roster=FixedRoster(roster_of(collectors)))  # type: ignore[arg-type]


def expected_choice(
    collectors: list[CollectorInfo],
    loads: dict[int, int],
    current_id: int | None,
    team_ids: set[int],
    skill: str | None,
    region: str | None,
    language: str | None,
) -> int | None:
    """The rule, written plainly: keep a qualified current collector, else the best with room."""
    by_id = {c.id: c for c in collectors}
    current = by_id.get(current_id) if current_id is not None else None
    if current and current.team_id in team_ids and (skill is None or skill in current.skills):
        return current.id
    candidates = [
        c
        for c in collectors
        if c.team_id in team_ids
        and (skill is None or skill in c.skills)
        and (not c.regions or region in c.regions)
        and loads[c.id] < c.capacity
    ]
    if not candidates:
        return None
    best = min(
        candidates,
        key=lambda c: (
            bool(language and c.languages and language not in c.languages),
            loads[c.id],
            c.id,
        ),
    )
    return best.id


collector_strategy = st.builds(
    lambda team, skills, regions, languages, capacity: (team, skills, regions, languages, capacity),
    st.sampled_from([1, 2, 3]),
    st.frozensets(st.sampled_from(["legal", "high_balance"])),
    st.frozensets(st.sampled_from(["11", "31", "44"])),
    st.frozensets(st.sampled_from(["zh", "en"])),
    st.integers(0, 4),
)

# Few kinds of case, so that the same group of candidates is asked again after loads changed.
step_strategy = st.one_of(
    st.tuples(
        st.just("assign"),
        st.one_of(st.none(), st.integers(1, 6)),
        st.sampled_from([frozenset({1}), frozenset({1, 2})]),
        st.sampled_from([None, "legal"]),
        st.sampled_from([None, "11"]),
        st.sampled_from([None, "zh"]),
    ),
    st.tuples(st.just("leave"), st.integers(1, 6)),
)


@settings(max_examples=300, deadline=None)
@given(
    specs=st.lists(collector_strategy, min_size=1, max_size=6),
    initial=st.lists(st.integers(0, 5), min_size=6, max_size=6),
    steps=st.lists(step_strategy, max_size=60),
)
def test_the_chosen_collector_is_always_the_best_qualified_one_with_room(specs, initial, steps):
    collectors = [
        CollectorInfo(
            i, f"C{i}", f"催收员 {i}", team, tuple(skills), tuple(regions), tuple(langs), cap
        )
        for i, (team, skills, regions, langs, cap) in enumerate(specs, start=1)
    ]
    loads = {c.id: initial[c.id - 1] for c in collectors}
    staff = staff_with(collectors, loads)
    for step in steps:
        if step[0] == "leave":  # a case leaves a collector (closed, or moved to another team)
            collector_id = step[1]
            if loads.get(collector_id, 0) > 0:
                staff.moved(collector_id, None)
            continue
        _, current_id, team_ids, skill, region, language = step
        expected = expected_choice(
            collectors, loads, current_id, set(team_ids), skill, region, language
        )
        teams = [t for t in TEAMS if t.id in team_ids]
        chosen = staff.choose(current_id, teams, skill, region, language)
        assert (chosen.id if chosen else None) == expected, (step, dict(loads))
        if chosen is not None and chosen.id != current_id:
            staff.moved(current_id, chosen.id)  # the case goes to them, as an assignment does


def test_a_full_collector_takes_cases_again_once_one_leaves():
    collectors = [
        CollectorInfo(1, "C1", "甲", 1, (), (), ("zh",), 2),
        CollectorInfo(2, "C2", "乙", 1, (), (), ("zh",), 5),
    ]
    loads = {1: 0, 2: 3}
    staff = staff_with(collectors, loads)
    picks = []
    for _ in range(3):
        chosen = staff.choose(None, [TEAMS[0]], None, "11", "zh")
        picks.append(chosen.id)
        staff.moved(None, chosen.id)
    assert picks == [1, 1, 2]  # the lighter first, until it is full
    staff.moved(1, None)
    assert staff.choose(None, [TEAMS[0]], None, "11", "zh").id == 1
    assert loads == {1: 1, 2: 4}


def test_speaking_the_debtors_language_comes_before_a_lighter_load():
    collectors = [
        CollectorInfo(1, "C1", "Ann", 1, (), (), ("en",), 10),
        CollectorInfo(2, "C2", "王", 1, (), (), ("zh",), 10),
    ]
    staff = staff_with(collectors, {1: 0, 2: 7})
    assert staff.choose(None, [TEAMS[0]], None, None, "zh").id == 2
    assert staff.choose(None, [TEAMS[0]], None, None, "en").id == 1
