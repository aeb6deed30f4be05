"""The exercise library and the 10-minute upper-back routine."""

from __future__ import annotations

import typing

import pytest

from analysis import exercises
from analysis.exercises import LIBRARY, Dose, routine_duration_s, upper_back_routine

#: Named in EVIDENCE.md section 1 and in the brief: the library must have each of these.
REQUIRED = {
    "row",
    "reverse_fly",
    "scapular_squeeze",
    "plank",
    "side_plank",
    "dead_bug",
    "bird_dog",
    "glute_bridge",
    "cat_cow",
    "childs_pose",
    "doorway_chest_stretch",
    "wall_slide",
    "thoracic_foam_roll",
    "open_book",
    "shoulder_circles",
    "diaphragmatic_breathing",
}


def test_library_has_the_named_exercises() -> None:
    assert set(LIBRARY) >= REQUIRED


def test_every_exercise_is_complete() -> None:
    causes = set(typing.get_args(exercises.Cause))
    tags = set(typing.get_args(exercises.Tag))
    assert set(exercises.CAUSE_TEXT) == causes
    for exercise_id, e in LIBRARY.items():
        assert e.id == exercise_id
        assert len(e.how_to) == 2
        assert all(line.strip() for line in e.how_to)
        assert e.purpose
        assert e.addresses
        assert set(e.addresses) <= causes
        assert e.tag in tags
        assert e.dose.duration_s > 0
        assert e.dose.text


def test_texts_make_no_medical_claims() -> None:
    banned = ("cure", "heal", "treat", "diagnos", "prevent injur", "guarantee")
    for e in LIBRARY.values():
        text = " ".join((e.name, *e.how_to, e.purpose)).lower()
        assert not any(word in text for word in banned), e.id


def test_dose_duration_by_hand() -> None:
    assert Dose(sets=2, reps=12, rest_s=20).duration_s == 2 * 12 * 3 + 20  # 92 s
    assert Dose(sets=1, hold_s=30, per_side=True).duration_s == 60
    assert (
        Dose(sets=2, reps=8, per_side=True, rep_s=4.0, rest_s=15).duration_s == 2 * 8 * 4 * 2 + 15
    )
    assert Dose(sets=3, hold_s=30, rest_s=20).text == "3 x 30 s"
    assert Dose(sets=2, reps=10, per_side=True).text == "2 x 10 per side"


def test_dose_is_reps_or_hold() -> None:
    with pytest.raises(ValueError, match="either"):
        Dose(sets=1)
    with pytest.raises(ValueError, match="either"):
        Dose(sets=1, reps=5, hold_s=10)
    with pytest.raises(ValueError, match="set"):
        Dose(sets=0, reps=5)


def test_routine_takes_ten_minutes() -> None:
    routine = upper_back_routine()
    assert abs(routine_duration_s(routine) - 600) <= 30
    assert sum(dose.duration_s for _, dose in routine) == routine_duration_s(routine)


def test_routine_mixes_strength_mobility_and_breathing() -> None:
    routine = upper_back_routine()
    ids = [e.id for e, _ in routine]
    assert len(ids) == len(set(ids))
    assert {"strength", "mobility", "breathing"} <= {e.tag for e, _ in routine}
    assert {"row", "reverse_fly", "scapular_squeeze", "doorway_chest_stretch"} <= set(ids)
    assert exercises.exercise("row") is LIBRARY["row"]
    with pytest.raises(KeyError):
        exercises.exercise("burpee")
