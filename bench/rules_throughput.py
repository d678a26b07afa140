"""Benchmark: the shipped decision tables through durable-rules and through the reference.

Generates fact sets (all catalogue facts, plausible ranges, about 5 % unknown values), evaluates
every set against the four shipped tables (assignment FIRST, priority PRIORITY, strategy UNIQUE,
alert COLLECT), first with the plain-Python reference, then with the engine, and reports cases
per second per table, whether the answers agree, and memory from /proc/self/status (VmRSS, and
VmHWM, the peak resident set, after each stage).

Usage: python bench/rules_throughput.py [--cases 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules_service.default_policy import default_policy
from rules_service.engine import Engine
from rules_service.facts import FACTS, FactType
from rules_service.hits import Hit, UniqueHitError
from rules_service.reference import evaluate

RANGES = {
    "dpd": (0, 200),
    "overdue_amount": (0, 60_000),
    "outstanding_balance": (0, 150_000),
    "principal": (1_000, 200_000),
    "customer_age": (18, 80),
    "case_age_days": (0, 400),
    "broken_promises": (0, 4),
    "consecutive_missed_installments": (0, 6),
    "payment_ratio_vs_history": (0, 2),
    "days_since_last_payment": (0, 200),
    "rating_change": (-2, 4),
    "credit_score": (350, 850),
    "delinquent_accounts_elsewhere": (0, 4),
    "days_since_last_contact": (0, 60),
    "right_party_contacts_30d": (0, 5),
    "ab_bucket": (0, 99),
}
REGIONS = ("北京", "上海", "广东", "浙江", "四川")


def memory() -> str:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return f"VmRSS {fields['VmRSS']:.0f} MB, VmHWM {fields['VmHWM']:.0f} MB"


def generate(count: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        facts: dict[str, object] = {}
        for name, fact in FACTS.items():
            if rng.random() < 0.05:
                facts[name] = None
            elif fact.type is FactType.ENUM:
                facts[name] = rng.choice(fact.values)
            elif fact.type is FactType.BOOLEAN:
                facts[name] = rng.random() < 0.2
            elif fact.type is FactType.DATE:
                facts[name] = date(2024, 1, 1) + timedelta(days=rng.randrange(500))
            elif fact.type is FactType.TEXT:
                facts[name] = rng.choice(REGIONS)
            elif fact.type is FactType.INTEGER:
                facts[name] = rng.randint(*RANGES[name])
            else:
                low, high = RANGES[name]
                facts[name] = round(rng.uniform(low, high), 2)
        cases.append(facts)
    return cases


def answer(
    run: Callable[[Any, Mapping[str, object]], list[Hit]], table: Any, facts: Mapping[str, object]
) -> tuple[str, ...]:
    """The ids of the rows that hit, or the UNIQUE conflict, comparable between both paths."""
    try:
        return tuple(hit.row_id for hit in run(table, facts))
    except UniqueHitError as conflict:
        return ("UNIQUE", *conflict.row_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    tables = default_policy()
    print(f"start: {memory()}")
    cases = generate(args.cases, args.seed)
    print(f"generated {len(cases):,} fact sets: {memory()}")

    expected: dict[str, list[tuple[str, ...]]] = {}
    print("\nreference (plain Python)")
    total = 0.0
    for kind, table in tables.items():
        started = time.perf_counter()
        expected[kind] = [answer(evaluate, table, facts) for facts in cases]
        elapsed = time.perf_counter() - started
        total += elapsed
        print(
            f"  {table.qualified_name:16} {table.hit_policy:9} {len(table.rows):3} rows "
            f"{len(cases) / elapsed:9,.0f} cases/s  {elapsed / len(cases) * 1e6:6.1f} µs/case"
        )
    print(f"  all four: {len(cases) / total:,.0f} cases/s; {memory()}")

    engine = Engine()
    names = {kind: engine.register(table) for kind, table in tables.items()}
    print(f"\nengine (durable-rules, one post/assert per case and table): {memory()}")
    total = 0.0
    mismatches = 0
    for kind, table in tables.items():
        name = names[kind]
        started = time.perf_counter()
        got = [answer(engine.evaluate, name, facts) for facts in cases]
        elapsed = time.perf_counter() - started
        total += elapsed
        wrong = sum(a != b for a, b in zip(got, expected[kind], strict=True))
        mismatches += wrong
        print(
            f"  {name:16} {'fact' if table.hit_policy in ('UNIQUE', 'COLLECT') else 'event':5} "
            f"{len(cases) / elapsed:9,.0f} cases/s  {elapsed / len(cases) * 1e6:6.1f} µs/case  "
            f"mismatches {wrong}"
        )
    print(f"  all four: {len(cases) / total:,.0f} cases/s; {memory()}")
    hits = {kind: sum(bool(a) for a in answers) for kind, answers in expected.items()}
    print(f"\ncases with at least one hit: {hits}")
    print(f"mismatches engine vs reference: {mismatches}")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
