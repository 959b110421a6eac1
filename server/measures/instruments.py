"""The validated instruments as data (wording, answer options, bands, LOINC codes) and their scoring.

Everything clinical lives here as plain data so the forms, the API, the therapist view and the FHIR export all
show the same published wording and apply the same bands; only the small functions at the bottom compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec


class AnswerOption(msgspec.Struct, frozen=True):
    value: int
    label: str
    loinc: str | None


class Item(msgspec.Struct, frozen=True):
    id: str
    text: str
    loinc: str | None


class Band(msgspec.Struct, frozen=True):
    """A severity band; both bounds are inclusive (the published cut-offs are stated that way)."""

    low: float
    high: float
    label: str


class Instrument(msgspec.Struct, frozen=True):
    id: str
    name: str
    title: str
    instructions: str
    items: tuple[Item, ...]
    options: tuple[AnswerOption, ...]
    scale_min: int
    scale_max: int
    scale_anchors: tuple[str, str] | None
    difficulty: Item | None
    difficulty_options: tuple[AnswerOption, ...]
    scoring: Literal["sum", "mean"]
    bands: tuple[Band, ...]
    loinc_panel: str | None
    loinc_total: str | None
    timeframe: str


class Score(msgspec.Struct, frozen=True):
    score: float
    severity: str | None
    safety_alert: bool


# --- Shared pieces of the PHQ family (PHQ-9 and GAD-7 use the same answer scale and difficulty item) ---

_FREQUENCY_OPTIONS = (
    AnswerOption(0, "Not at all", "LA6568-5"),
    AnswerOption(1, "Several days", "LA6569-3"),
    AnswerOption(2, "More than half the days", "LA6570-1"),
    AnswerOption(3, "Nearly every day", "LA6571-9"),
)

_DIFFICULTY_OPTIONS = (
    AnswerOption(0, "Not difficult at all", "LA6572-7"),
    AnswerOption(1, "Somewhat difficult", "LA6573-5"),
    AnswerOption(2, "Very difficult", "LA6574-3"),
    AnswerOption(3, "Extremely difficult", "LA6575-0"),
)

_DIFFICULTY_TEXT = (
    "If you checked off any problems, how difficult have these problems made it for you to do your work, "
    "take care of things at home, or get along with other people?"
)
# LOINC 69722-7 is the difficulty question in both the PHQ-9 (44249-1) and the GAD-7 (69737-5) panels.
_DIFFICULTY_LOINC = "69722-7"


def _items(prefix: str, texts: Sequence[str], loincs: Sequence[str | None]) -> tuple[Item, ...]:
    # zip strict: a missing code must fail at import, not silently shift every later code by one item.
    return tuple(
        Item(f"{prefix}_{number}", text, loinc)
        for number, (text, loinc) in enumerate(zip(texts, loincs, strict=True), start=1)
    )


PHQ9 = Instrument(
    id="phq9",
    name="PHQ-9",
    title="Patient Health Questionnaire (PHQ-9)",
    instructions="Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    items=_items(
        "phq9",
        (
            "Little interest or pleasure in doing things",
            "Feeling down, depressed, or hopeless",
            "Trouble falling or staying asleep, or sleeping too much",
            "Feeling tired or having little energy",
            "Poor appetite or overeating",
            "Feeling bad about yourself \u2014 or that you are a failure or have let yourself or your family down",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "Moving or speaking so slowly that other people could have noticed? Or the opposite \u2014 being so "
            "fidgety or restless that you have been moving around a lot more than usual",
            "Thoughts that you would be better off dead or of hurting yourself in some way",
        ),
        ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"),
    ),
    options=_FREQUENCY_OPTIONS,
    scale_min=0,
    scale_max=3,
    scale_anchors=None,
    difficulty=Item("phq9_difficulty", _DIFFICULTY_TEXT, _DIFFICULTY_LOINC),
    difficulty_options=_DIFFICULTY_OPTIONS,
    scoring="sum",
    bands=(
        Band(0, 4, "none-minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 19, "moderately severe"),
        Band(20, 27, "severe"),
    ),
    loinc_panel="44249-1",
    loinc_total="44261-6",
    timeframe="the last 2 weeks",
)

GAD7 = Instrument(
    id="gad7",
    name="GAD-7",
    title="Generalized Anxiety Disorder 7-item scale (GAD-7)",
    instructions="Over the last 2 weeks, how often have you been bothered by the following problems?",
    items=_items(
        "gad7",
        (
            "Feeling nervous, anxious, or on edge",
            "Not being able to stop or control worrying",
            "Worrying too much about different things",
            "Trouble relaxing",
            "Being so restless that it is hard to sit still",
            "Becoming easily annoyed or irritable",
            "Feeling afraid, as if something awful might happen",
        ),
        ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
    ),
    options=_FREQUENCY_OPTIONS,
    scale_min=0,
    scale_max=3,
    scale_anchors=None,
    difficulty=Item("gad7_difficulty", _DIFFICULTY_TEXT, _DIFFICULTY_LOINC),
    difficulty_options=_DIFFICULTY_OPTIONS,
    scoring="sum",
    bands=(
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 21, "severe"),
    ),
    loinc_panel="69737-5",
    loinc_total="70274-6",
    timeframe="the last 2 weeks",
)

# Item wording and order as in Roseman et al. (2019), J Psychopharmacol 33(9):1076-1087, i.e. the six items
# kept after factor analysis of the eight-item draft. The stem is adapted from "your psychedelic experience"
# to the KAP session. The EBI has no LOINC codes and no published severity bands.
EBI = Instrument(
    id="ebi",
    name="EBI",
    title="Emotional Breakthrough Inventory (EBI)",
    instructions="Please rate the extent to which you experienced the following during your most recent session:",
    items=_items(
        "ebi",
        (
            "I faced emotionally difficult feelings that I usually push aside",
            "I experienced a resolution of a personal conflict/trauma",
            "I felt able to explore challenging emotions and memories",
            "I had an emotional breakthrough",
            "I was able to get a sense of closure on an emotional problem",
            "I achieved an emotional release followed by a sense of relief",
        ),
        (None,) * 6,
    ),
    options=(),
    scale_min=0,
    scale_max=100,
    scale_anchors=("No, not more than usually", "Yes, entirely or completely"),
    difficulty=None,
    difficulty_options=(),
    scoring="mean",
    bands=(),
    loinc_panel=None,
    loinc_total=None,
    timeframe="your most recent session",
)

INSTRUMENTS: dict[str, Instrument] = {instrument.id: instrument for instrument in (PHQ9, GAD7, EBI)}

# The item whose any non-zero answer starts the safety flow, whatever the total (PRODUCT.md section 5).
_SAFETY_ITEMS: dict[str, str] = {"phq9": "phq9_9"}

# Remission is defined on the total of the PHQ family only; the EBI measures a session, not a condition.
_REMISSION_BELOW: dict[str, float] = {"phq9": 5.0, "gad7": 5.0}


def _count_problem(instrument: Instrument, count: int) -> str | None:
    scored = len(instrument.items)
    if count == scored or (instrument.difficulty is not None and count == scored + 1):
        return None
    expected = f"{scored} answers"
    if instrument.difficulty is not None:
        expected += f" ({scored + 1} with the difficulty question)"
    return f"The {instrument.name} needs {expected}; got {count}."


def _is_whole_number(value: object) -> bool:
    # bool is a subclass of int, but true/false in a form is a client bug, not an answer of 1/0.
    return isinstance(value, int) and not isinstance(value, bool)


def answers_problem(instrument: Instrument, answers: Sequence[int]) -> str | None:
    """None if `answers` is complete and valid; otherwise a message for the person naming the 1-based answer.

    The optional last answer is the unscored difficulty question (0-3) of the PHQ-9 and GAD-7."""
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
        return "Answers must be a list of whole numbers."
    count_problem = _count_problem(instrument, len(answers))
    if count_problem is not None:
        return count_problem
    for index, value in enumerate(answers):
        if index < len(instrument.items):
            low, high, which = instrument.scale_min, instrument.scale_max, f"Answer {index + 1}"
        else:
            low, high = _option_range(instrument.difficulty_options)
            which = f"Answer {index + 1} (the difficulty question)"
        if not _is_whole_number(value) or not low <= value <= high:
            return f"{which} must be a whole number from {low} to {high}."
    return None


def _option_range(options: Sequence[AnswerOption]) -> tuple[int, int]:
    values = [option.value for option in options]
    return min(values), max(values)


def _mean_to_one_decimal(total: int, count: int) -> float:
    # Integer round-half-up on tenths, so the shown mean never depends on binary float rounding.
    tenths = (20 * total + count) // (2 * count)
    return tenths / 10


def severity(instrument: Instrument, value: float) -> str | None:
    """The band a score falls in (None for an instrument without bands)."""
    if not instrument.bands:
        return None
    for band in instrument.bands:
        if band.low <= value <= band.high:
            return band.label
    raise ValueError(f"{instrument.name} score {value} is outside every band")


def _safety_alert(instrument: Instrument, answers: Sequence[int]) -> bool:
    item_id = _SAFETY_ITEMS.get(instrument.id)
    if item_id is None:
        return False
    position = next(index for index, item in enumerate(instrument.items) if item.id == item_id)
    return answers[position] > 0


def score(instrument: Instrument, answers: Sequence[int]) -> Score:
    """Score a valid answer list; the difficulty answer, when present, never counts."""
    problem = answers_problem(instrument, answers)
    if problem is not None:
        # Scoring an invalid form would put a wrong number in front of a clinician; refuse loudly instead.
        raise ValueError(problem)
    scored = answers[: len(instrument.items)]
    total = sum(scored)
    value = float(total) if instrument.scoring == "sum" else _mean_to_one_decimal(total, len(scored))
    return Score(score=value, severity=severity(instrument, value), safety_alert=_safety_alert(instrument, answers))


def change_status(instrument: Instrument, baseline: float | None, current: float) -> str | None:
    """ "remission", "response" (a drop of at least 50% from a non-zero baseline) or None.

    Remission wins: a person below the cut-off is in remission even if they also halved their score."""
    remission_below = _REMISSION_BELOW.get(instrument.id)
    if remission_below is None:
        return None
    if current < remission_below:
        return "remission"
    if baseline is not None and baseline > 0 and current <= baseline * 0.5:
        return "response"
    return None
