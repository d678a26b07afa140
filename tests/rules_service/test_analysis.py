"""Static analysis of decision tables: gaps, overlaps, shadowed rows, duplicates, type conflicts.

Every finding carries an example input; these tests check each one against the reference
evaluator (``demonstrates``), and a property test checks the analysis against brute force over
every class of input of small random tables.
"""

import dataclasses
import itertools
import json
import math
import random
import time
from collections import Counter
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_service.analysis import DEFAULT_LIMIT, Finding, analyse, analyse_table
from rules_service.decision_table import (
    Between,
    Cell,
    Compare,
    DecisionTable,
    HitPolicy,
    TableError,
    from_json,
)
from rules_service.default_policy import default_policy
from rules_service.facts import FACTS, FactType
from rules_service.hits import UniqueHitError
from rules_service.reference import evaluate, matching_rows
from tests.rules_service.conftest import table_document

_NAMES = itertools.count(1)


def table(rows, **options) -> DecisionTable:
    """A table built in a line (no engine involved, so any name will do)."""
    options.setdefault("name", f"analysed{next(_NAMES)}")
    return from_json(table_document(rows, **options))


def kinds(findings):
    return [finding.kind for finding in findings]


def of_kind(findings, kind):
    return [finding for finding in findings if finding.kind == kind]


def matching_ids(table, facts):
    return [row.id for row in matching_rows(table, facts)]


def demonstrates(table: DecisionTable, finding: Finding) -> None:
    """The finding's example shows what the finding says, per the reference evaluator."""
    assert set(finding.example) == set(table.fact_names)
    matched = matching_ids(table, finding.example)
    if finding.kind == "gap":
        assert matched == []
        assert evaluate(table, finding.example) == []
    elif finding.kind == "overlap":
        with pytest.raises(UniqueHitError) as conflict:
            evaluate(table, finding.example)
        assert conflict.value.row_ids == finding.rows
        assert len(finding.rows) >= 2
    elif finding.kind == "shadowed":
        row, *takers = finding.rows
        assert row in matched
        winner = evaluate(table, finding.example)[0].row_id
        assert winner != row
        assert winner in takers
    elif finding.kind == "duplicate":
        assert set(finding.rows) <= set(matched)
        if table.hit_policy is HitPolicy.FIRST:
            assert evaluate(table, finding.example)[0].row_id not in finding.rows[1:]
    elif finding.kind == "type_conflict":
        if "can never fire" in finding.message:
            assert finding.rows[0] not in matched
    else:  # pragma: no cover - no other kind exists
        pytest.fail(f"unknown kind {finding.kind}")


# ---- gaps -------------------------------------------------------------------------------------


def test_a_gap_is_reported_for_each_stretch_of_values_no_row_matches():
    dpd = table([("R1", {"dpd": "[1..30]"}), ("R2", {"dpd": "[61..90]"})], policy="FIRST")
    gaps = analyse(dpd)
    assert kinds(gaps) == ["gap", "gap", "gap"]
    assert [finding.example for finding in gaps] == [{"dpd": 0}, {"dpd": 45}, {"dpd": 91}]
    assert gaps[0].message == "no row matches dpd <= 0 (e.g. dpd=0); hit policy FIRST"
    assert gaps[1].message == "no row matches dpd in 31..60 (e.g. dpd=45); hit policy FIRST"
    assert gaps[2].message == "no row matches dpd >= 91 (e.g. dpd=91); hit policy FIRST"
    assert all(finding.rows == () for finding in gaps)
    for finding in gaps:
        demonstrates(dpd, finding)


def test_a_gap_names_every_fact_it_depends_on():
    two = table(
        [
            ("R1", {"dpd": ">= 31", "overdue_amount": ">= 5000"}),
            ("R2", {"dpd": "<= 30"}),
        ],
        inputs=("dpd", "overdue_amount"),
        policy="UNIQUE",
    )
    [gap] = analyse(two)
    assert gap.message == (
        "no row matches dpd >= 31 and overdue_amount < 5000 "
        "(e.g. dpd=31, overdue_amount=4999); hit policy UNIQUE"
    )
    demonstrates(two, gap)


def test_an_enum_column_covering_every_value_has_no_gap():
    risk = table(
        [("R1", {"risk_level": '"LOW"'}), ("R2", {"risk_level": '"MEDIUM", "HIGH"'})],
        inputs=("risk_level",),
        policy="UNIQUE",
    )
    assert analyse(risk) == []


def test_unknown_values_make_gaps_only_when_asked_for():
    """An unknown fact matches only "-" by design: not a gap unless the editor asks."""
    risk = table(
        [("R1", {"risk_level": '"LOW"'}), ("R2", {"risk_level": 'not("LOW")'})],
        inputs=("risk_level",),
    )
    assert analyse(risk) == []
    [gap] = analyse(risk, unknown_gaps=True)
    assert gap.example == {"risk_level": None}
    assert gap.message == (
        "no row matches risk_level unknown (e.g. risk_level=unknown); hit policy FIRST"
    )
    demonstrates(risk, gap)


def test_text_columns_have_a_class_for_text_no_cell_names():
    region = table(
        [("R1", {"region": '"华东"'}), ("R2", {"region": 'not("华东", "华南")'})],
        inputs=("region",),
    )
    [gap] = analyse(region)
    assert gap.example == {"region": "华南"}
    demonstrates(region, gap)


def test_numbers_and_dates_get_examples_of_their_own_type():
    ratio = table(
        [
            ("R1", {"payment_ratio_vs_history": "< 0.25"}),
            ("R2", {"payment_ratio_vs_history": "(0.25..0.5]"}),
        ],
        inputs=("payment_ratio_vs_history",),
    )
    gaps = analyse(ratio)
    assert [finding.example for finding in gaps] == [
        {"payment_ratio_vs_history": 0.25},
        {"payment_ratio_vs_history": 1},
    ]
    opened = table(
        [("R1", {"opened_on": "< 2025-01-01"}), ("R2", {"opened_on": "> 2025-03-01"})],
        inputs=("opened_on",),
    )
    [gap] = analyse(opened)
    assert gap.example == {"opened_on": date(2025, 1, 30)}
    assert "opened_on in 2025-01-01..2025-03-01" in gap.message
    assert gap.as_dict()["example"] == {"opened_on": "2025-01-30"}
    for checked, finding in [(ratio, gaps[0]), (ratio, gaps[1]), (opened, gap)]:
        demonstrates(checked, finding)


def test_collect_tables_have_no_gaps():
    """Under COLLECT, matching nothing is an ordinary answer (no alert)."""
    alerts = table([("R1", {"dpd": "> 90"})], policy="COLLECT")
    assert analyse(alerts) == []


# ---- overlaps ---------------------------------------------------------------------------------


def test_unique_rows_that_can_both_match_overlap():
    priority = table(
        [
            ("P03", {"dpd": ">= 31", "overdue_amount": ">= 5000"}),
            ("P07", {"dpd": "[31..60]", "overdue_amount": "< 20000"}),
            ("P09", {"dpd": "<= 30"}),
            ("P10", {"dpd": ">= 61", "overdue_amount": "< 5000"}),
            ("P11", {"dpd": "[31..60]", "overdue_amount": "< 5000"}),
        ],
        inputs=("dpd", "overdue_amount"),
        policy="UNIQUE",
    )
    found = analyse(priority)
    overlaps = of_kind(found, "overlap")
    assert [finding.rows for finding in overlaps] == [("P03", "P07"), ("P07", "P11")]
    assert overlaps[0].example == {"dpd": 45, "overdue_amount": 12500}
    assert overlaps[0].message == (
        "rows P03 and P07 both match dpd=45, overdue_amount=12500 "
        "(hit policy UNIQUE: such a case is an error)"
    )
    assert of_kind(found, "gap") == []
    for finding in found:
        demonstrates(priority, finding)


def test_overlaps_are_only_a_problem_under_unique():
    rows = [("R1", {"dpd": ">= 10"}), ("R2", {"dpd": "< 20"})]
    assert kinds(analyse(table(rows, policy="UNIQUE"))) == ["overlap"]
    for policy in ("FIRST", "PRIORITY", "COLLECT"):
        assert analyse(table(rows, policy=policy)) == []


# ---- shadowed rows ----------------------------------------------------------------------------


def test_under_first_a_row_whose_cases_an_earlier_row_takes_is_shadowed():
    ladder = table(
        [("R1", {"dpd": ">= 10"}), ("R2", {"dpd": ">= 30"}), ("R3", {"dpd": "-"})],
        policy="FIRST",
    )
    [shadowed] = analyse(ladder)
    assert shadowed.kind == "shadowed"
    assert shadowed.rows == ("R2", "R1")
    assert shadowed.message == (
        "row R2 can never fire: every case it matches is taken first by earlier row R1 "
        "(hit policy FIRST); e.g. dpd=30 goes to R1"
    )
    demonstrates(ladder, shadowed)
    # The other way round every row fires somewhere.
    reordered = table([("R1", {"dpd": ">= 30"}), ("R2", {"dpd": ">= 10"}), ("R3", {"dpd": "-"})])
    assert analyse(reordered) == []


def test_a_row_shadowed_by_several_earlier_rows_together_names_them_all():
    split = table(
        [
            ("R1", {"dpd": "< 30", "risk_level": '"HIGH"'}),
            ("R2", {"dpd": ">= 30"}),
            ("R3", {"risk_level": '"LOW", "MEDIUM"'}),
            ("R4", {"dpd": "[10..50]", "risk_level": '"LOW", "MEDIUM", "HIGH"'}),
            ("R5", {}),
        ],
        inputs=("dpd", "risk_level"),
    )
    [shadowed] = analyse(split)
    assert shadowed.rows == ("R4", "R1", "R2", "R3")
    assert "taken first by earlier rows R1, R2 and R3" in shadowed.message
    demonstrates(split, shadowed)
    # Without its risk condition R4 also takes dpd 10..29 with the risk level unknown.
    r4 = split.rows[3]
    loose = dataclasses.replace(
        split, rows=(*split.rows[:3], dataclasses.replace(r4, when=(r4.when[0], Cell())))
    )
    assert analyse(loose) == []
    assert [hit.row_id for hit in evaluate(loose, {"dpd": 20, "risk_level": None})] == ["R4"]


def test_under_priority_a_row_that_a_higher_ranked_row_always_beats_is_shadowed():
    ranked = table(
        [
            ("R1", {"dpd": ">= 30"}, {"alert": "low", "severity": "info"}),
            ("R2", {"dpd": ">= 60"}, {"alert": "high", "severity": "critical"}),
            ("R3", {"dpd": ">= 90"}, {"alert": "mid", "severity": "warning"}),
        ],
        policy="PRIORITY",
    )
    shadowed = of_kind(analyse(ranked), "shadowed")
    assert [finding.rows for finding in shadowed] == [("R3", "R2")]
    assert shadowed[0].message.startswith(
        "row R3 never wins: wherever it matches, a row that ranks higher matches too (R2;"
    )
    demonstrates(ranked, shadowed[0])


def test_a_catch_all_that_only_catches_unknown_values_is_not_shadowed():
    """After rows for every risk level, "-" still decides when the risk level is unknown."""
    complete = table(
        [
            ("R1", {"risk_level": '"LOW"'}),
            ("R2", {"risk_level": '"MEDIUM", "HIGH"'}),
            ("R3", {}),
        ],
        inputs=("risk_level",),
    )
    assert analyse(complete) == []
    assert [hit.row_id for hit in evaluate(complete, {"risk_level": None})] == ["R3"]


# ---- duplicates and type conflicts ------------------------------------------------------------


def test_rows_with_the_same_conditions_are_duplicates_compared_by_meaning():
    same = table(
        [
            ("A", {"dpd": "> 30", "risk_level": '"HIGH", "LOW"'}),
            (
                "B",
                {"dpd": ">= 31", "risk_level": '"LOW", "HIGH"'},
                {"alert": "B", "severity": "info"},
            ),
            ("C", {}),
        ],
        inputs=("dpd", "risk_level"),
    )
    [duplicate] = analyse(same)  # B is not also reported as shadowed
    assert duplicate.kind == "duplicate"
    assert duplicate.rows == ("A", "B")
    assert duplicate.message == (
        "rows A and B have the same conditions and different outputs: they match exactly the "
        'same cases (e.g. dpd=31, risk_level="LOW"), and under hit policy FIRST B never fires '
        "(A comes first)"
    )
    demonstrates(same, duplicate)
    twice = table(
        [("A", {"dpd": "5"}), ("B", {"dpd": "= 5"}, {"alert": "A", "severity": "warning"})],
        policy="COLLECT",
    )
    [duplicate] = analyse(twice)
    assert "the same outputs" in duplicate.message
    assert "collects them all" in duplicate.message


def test_cells_no_value_of_the_column_can_pass_are_type_conflicts():
    odd = table(
        [
            ("A", {"dpd": "(3..4)"}),
            ("B", {"dpd": "(3..4), 7"}),
            ("C", {"dpd": "not(<= 5, >= 3)"}),
            ("D", {"risk_level": 'not("LOW", "MEDIUM", "HIGH")'}),
            ("E", {"on_hold": "not(true, false)"}),
            ("F", {"opened_on": "(2025-01-01..2025-01-02)"}),
            ("G", {"dpd": "< -9007199254740992"}),
            ("H", {"dpd": "[3..4]", "on_hold": "true"}),
        ],
        inputs=("dpd", "risk_level", "on_hold", "opened_on"),
        policy="COLLECT",
    )
    conflicts = analyse(odd)
    assert kinds(conflicts) == ["type_conflict"] * 7
    messages = {finding.rows[0]: finding.message for finding in conflicts}
    assert messages == {
        "A": "row A, column dpd: (3..4) holds no whole number; "
        "the cell never matches, so row A can never fire",
        "B": "row B, column dpd: (3..4) holds no whole number; that test never matters",
        "C": "row C, column dpd: not(<= 5, >= 3) rules out every value dpd can take (and an "
        "unknown value matches only -); the cell never matches, so row C can never fire",
        "D": 'row D, column risk_level: not("LOW", "MEDIUM", "HIGH") rules out every value '
        "risk_level can take (and an unknown value matches only -); the cell never matches, "
        "so row D can never fire",
        "E": "row E, column on_hold: not(true, false) rules out every value on_hold can take "
        "(and an unknown value matches only -); the cell never matches, so row E can never fire",
        "F": "row F, column opened_on: (2025-01-01..2025-01-02) holds no day; the cell never "
        "matches, so row F can never fire",
        "G": "row G, column dpd: no integer value is < -9007199254740992; the cell never "
        "matches, so row G can never fire",
    }
    for finding in conflicts:
        demonstrates(odd, finding)
    assert conflicts[0].example["dpd"] == 3  # the value the interval seems to be about


def test_what_the_parser_refuses_is_still_caught_in_tables_built_in_code():
    """parse_cell refuses [60..30] and "BOGUS" for an enum; a table built in code may not."""
    with pytest.raises(TableError, match="interval is empty"):
        table([("A", {"dpd": "[60..30]"})])
    built = table(
        [("A", {"dpd": "1"}), ("B", {"risk_level": '"LOW"'})], inputs=("dpd", "risk_level")
    )
    a, b = built.rows
    built = dataclasses.replace(
        built,
        rows=(
            dataclasses.replace(a, when=(Cell((Between(60, 30, True, True),)), Cell())),
            dataclasses.replace(b, when=(Cell(), Cell((Compare("=", "BOGUS"),)))),
        ),
    )
    conflicts = of_kind(analyse(built), "type_conflict")
    assert [finding.message for finding in conflicts] == [
        "row A, column dpd: [60..30] is empty: its low bound is not below its high bound; "
        "the cell never matches, so row A can never fire",
        'row B, column risk_level: "BOGUS" is not one of LOW, MEDIUM, HIGH; the cell never '
        "matches, so row B can never fire",
    ]
    for finding in conflicts:
        demonstrates(built, finding)


# ---- the finding itself -----------------------------------------------------------------------


def test_findings_are_json_ready():
    opened = table(
        [("R1", {"opened_on": "< 2025-01-01", "dpd": ">= 1"})], inputs=("opened_on", "dpd")
    )
    for finding in analyse(opened):
        document = finding.as_dict()
        assert json.loads(json.dumps(document)) == document
        assert set(document) == {"kind", "rows", "example", "message"}


def test_findings_are_capped_per_kind_and_the_search_stops_at_the_cap():
    sparse = table([(f"R{n}", {"dpd": str(10 * n)}) for n in range(1, 200)], policy="FIRST")
    analysis = analyse_table(sparse, limit=3)
    assert kinds(analysis.findings) == ["gap"] * 3
    assert analysis.steps < 10
    assert len(analyse(sparse)) == DEFAULT_LIMIT
    with pytest.raises(ValueError, match="limit"):
        analyse(sparse, limit=0)


def test_a_search_cut_short_by_its_budget_says_so_and_reports_only_what_it_proved():
    ladder = table(
        [(f"R{n}", {"dpd": f">= {n}", "overdue_amount": f"< {n * 100}"}) for n in range(1, 40)],
        inputs=("dpd", "overdue_amount"),
    )
    cut = analyse_table(ladder, budget=5)
    assert not cut.complete
    assert cut.undecided  # rows whose shadowing it did not get to prove or disprove
    full = analyse_table(ladder)
    assert full.complete
    assert all(finding in full.findings for finding in cut.findings)
    for finding in full.findings:
        demonstrates(ladder, finding)


# ---- the shipped tables -----------------------------------------------------------------------


SHIPPED = default_policy()


@pytest.mark.parametrize("kind", list(SHIPPED))
def test_the_shipped_tables_have_no_findings(kind):
    analysis = analyse_table(SHIPPED[kind])
    assert analysis.complete
    assert analysis.findings == ()


def test_the_shipped_strategy_table_has_gaps_only_for_unknown_facts():
    """Every known case fits exactly one strategy row; an unknown bucket, promise flag, broken
    promise count or A/B bucket fits none (the case facts always know them)."""
    strategy = SHIPPED[next(kind for kind in SHIPPED if kind.value == "strategy")]
    gaps = analyse(strategy, unknown_gaps=True)
    assert len(gaps) == 7
    assert all(None in finding.example.values() for finding in gaps)
    assert gaps[-1].message == (
        "no row matches bucket unknown (e.g. bucket=unknown); hit policy UNIQUE"
    )
    for finding in gaps:
        demonstrates(strategy, finding)


def shipped(kind_name: str) -> DecisionTable:
    return SHIPPED[next(kind for kind in SHIPPED if kind.value == kind_name)]


def test_editing_a_shipped_table_shows_what_the_edit_breaks():
    priority = shipped("priority")
    without_default = dataclasses.replace(priority, rows=priority.rows[:-1])  # P13 "-" gone
    [gap] = analyse(without_default)
    assert gap.message == "no row matches dpd <= 0 (e.g. dpd=0); hit policy PRIORITY"
    demonstrates(without_default, gap)

    strategy = shipped("strategy")
    no_challenger = dataclasses.replace(
        strategy, rows=tuple(row for row in strategy.rows if row.id != "S03")
    )
    [gap] = analyse(no_challenger)
    assert gap.message.startswith(
        'no row matches bucket in "M0", "M1" and promise_pending = false and '
        "broken_promises <= 1 and ab_bucket >= 80"
    )
    demonstrates(no_challenger, gap)

    assignment = shipped("assignment")
    rows = list(assignment.rows)
    rows.insert(3, dataclasses.replace(rows[-1], id="A00"))  # a catch-all moved up by mistake
    broken = dataclasses.replace(assignment, rows=tuple(rows))
    found = analyse(broken)
    assert kinds(found) == ["duplicate"] + ["shadowed"] * 6
    assert found[0].rows == ("A00", "A10")
    assert found[0].message == (
        "rows A00 and A10 have the same conditions and the same outputs: they both match every "
        "case, and under hit policy FIRST A10 never fires (A00 comes first)"
    )
    assert [finding.rows[0] for finding in found[1:]] == ["A04", "A05", "A06", "A07", "A08", "A09"]
    assert found[1].message == (
        "row A04 can never fire: every case it matches is taken first by earlier rows A01, A02, "
        'A03 and A00 (hit policy FIRST); e.g. bucket="M4+" goes to A00'
    )
    for finding in found:
        demonstrates(broken, finding)


# ---- scale ------------------------------------------------------------------------------------

WIDE_FACTS = [
    name for name in FACTS if name not in ("principal", "customer_age", "rating_change", "region")
][:20]


def wide_table(policy: str, seed: int = 7, rows: int = 200) -> DecisionTable:
    """200 rows over 20 facts, each row testing 1-4 of them against a few thresholds per fact,
    the way analysts write rules (without the catch-all, so it has gaps to find)."""
    rng = random.Random(seed)
    thresholds = {name: sorted(rng.sample(range(0, 200, 5), 4)) for name in WIDE_FACTS}

    def cell(name):
        fact = FACTS[name]
        if fact.type is FactType.ENUM:
            chosen = rng.sample(fact.values, rng.randint(1, len(fact.values) - 1))
            return ", ".join(f'"{value}"' for value in chosen)
        if fact.type is FactType.BOOLEAN:
            return rng.choice(["true", "false"])
        if fact.type is FactType.DATE:
            low, high = sorted(rng.sample(range(1, 10), 2))
            return f"[2025-0{low}-01..2025-0{high}-01)"
        low, high = sorted(rng.sample(thresholds[name], 2))
        return rng.choice([f">= {low}", f"< {low}", f"[{low}..{high})", f"{low}"])

    document = table_document(
        [
            (
                f"R{index:03d}",
                {name: cell(name) for name in rng.sample(WIDE_FACTS, rng.randint(1, 4))},
            )
            for index in range(rows)
        ],
        inputs=WIDE_FACTS,
        policy=policy,
        name=f"wide{next(_NAMES)}",
    )
    return from_json(document)


@pytest.mark.parametrize("policy", ["FIRST", "UNIQUE", "PRIORITY", "COLLECT"])
def test_a_table_of_200_rows_and_20_columns_is_analysed_at_editing_speed(policy):
    wide = wide_table(policy)
    assert (len(wide.rows), len(wide.inputs)) == (200, 20)
    started = time.perf_counter()
    analysis = analyse_table(wide)
    elapsed = time.perf_counter() - started
    counts = Counter(kinds(analysis.findings))
    print(f"\n200x20 {policy}: {elapsed:.3f}s, {analysis.steps} steps, {dict(counts)}")
    assert all(count <= DEFAULT_LIMIT for count in counts.values())
    if policy == "UNIQUE":
        assert counts["overlap"] == DEFAULT_LIMIT
    if policy in ("FIRST", "PRIORITY"):
        assert counts["shadowed"] == DEFAULT_LIMIT
    assert counts["duplicate"] > 0
    for finding in analysis.findings:
        demonstrates(wide, finding)


def test_a_wide_table_whose_rows_test_many_facts_has_its_gaps_capped():
    wide = wide_table("FIRST", seed=3)
    wide = dataclasses.replace(
        wide, rows=tuple(row for row in wide.rows if sum(not cell.is_any for cell in row.when) >= 3)
    )
    started = time.perf_counter()
    analysis = analyse_table(wide)
    print(f"\nsparse-coverage table: {time.perf_counter() - started:.3f}s, {analysis.steps} steps")
    assert len(of_kind(analysis.findings, "gap")) == DEFAULT_LIMIT
    for finding in analysis.findings:
        demonstrates(wide, finding)


# ---- against brute force ----------------------------------------------------------------------

POOLS = {
    "dpd": [0, 1, 30, 31, 90],
    "payment_ratio_vs_history": [0.0, 1e-05, 0.25, 0.5],
    "opened_on": [date(2025, 1, 1), date(2025, 1, 2), date(2025, 2, 1)],
    "region": ["北京", "上海", ""],
    "risk_level": list(FACTS["risk_level"].values),
    "on_hold": [True, False],
}


def every_class(name):
    """Values of ``name`` that fall in every class any cell over POOLS can cut: each literal,
    next to it on both sides, between neighbours, far away; and unknown."""
    fact = FACTS[name]
    literals = sorted(POOLS[name]) if fact.type is not FactType.BOOLEAN else POOLS[name]
    if fact.type is FactType.INTEGER:
        values = [v + d for v in literals for d in (-1, 0, 1)] + [-1000, 1000]
        values += [(a + b) // 2 for a, b in itertools.pairwise(literals)]
    elif fact.type is FactType.NUMBER:
        values = [
            x
            for v in literals
            for x in (v, math.nextafter(v, -math.inf), math.nextafter(v, math.inf))
        ]
        values += [(a + b) / 2 for a, b in itertools.pairwise(literals)] + [-1000.0, 1000.0]
    elif fact.type is FactType.DATE:
        values = [v + timedelta(days=d) for v in literals for d in (-1, 0, 1)]
        values += [v + timedelta(days=400) for v in literals[-1:]]
    elif fact.type is FactType.TEXT:
        values = [*literals, "elsewhere"]
    else:
        values = list(literals)
    return [*dict.fromkeys(values), None]


def cell_tests_for(name):
    fact = FACTS[name]
    literal = st.sampled_from(POOLS[name])
    if fact.type not in (FactType.INTEGER, FactType.NUMBER, FactType.DATE):
        return st.builds(Compare, st.sampled_from(["=", "!="]), literal)
    between = (
        st.tuples(literal, literal, st.booleans(), st.booleans())
        .filter(lambda t: t[0] < t[1] or (t[0] == t[1] and t[2] and t[3]))
        .map(lambda t: Between(*t))
    )
    compare = st.builds(Compare, st.sampled_from(["<", "<=", ">", ">=", "=", "!="]), literal)
    return st.one_of(compare, between)


def cells_for(name):
    return st.one_of(
        st.just(Cell()),
        st.builds(
            Cell, st.lists(cell_tests_for(name), min_size=1, max_size=3).map(tuple), st.booleans()
        ),
    )


@st.composite
def small_tables(draw):
    inputs = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=3, unique=True))
    policy = draw(st.sampled_from(["FIRST", "UNIQUE", "PRIORITY", "COLLECT"]))
    rows = []
    for index in range(draw(st.integers(1, 6))):
        when = {name: draw(cells_for(name)).text for name in inputs}
        severity = draw(st.sampled_from(["critical", "warning", "info", None]))
        rows.append((f"R{index + 1}", when, {"alert": f"a{index}", "severity": severity}))
    return table(rows, inputs=inputs, policy=policy)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small=small_tables(), data=st.data())
def test_the_analysis_agrees_with_brute_force_over_every_class_of_input(small, data):
    analysis = analyse_table(small)
    assert analysis.complete
    found = analysis.findings
    for finding in found:
        demonstrates(small, finding)

    points = [
        dict(zip(small.fact_names, values, strict=True))
        for values in itertools.product(*(every_class(name) for name in small.fact_names))
    ]
    matches = {id(point): matching_ids(small, point) for point in points}
    ids = [row.id for row in small.rows]
    dead = {
        finding.rows[0]
        for finding in of_kind(found, "type_conflict")
        if "never fire" in finding.message
    }
    assert dead == {row for row in ids if not any(row in m for m in matches.values())}

    # Gaps: reported exactly when some input of known facts matches no row.
    known = [point for point in points if None not in point.values()]
    uncovered = [point for point in known if not matches[id(point)]]
    if small.hit_policy is HitPolicy.COLLECT:
        assert of_kind(found, "gap") == []
    else:
        assert bool(of_kind(found, "gap")) == bool(uncovered)
    if not of_kind(found, "gap") and small.hit_policy is not HitPolicy.COLLECT:
        for _ in range(20):  # and any input of known facts matches a row
            facts = {
                name: data.draw(
                    {
                        FactType.INTEGER: st.integers(-(10**6), 10**6),
                        FactType.NUMBER: st.floats(-1e6, 1e6, allow_nan=False),
                        FactType.DATE: st.dates(),
                        FactType.TEXT: st.text(max_size=3),
                        FactType.ENUM: st.sampled_from(FACTS[name].values),
                        FactType.BOOLEAN: st.booleans(),
                    }[FACTS[name].type]
                )
                for name in small.fact_names
            }
            assert matching_ids(small, facts)

    # Duplicates: rows matching exactly the same inputs, unknown ones included.
    live = [row for row in ids if row not in dead]
    behaviour = {row: tuple(row in matches[id(point)] for point in points) for row in live}
    same = {frozenset(r for r in live if behaviour[r] == behaviour[row]) for row in live}
    assert {frozenset(finding.rows) for finding in of_kind(found, "duplicate")} == {
        group for group in same if len(group) > 1
    }

    # Overlaps: under UNIQUE, every pair of rows some input matches together is shown.
    if small.hit_policy is HitPolicy.UNIQUE:
        together = {
            pair
            for m in matches.values()
            for pair in itertools.combinations(sorted(m, key=ids.index), 2)
        }
        shown = {
            pair
            for finding in of_kind(found, "overlap") + of_kind(found, "duplicate")
            for pair in itertools.combinations(finding.rows, 2)
        }
        assert shown == together
    else:
        assert of_kind(found, "overlap") == []

    # Shadowed: the rows that never decide, but for dead rows and later duplicates.
    if small.hit_policy in (HitPolicy.FIRST, HitPolicy.PRIORITY):
        winners = {hits[0].row_id for point in points if (hits := evaluate(small, point))}
        rank = {row.id: (small.priority_rank(row), index) for index, row in enumerate(small.rows)}
        if small.hit_policy is HitPolicy.FIRST:
            rank = {row: position for row, (_, position) in rank.items()}
        losers = {
            row
            for finding in of_kind(found, "duplicate")
            for row in sorted(finding.rows, key=rank.__getitem__)[1:]
        }
        never = {row for row in live if row not in winners} - losers
        assert {finding.rows[0] for finding in of_kind(found, "shadowed")} == never
    else:
        assert of_kind(found, "shadowed") == []
