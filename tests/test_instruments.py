"""The instruments are scored over their whole answer space against the published rules, restated here
independently (cut-off lists and exact fractions) rather than by reusing the module's bands."""

from __future__ import annotations

import bisect
import itertools
import re
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest

from server.measures.instruments import (
    INSTRUMENTS,
    Instrument,
    Score,
    answers_problem,
    change_status,
    score,
)

PHQ9 = INSTRUMENTS["phq9"]
GAD7 = INSTRUMENTS["gad7"]
EBI = INSTRUMENTS["ebi"]

# Published cut-offs (Kroenke 2001; Spitzer 2006): a total at or above each cut-off moves up one label.
PHQ9_CUTOFFS = [5, 10, 15, 20]
PHQ9_LABELS = ["none-minimal", "mild", "moderate", "moderately severe", "severe"]
GAD7_CUTOFFS = [5, 10, 15]
GAD7_LABELS = ["minimal", "mild", "moderate", "severe"]


def expected_label(cutoffs: list[int], labels: list[str], total: int) -> str:
    return labels[bisect.bisect_right(cutoffs, total)]


def published_mean(values: tuple[int, ...]) -> float:
    # Exact fraction first, then half-up to one decimal, as a person rounding by hand would.
    exact = Fraction(sum(values), len(values))
    tenths = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return float(tenths)


def mismatches_over_whole_space(
    instrument: Instrument, cutoffs: list[int], labels: list[str], safety_position: int | None
) -> list[tuple[tuple[int, ...], Score]]:
    wrong = []
    for answers in itertools.product(range(4), repeat=len(instrument.items)):
        total = sum(answers)
        expected = Score(
            score=float(total),
            severity=expected_label(cutoffs, labels, total),
            safety_alert=safety_position is not None and answers[safety_position] != 0,
        )
        actual = score(instrument, answers)
        if actual != expected or type(actual.score) is not float:
            wrong.append((answers, actual))
            if len(wrong) > 10:
                break
    return wrong


def test_phq9_whole_answer_space() -> None:
    assert mismatches_over_whole_space(PHQ9, PHQ9_CUTOFFS, PHQ9_LABELS, safety_position=8) == []


def test_gad7_whole_answer_space() -> None:
    assert mismatches_over_whole_space(GAD7, GAD7_CUTOFFS, GAD7_LABELS, safety_position=None) == []


def test_ebi_grid_mean_to_one_decimal() -> None:
    wrong = []
    for answers in itertools.product((0, 1, 50, 99, 100), repeat=6):
        expected = Score(score=published_mean(answers), severity=None, safety_alert=False)
        actual = score(EBI, answers)
        if actual != expected:
            wrong.append((answers, actual))
    assert wrong == []


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([0] * 6, 0.0),
        ([100] * 6, 100.0),
        ([0, 0, 0, 0, 0, 1], 0.2),  # 0.1666... rounds up
        ([0, 0, 0, 0, 1, 1], 0.3),  # 0.333...
        ([0, 0, 0, 0, 0, 3], 0.5),
        ([100, 100, 100, 100, 100, 99], 99.8),  # 99.8333...
        ([50, 51, 50, 51, 50, 51], 50.5),
    ],
)
def test_ebi_bounds_and_rounding(answers: list[int], expected: float) -> None:
    assert score(EBI, answers) == Score(expected, None, False)


def test_item_9_raises_safety_alert_whatever_the_total() -> None:
    result = score(PHQ9, [0] * 8 + [1])
    assert result == Score(1.0, "none-minimal", True)
    assert score(PHQ9, [3] * 8 + [0]).safety_alert is False
    assert score(PHQ9, [0] * 9 + [3]).safety_alert is False  # a difficulty answer is not item 9


def test_gad7_and_ebi_never_alert() -> None:
    assert score(GAD7, [3] * 7).safety_alert is False
    assert score(EBI, [100] * 6).safety_alert is False


@pytest.mark.parametrize("instrument", [PHQ9, GAD7], ids=lambda i: i.id)
def test_difficulty_answer_is_accepted_and_never_scored(instrument: Instrument) -> None:
    n = len(instrument.items)
    for difficulty in range(4):
        answers = [2] * n + [difficulty]
        assert answers_problem(instrument, answers) is None
        assert score(instrument, answers) == score(instrument, [2] * n)


@pytest.mark.parametrize(
    ("instrument", "answers", "fragment"),
    [
        (PHQ9, [0] * 8, "needs 9 answers (10 with the difficulty question); got 8"),
        (PHQ9, [0] * 11, "got 11"),
        (PHQ9, [], "got 0"),
        (GAD7, [0] * 6, "needs 7 answers (8 with the difficulty question); got 6"),
        (GAD7, [0] * 9, "got 9"),
        (EBI, [0] * 7, "needs 6 answers; got 7"),  # no difficulty item to absorb a 7th answer
        (EBI, [0] * 5, "got 5"),
    ],
)
def test_wrong_length_says_how_many_are_expected(instrument: Instrument, answers: list[int], fragment: str) -> None:
    problem = answers_problem(instrument, answers)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("instrument", "answers", "message"),
    [
        (PHQ9, [0, 0, -1, 0, 0, 0, 0, 0, 0], "Answer 3 must be a whole number from 0 to 3."),
        (PHQ9, [0, 0, 0, 0, 0, 0, 0, 0, 4], "Answer 9 must be a whole number from 0 to 3."),
        (PHQ9, [0] * 9 + [4], "Answer 10 (the difficulty question) must be a whole number from 0 to 3."),
        (PHQ9, [0] * 9 + [-1], "Answer 10 (the difficulty question) must be a whole number from 0 to 3."),
        (GAD7, [4, 0, 0, 0, 0, 0, 0], "Answer 1 must be a whole number from 0 to 3."),
        (GAD7, [0] * 7 + [True], "Answer 8 (the difficulty question) must be a whole number from 0 to 3."),
        (EBI, [0, 0, 0, 0, 0, 101], "Answer 6 must be a whole number from 0 to 100."),
        (EBI, [-1, 0, 0, 0, 0, 0], "Answer 1 must be a whole number from 0 to 100."),
        (EBI, [0, 50.5, 0, 0, 0, 0], "Answer 2 must be a whole number from 0 to 100."),
        (PHQ9, [0, True, 0, 0, 0, 0, 0, 0, 0], "Answer 2 must be a whole number from 0 to 3."),
        (PHQ9, [False] * 9, "Answer 1 must be a whole number from 0 to 3."),
        (PHQ9, [0, "1", 0, 0, 0, 0, 0, 0, 0], "Answer 2 must be a whole number from 0 to 3."),
        (PHQ9, [0, None, 0, 0, 0, 0, 0, 0, 0], "Answer 2 must be a whole number from 0 to 3."),
    ],
)
def test_invalid_values_name_the_answer(instrument: Instrument, answers: list[int], message: str) -> None:
    assert answers_problem(instrument, answers) == message


def test_non_list_answers_are_a_problem_not_a_crash() -> None:
    assert answers_problem(PHQ9, "000000000") is not None  # type: ignore[arg-type]
    assert answers_problem(PHQ9, None) is not None  # type: ignore[arg-type]


def test_score_refuses_invalid_answers() -> None:
    with pytest.raises(ValueError, match="Answer 1"):
        score(PHQ9, [4] + [0] * 8)


@pytest.mark.parametrize(
    ("instrument", "baseline", "current", "expected"),
    [
        (PHQ9, 20.0, 10.0, "response"),  # exactly 50%
        (PHQ9, 20.0, 11.0, None),  # 45% drop
        (PHQ9, 21.0, 10.0, "response"),
        (PHQ9, 20.0, 4.0, "remission"),  # remission wins over response
        (PHQ9, None, 4.0, "remission"),
        (PHQ9, 3.0, 4.0, "remission"),  # below 5 is remission even if worse than baseline
        (PHQ9, None, 12.0, None),
        (PHQ9, 0.0, 5.0, None),
        (PHQ9, 10.0, 5.0, "response"),
        (PHQ9, 9.0, 5.0, None),
        (GAD7, 15.0, 7.0, "response"),
        (GAD7, 15.0, 4.0, "remission"),
        (GAD7, 15.0, 8.0, None),
        (EBI, 80.0, 10.0, None),
        (EBI, None, 0.0, None),
    ],
)
def test_change_status(instrument: Instrument, baseline: float | None, current: float, expected: str | None) -> None:
    assert change_status(instrument, baseline, current) == expected


def test_codes_and_item_counts_match_product() -> None:
    assert set(INSTRUMENTS) == {"phq9", "gad7", "ebi"}
    assert [i.loinc for i in PHQ9.items] == [
        "44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8",
    ]  # fmt: skip
    assert [i.loinc for i in GAD7.items] == [
        "69725-0",
        "68509-9",
        "69733-4",
        "69734-2",
        "69735-9",
        "69689-8",
        "69736-7",
    ]
    assert [i.loinc for i in EBI.items] == [None] * 6
    assert (PHQ9.loinc_panel, PHQ9.loinc_total) == ("44249-1", "44261-6")
    assert (GAD7.loinc_panel, GAD7.loinc_total) == ("69737-5", "70274-6")
    assert (EBI.loinc_panel, EBI.loinc_total) == (None, None)
    assert PHQ9.difficulty is not None and PHQ9.difficulty.loinc == "69722-7"
    assert GAD7.difficulty is not None and EBI.difficulty is None
    for instrument in (PHQ9, GAD7):
        assert [(o.value, o.loinc) for o in instrument.options] == [
            (0, "LA6568-5"), (1, "LA6569-3"), (2, "LA6570-1"), (3, "LA6571-9"),
        ]  # fmt: skip
        assert [o.loinc for o in instrument.difficulty_options] == ["LA6572-7", "LA6573-5", "LA6574-3", "LA6575-0"]
        assert (instrument.scale_min, instrument.scale_max, instrument.scoring) == (0, 3, "sum")
    assert (EBI.scale_min, EBI.scale_max, EBI.scoring, EBI.bands, EBI.options) == (0, 100, "mean", (), ())
    assert EBI.scale_anchors == ("No, not more than usually", "Yes, entirely or completely")


def test_item_9_is_the_self_harm_item() -> None:
    # The safety rule is tied to this exact item; a reordering must fail here, not silently move the alert.
    assert PHQ9.items[8].id == "phq9_9"
    assert PHQ9.items[8].text == "Thoughts that you would be better off dead or of hurting yourself in some way"


@pytest.mark.parametrize("instrument", list(INSTRUMENTS.values()), ids=lambda i: i.id)
def test_wording_is_complete_and_distinct(instrument: Instrument) -> None:
    texts = [item.text for item in instrument.items]
    assert all(text.strip() == text and text for text in texts)
    assert len(set(texts)) == len(texts)
    assert [item.id for item in instrument.items] == [f"{instrument.id}_{n}" for n in range(1, len(texts) + 1)]
    assert instrument.instructions and instrument.title and instrument.timeframe
    assert len({o.label for o in instrument.options}) == len(instrument.options)


@pytest.mark.parametrize("instrument", [PHQ9, GAD7], ids=lambda i: i.id)
def test_bands_tile_the_score_range_without_gaps(instrument: Instrument) -> None:
    bands = instrument.bands
    maximum = instrument.scale_max * len(instrument.items)
    assert bands[0].low == 0 and bands[-1].high == maximum
    assert all(later.low == earlier.high + 1 for earlier, later in itertools.pairwise(bands))


def test_item_counts() -> None:
    assert (len(PHQ9.items), len(GAD7.items), len(EBI.items)) == (9, 7, 6)


def test_published_phq9_example() -> None:
    # The example body in PRODUCT.md section 8.
    result = score(PHQ9, [0, 1, 2, 0, 0, 1, 0, 0, 0])
    assert result == Score(4.0, "none-minimal", False)
    assert re.fullmatch(r"\d+\.0", str(result.score))
