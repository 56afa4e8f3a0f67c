"""The one problem collector, :class:`siting._issues.Problems` (registry, layout, pairing rules)."""

from __future__ import annotations

import pytest

from siting import layout
from siting._errors import Issue, LayoutError, PairingRuleError, ValidationError
from siting._issues import Problems, problems_header


def test_every_problem_is_kept_in_the_order_found() -> None:
    p = Problems("a.csv")
    p.error(5, "name", "name is empty", "名称为空")
    p.warn(2, "lon", "lon looks swapped", "经纬度可能颠倒")
    p.add("no rows", reason_zh="没有数据")
    p.add("odd", row=3, column="beds", severity="warning")
    assert len(p) == 4
    assert p.items == [
        Issue("a.csv", 5, "name", "name is empty", "error", "名称为空"),
        Issue("a.csv", 2, "lon", "lon looks swapped", "warning", "经纬度可能颠倒"),
        Issue("a.csv", None, None, "no rows", "error", "没有数据"),
        Issue("a.csv", 3, "beds", "odd", "warning", ""),
    ]
    assert [i.reason for i in p.errors] == ["name is empty", "no rows"]
    assert [i.reason for i in p.warnings] == ["lon looks swapped", "odd"]
    assert p.has_errors


def test_warnings_alone_are_not_errors() -> None:
    p = Problems("a.csv")
    assert not p.has_errors
    p.warn(2, "lon", "lon looks swapped")
    assert not p.has_errors and p.errors == []
    p.raise_errors(PairingRuleError)  # nothing to raise: warnings only
    p.error(3, "lat", "lat missing")
    assert p.has_errors


def test_sorted_puts_the_file_first_then_rows_then_columns_left_to_right() -> None:
    p = Problems("a.csv", columns=["编号", "名称", "经度"])
    p.error(10, "经度", "c")
    p.error(9, "名称", "b")
    p.error(10, "编号", "a")
    p.warn(10, "extra", "d")  # not a header of the file: last of its row
    p.error(None, "名称", "whole file")
    p.error(10, "编号", "a2")  # a tie keeps the order found
    p.error(2, None, "first row")
    assert [(i.row, i.column, i.reason) for i in p.sorted()] == [
        (None, "名称", "whole file"),
        (2, None, "first row"),
        (9, "名称", "b"),
        (10, "编号", "a"),
        (10, "编号", "a2"),
        (10, "经度", "c"),
        (10, "extra", "d"),
    ]
    assert [i.reason for i in p.items][:2] == ["c", "b"]  # sorting does not reorder items
    p.columns = ["经度", "编号"]  # the registry sets the headers once it has read them
    assert [i.column for i in p.sorted() if i.row == 10] == ["经度", "编号", "编号", "extra"]


def test_text_lists_errors_up_to_the_limit() -> None:
    p = Problems("a.csv")
    for row in range(2, 7):
        p.error(row, "name", f"bad {row}")
    p.warn(1, "lon", "only a warning")
    lines = p.text(limit=3).splitlines()
    assert lines == [
        "a.csv: 5 problem(s) found (发现 5 个问题)",
        "  - a.csv, row 2, column 'name': bad 2",
        "  - a.csv, row 3, column 'name': bad 3",
        "  - a.csv, row 4, column 'name': bad 4",
        "  ... and 2 more",
    ]
    assert p.text(header="head", limit=5).splitlines() == ["head"] + [
        f"  - a.csv, row {r}, column 'name': bad {r}" for r in range(2, 7)
    ]


def test_the_default_limit_is_that_of_validation_error() -> None:
    p = Problems("big.csv")
    for row in range(2, 62):
        p.error(row, "kind", "unknown kind", "类型无法识别")
    p.warn(None, None, "note")
    text = p.text()
    assert text.splitlines()[-1] == "  ... and 10 more"
    assert text == str(ValidationError(p.items, header=problems_header("big.csv", p.items)))


def test_raise_errors_lists_every_error_and_carries_every_issue() -> None:
    p = Problems("rules.yaml")
    p.add("unknown kind 'x'", column="rules[0].from")
    p.add("a note", severity="warning")
    p.add("missing", column="rules[1].to")
    with pytest.raises(PairingRuleError) as caught:
        p.raise_errors(PairingRuleError, header="2 problems")
    assert str(caught.value).splitlines() == [
        "2 problems",
        "  - rules.yaml, column 'rules[0].from': unknown kind 'x'",
        "  - rules.yaml, column 'rules[1].to': missing",
    ]
    assert caught.value.issues == p.items  # type: ignore[attr-defined]


def test_raise_if_any_default_is_a_validation_error() -> None:
    p = Problems("<new>")
    p.raise_if_any()  # nothing recorded
    p.error(2, "id", "id is empty", "编号为空")
    with pytest.raises(ValidationError) as caught:
        p.raise_if_any()
    assert caught.value.issues == p.items
    assert str(caught.value).splitlines()[0] == "<new>: 1 problem(s) found (发现 1 个问题)"


def test_a_layout_collector_makes_layout_issues_and_errors() -> None:
    def error(items: list[Issue]) -> LayoutError:
        return LayoutError(items, file="plan.yaml")

    p = Problems("plan.yaml", issue=layout.LayoutIssue, error=error)
    p.add("missing id", element="elements[0]", key="id")
    p.add("bad lon", anchor="a1", key="lon")
    p.add("not valid YAML")
    assert all(isinstance(i, layout.LayoutIssue) for i in p.items)
    first = p.items[0]
    assert isinstance(first, layout.LayoutIssue)
    assert (first.element, first.anchor, first.key, first.column) == (
        "elements[0]",
        None,
        "id",
        "id",
    )
    with pytest.raises(LayoutError) as caught:
        p.raise_if_any()
    assert str(caught.value).splitlines() == [
        "invalid layout spec plan.yaml: 3 problem(s)",
        "  - plan.yaml, element 'elements[0]', key 'id': missing id",
        "  - plan.yaml, anchor 'a1', key 'lon': bad lon",
        "  - plan.yaml: not valid YAML",
    ]


def test_bad_calls_are_refused_with_a_reason() -> None:
    p = Problems("a.csv")
    with pytest.raises(ValueError, match="severity must be one of error, warning, not 'fatal'"):
        p.add("x", severity="fatal")
    with pytest.raises(ValueError, match=r"element given but the collector of a\.csv"):
        p.add("x", element="core")
    assert p.items == []
