"""Bad input to the propensity model on small constructed data: too little history to train,
and the command line saying so (exit status 1, no traceback)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import run
from casedb.models import PropensityModel
from rules_service import propensity


def _two_months(run_import):
    run_import("customers", [["customer_no", "name"], *[[f"C{i}", f"客户{i}"] for i in range(3)]])
    run_import(
        "loans",
        [
            ["loan_no", "customer_no", "product", "principal"],
            *[[f"L{i}", f"C{i}", "credit_card", "10000"] for i in range(3)],
        ],
    )
    run_import(
        "statements",
        [
            ["loan_no", "period", "balance", "amount_paid", "repayment_status"],
            *[
                [f"L{i}", p, "1000", "100", str(i - 1)]
                for i in range(3)
                for p in ("2025-05-31", "2025-06-30")
            ],
        ],
    )


def test_too_little_history_to_train_is_said_with_the_numbers(engine, run_import):
    _two_months(run_import)
    with pytest.raises(propensity.PropensityError) as raised:
        propensity.train(engine)
    message = str(raised.value)
    assert "too little history to train: 2 months of statements give 1 months" in message
    assert "(2025-05)" in message and "at least 3" in message
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(PropensityModel)) == 0


def test_the_command_line_exits_non_zero_with_the_reason(cli_database, run_import):
    _two_months(run_import)
    runner = CliRunner()
    trained = runner.invoke(run.cli, ["model", "train"])
    assert trained.exit_code == 1
    assert "too little history to train" in trained.output
    assert "Traceback" not in trained.output
    scored = runner.invoke(run.cli, ["model", "score"])
    assert scored.exit_code == 1
    assert "no propensity model has been trained yet" in scored.output
    reported = runner.invoke(run.cli, ["model", "report"])
    assert reported.exit_code == 1
    wrong = runner.invoke(run.cli, ["model", "score", "--version", "4"])
    assert "no propensity model v4; versions: none" in wrong.output
