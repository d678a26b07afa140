"""Champion/challenger as a first-class output: a strategy row splits its cases by a share."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from casedb.models import CollectionCase, RuleDecision
from rules_service.case_facts import ab_bucket
from rules_service.decision_table import TableError, from_json, to_dict
from rules_service.default_policy import default_policy
from rules_service.policy import publish_all
from rules_service.relay import Relay
from tests.rules_service.test_service import many_cases

SHARE = 30


def strategy_with_split(version: int = 2, share: object = SHARE, path: object = "m2_sms_first"):
    """The shipped strategy table with a challenger on every row: ``share`` % of the cases."""
    document = to_dict(default_policy()["strategy"])
    document["version"] = version
    document["outputs"] += [
        {"name": "challenger_path", "type": "text"},
        {"name": "challenger_percent", "type": "integer"},
    ]
    for row in document["rows"]:
        row["then"]["challenger_path"] = path
        row["then"]["challenger_percent"] = share
    return document


def test_a_row_splits_its_cases_by_their_stable_bucket_and_records_the_arm(
    engine, staff, run_import, published
):
    many_cases(run_import, 80)
    with Session(engine) as session, session.begin():
        publish_all(session, [from_json(strategy_with_split())], by="analyst")
    relay = Relay(engine)
    relay.run(once=True)
    with Session(engine) as session:
        cases = session.scalars(select(CollectionCase)).all()
        arms = {}
        for case in cases:
            challenger = ab_bucket(case.case_no) < SHARE
            assert (case.strategy == "m2_sms_first") == challenger, case.case_no
            decision = session.scalars(
                select(RuleDecision)
                .where(RuleDecision.case_id == case.id, RuleDecision.kind == "strategy")
                .order_by(RuleDecision.id.desc())
            ).first()
            split = decision.applied["split"]
            assert split["ab_bucket"] == ab_bucket(case.case_no)
            assert split["challenger_percent"] == SHARE
            assert decision.applied["arm"] == ("challenger" if challenger else split["arm"])
            arms[case.id] = decision.applied["arm"]
    assert 0 < sum(arm == "challenger" for arm in arms.values()) < len(arms)
    # Decided again (a new version of the same split): every case keeps its arm.
    with Session(engine) as session, session.begin():
        publish_all(session, [from_json(strategy_with_split(version=3))], by="analyst")
    relay.run(once=True)
    with Session(engine) as session:
        for case_id, arm in arms.items():
            latest = session.scalars(
                select(RuleDecision)
                .where(RuleDecision.case_id == case_id, RuleDecision.kind == "strategy")
                .order_by(RuleDecision.id.desc())
            ).first()
            assert latest.version == 3 and latest.applied["arm"] == arm


@pytest.mark.parametrize(
    ("share", "path", "message"),
    [
        (None, "m2_sms_first", "needs both challenger_path and challenger_percent"),
        (SHARE, None, "needs both challenger_path and challenger_percent"),
        (120, "m2_sms_first", "0 to 100, not 120"),
    ],
)
def test_a_split_needs_a_path_and_a_share_between_0_and_100(share, path, message):
    with pytest.raises(TableError, match=message):
        from_json(strategy_with_split(share=share, path=path))
