"""run.py: the one command line, as an operator uses it."""

from click.testing import CliRunner

from run import cli


def test_import_lists_every_kind_with_its_columns():
    result = CliRunner().invoke(cli, ["import", "--list"])
    assert result.exit_code == 0
    for kind in ("uci", "customers", "payments", "bureau_reports", "contacts", "promises"):
        assert f"{kind}:" in result.output
    assert "customer_no" in result.output and "客户号" in result.output


def test_import_reports_rejected_rows_and_exits_zero(cli_database, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("customer_no,name,age\nC1,张三,30\nC2,李四,abc\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", "customers", str(path)])
    assert result.exit_code == 0, result.output
    assert "inserted 1" in result.output and "rejected 1" in result.output
    assert "row 3, age: not a whole number ('abc')" in result.output


def test_import_of_a_broken_file_exits_nonzero(cli_database, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("nothing,useful\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", "customers", str(path)])
    assert result.exit_code == 1
    assert "customer_no: required column is missing" in result.output


def test_unknown_kind_is_a_usage_error(cli_database, tmp_path):
    result = CliRunner().invoke(cli, ["import", "debts", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "unknown kind 'debts'" in result.output


def test_search_prints_masked_id_numbers(cli_database, run_import, portfolio):
    result = CliRunner().invoke(cli, ["search", "张三"])
    assert result.exit_code == 0
    assert "K1" in result.output and "110101********1234" in result.output
    assert "110101199003071234" not in result.output
