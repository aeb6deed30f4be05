"""The exercise library Strideguard recommends with its findings, and a 10-minute routine.

Written for this product from the physiotherapist's guidance summarised in EVIDENCE.md
section 1 (rows, flys, shoulder-blade squeezes, core work, chest and midback stretches, thoracic
mobility, breathing). Each exercise says which cause from that section it addresses, so a
finding can explain why it suggests it. The texts describe movements; they make no medical
claims and never replace a professional's advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Cause = Literal[
    "postural_strain",
    "running_form",
    "pounding",
    "heavy_breathing",
    "weak_midback_core",
    "muscle_imbalance",
    "stress",
]
"""The causes of upper-back strain listed in EVIDENCE.md section 1."""

CAUSE_TEXT: dict[Cause, str] = {
    "postural_strain": "daily postural strain (rounded shoulders, forward head)",
    "running_form": "running form (arms crossing the midline, shoulders creeping up when tired)",
    "pounding": "pounding from hard surfaces, worn shoes or poor muscle control",
    "heavy_breathing": "heavy breathing at high intensity (neck muscles doing the work)",
    "weak_midback_core": "a weak midback or core",
    "muscle_imbalance": "muscle imbalances (tight chest and front of the shoulders)",
    "stress": "stress",
}

Tag = Literal["strength", "mobility", "breathing", "posture"]

#: Seconds one repetition takes unless a dose says otherwise: a controlled 1-1-1 s tempo.
DEFAULT_REP_S = 3.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Dose:
    """How much of an exercise: sets of reps or of timed holds, optionally per side.

    `duration_s` estimates the time it takes so a routine can be fitted to a time budget.
    """

    sets: int = 1
    reps: int | None = None
    """Repetitions per set (per side when `per_side`); None for a timed hold."""
    hold_s: float | None = None
    """Seconds per set (per side when `per_side`) for a timed exercise."""
    rep_s: float = DEFAULT_REP_S
    """Seconds one repetition takes (slow movements and short holds take longer)."""
    per_side: bool = False
    rest_s: float = 0.0
    """Rest between sets."""

    def __post_init__(self) -> None:
        if self.sets < 1:
            raise ValueError("a dose needs at least one set")
        if (self.reps is None) == (self.hold_s is None):
            raise ValueError("a dose is either reps or a timed hold")

    @property
    def duration_s(self) -> float:
        """Estimated time including rests between sets."""
        per_set = self.reps * self.rep_s if self.reps is not None else float(self.hold_s or 0)
        sides = 2 if self.per_side else 1
        return self.sets * per_set * sides + (self.sets - 1) * self.rest_s

    @property
    def text(self) -> str:
        """E.g. "2 x 12", "3 x 30 s per side"."""
        amount = f"{self.reps}" if self.reps is not None else f"{self.hold_s:g} s"
        side = " per side" if self.per_side else ""
        return f"{self.sets} x {amount}{side}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Exercise:
    """One exercise: a two-line how-to, what it is for, a default dose and a tag."""

    id: str
    name: str
    how_to: tuple[str, str]
    purpose: str
    addresses: tuple[Cause, ...]
    dose: Dose
    tag: Tag
    equipment: str | None = None


_EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        id="row",
        name="Row (band or dumbbell)",
        how_to=(
            "Anchor a band at chest height (or hold a light dumbbell, hinged forward, one hand "
            "on a bench) and pull your elbows back close to your sides.",
            "Squeeze your shoulder blades together at the end, keep your shoulders away from "
            "your ears, and return slowly.",
        ),
        purpose="Strengthens the midback muscles that hold the shoulders back.",
        addresses=("weak_midback_core", "postural_strain"),
        dose=Dose(sets=2, reps=12, rest_s=20),
        tag="strength",
        equipment="resistance band or light dumbbell",
    ),
    Exercise(
        id="reverse_fly",
        name="Reverse fly",
        how_to=(
            "Hold a band in front of you at shoulder height with straight but soft elbows, or "
            "hinge forward holding light dumbbells.",
            "Open your arms out to the sides until they line up with your shoulders, then "
            "return slowly; keep your neck long.",
        ),
        purpose="Works the back of the shoulders and the upper back against a rounded posture.",
        addresses=("weak_midback_core", "muscle_imbalance"),
        dose=Dose(sets=2, reps=12, rest_s=20),
        tag="strength",
        equipment="resistance band or light dumbbells",
    ),
    Exercise(
        id="scapular_squeeze",
        name="Shoulder-blade squeeze",
        how_to=(
            "Sit or stand tall with your arms relaxed and gently draw your shoulder blades "
            "back and down, as if tucking them into your back pockets.",
            "Hold for five seconds while your upper traps stay soft (shoulders away from the "
            "ears), then let go.",
        ),
        purpose="Teaches the midback to work while the neck and upper traps stay relaxed.",
        addresses=("postural_strain", "running_form"),
        dose=Dose(sets=1, reps=10, rep_s=5.0),
        tag="posture",
    ),
    Exercise(
        id="plank",
        name="Plank",
        how_to=(
            "Rest on your forearms and toes with elbows under your shoulders and your body in "
            "one straight line from head to heels.",
            "Tighten your belly and buttocks and breathe steadily; stop when your hips sag.",
        ),
        purpose="Builds trunk stiffness so the spine is steadier with every stride.",
        addresses=("weak_midback_core", "pounding"),
        dose=Dose(sets=3, hold_s=30, rest_s=20),
        tag="strength",
    ),
    Exercise(
        id="side_plank",
        name="Side plank",
        how_to=(
            "Lie on your side propped on one forearm, elbow under the shoulder, knees bent "
            "(easier) or legs straight.",
            "Lift your hips so your body forms a straight line and hold; then switch sides.",
        ),
        purpose="Strengthens the side of the trunk and the hip, which control pelvic drop.",
        addresses=("weak_midback_core", "pounding"),
        dose=Dose(sets=2, hold_s=20, per_side=True, rest_s=15),
        tag="strength",
    ),
    Exercise(
        id="dead_bug",
        name="Dead bug",
        how_to=(
            "Lie on your back with arms pointing to the ceiling and hips and knees bent at "
            "right angles; press your lower back gently into the floor.",
            "Slowly lower the opposite arm and leg towards the floor and back, alternating, "
            "without letting your back arch.",
        ),
        purpose="Trains the core to stay steady while arms and legs move, as in running.",
        addresses=("weak_midback_core", "running_form"),
        dose=Dose(sets=2, reps=8, per_side=True, rest_s=20),
        tag="strength",
    ),
    Exercise(
        id="bird_dog",
        name="Bird dog",
        how_to=(
            "Kneel on all fours with hands under shoulders and knees under hips, back flat.",
            "Reach one arm forward and the opposite leg back, pause for two seconds, return, "
            "and switch sides without rocking.",
        ),
        purpose="Builds back and hip control and balance on a steady trunk.",
        addresses=("weak_midback_core", "running_form"),
        dose=Dose(sets=2, reps=8, per_side=True, rep_s=4.0, rest_s=15),
        tag="strength",
    ),
    Exercise(
        id="glute_bridge",
        name="Glute bridge",
        how_to=(
            "Lie on your back with knees bent and feet flat, hip-width apart.",
            "Push through your heels to lift your hips until knees, hips and shoulders line "
            "up, pause, and lower slowly.",
        ),
        purpose="Strengthens the hips, which help absorb landing forces when running.",
        addresses=("pounding", "weak_midback_core"),
        dose=Dose(sets=2, reps=12, rest_s=20),
        tag="strength",
    ),
    Exercise(
        id="clamshell",
        name="Clamshell",
        how_to=(
            "Lie on your side with hips and knees bent and feet together.",
            "Keeping your feet touching and your pelvis still, lift the top knee, pause, and "
            "lower; then switch sides.",
        ),
        purpose="Works the outer hip muscles that keep the knee and pelvis in line.",
        addresses=("pounding",),
        dose=Dose(sets=2, reps=12, per_side=True, rest_s=15),
        tag="strength",
    ),
    Exercise(
        id="single_leg_balance",
        name="Single-leg balance",
        how_to=(
            "Stand on one foot near a wall for safety, knee soft and hips level.",
            "Hold steady, then make it harder by closing your eyes or turning your head; "
            "switch legs.",
        ),
        purpose="Practises the balance and control each landing in running needs.",
        addresses=("pounding", "running_form"),
        dose=Dose(sets=2, hold_s=30, per_side=True),
        tag="strength",
    ),
    Exercise(
        id="cat_cow",
        name="Cat-cow",
        how_to=(
            "Kneel on all fours. Breathing in, let your belly drop and lift your chest and "
            "gaze (cow).",
            "Breathing out, round your back towards the ceiling and tuck your chin (cat); move "
            "slowly through a comfortable range.",
        ),
        purpose="Moves the whole spine, including the stiff midback, through its range.",
        addresses=("postural_strain", "stress"),
        dose=Dose(sets=1, reps=10, rep_s=5.0),
        tag="mobility",
    ),
    Exercise(
        id="childs_pose",
        name="Child's pose",
        how_to=(
            "Kneel, sit back towards your heels and walk your hands forward until your "
            "forehead rests on the floor or a cushion.",
            "Let your back and shoulders relax and breathe slowly into your back.",
        ),
        purpose="A gentle stretch for the back and shoulders and a calm breathing position.",
        addresses=("postural_strain", "stress"),
        dose=Dose(sets=1, hold_s=45),
        tag="mobility",
    ),
    Exercise(
        id="doorway_chest_stretch",
        name="Doorway chest stretch",
        how_to=(
            "Stand in a doorway with your forearm on the frame, elbow at shoulder height.",
            "Step forward with the same-side foot until you feel a stretch across the chest; "
            "hold without shrugging, then switch sides.",
        ),
        purpose="Stretches a tight chest and front of the shoulders that pull you forward.",
        addresses=("muscle_imbalance", "postural_strain"),
        dose=Dose(sets=1, hold_s=30, per_side=True),
        tag="mobility",
    ),
    Exercise(
        id="wall_slide",
        name="Wall slide",
        how_to=(
            "Stand with your back, head and forearms against a wall, elbows bent like a goalpost.",
            "Slide your arms up as far as you can while keeping contact with the wall, then "
            "slide them down, shoulders away from the ears.",
        ),
        purpose="Improves shoulder and upper-back mobility with good shoulder-blade control.",
        addresses=("postural_strain", "muscle_imbalance"),
        dose=Dose(sets=2, reps=10, rest_s=15),
        tag="mobility",
    ),
    Exercise(
        id="thoracic_foam_roll",
        name="Thoracic foam rolling",
        how_to=(
            "Lie with a foam roller across your upper back, knees bent, hands supporting your "
            "head.",
            "Roll slowly between the bottom of the shoulder blades and the top of the "
            "shoulders; skip the lower back and the neck.",
        ),
        purpose="Eases stiffness in the midback after long days at a desk or long runs.",
        addresses=("postural_strain",),
        dose=Dose(sets=1, hold_s=45),
        tag="mobility",
        equipment="foam roller",
    ),
    Exercise(
        id="open_book",
        name="Open book",
        how_to=(
            "Lie on your side with knees bent to the front and arms straight ahead, palms "
            "together.",
            "Open the top arm up and over to the other side, following your hand with your "
            "eyes, and let your upper back rotate; return slowly.",
        ),
        purpose="Restores rotation in the midback, which running uses with every arm swing.",
        addresses=("postural_strain", "running_form"),
        dose=Dose(sets=1, reps=6, per_side=True, rep_s=5.0),
        tag="mobility",
    ),
    Exercise(
        id="shoulder_circles",
        name="Shoulder circles",
        how_to=(
            "Stand tall with arms relaxed at your sides.",
            "Draw slow, large circles with your shoulders, ten backwards then ten forwards, "
            "letting the neck stay loose.",
        ),
        purpose="Loosens the shoulders and reminds tense upper traps to let go.",
        addresses=("running_form", "stress"),
        dose=Dose(sets=1, reps=20, rep_s=2.0),
        tag="mobility",
    ),
    Exercise(
        id="chin_tuck",
        name="Chin tuck",
        how_to=(
            "Sit or stand tall and look straight ahead.",
            "Glide your head straight back, making a gentle double chin, hold for three "
            "seconds and relax.",
        ),
        purpose="Counters a forward-head posture from screens and phones.",
        addresses=("postural_strain",),
        dose=Dose(sets=1, reps=10, rep_s=4.0),
        tag="posture",
    ),
    Exercise(
        id="diaphragmatic_breathing",
        name="Diaphragmatic breathing",
        how_to=(
            "Lie on your back or sit tall with one hand on your chest and one on your belly.",
            "Breathe in through your nose so the belly hand rises while the chest hand stays "
            "still, then breathe out slowly for longer than you breathed in.",
        ),
        purpose=(
            "Practises breathing with the diaphragm so the neck muscles do less of the work "
            "when running hard; also a way to wind down."
        ),
        addresses=("heavy_breathing", "stress"),
        dose=Dose(sets=1, hold_s=60),
        tag="breathing",
    ),
    Exercise(
        id="relaxed_arm_swing",
        name="Relaxed arm-swing drill",
        how_to=(
            "Stand or march on the spot with elbows bent at about 90 degrees and hands loose.",
            "Swing the arms forward and back from the shoulder without crossing the middle of "
            "your body, keeping the shoulders low.",
        ),
        purpose="Rehearses an arm swing that does not cross the midline or hunch the shoulders.",
        addresses=("running_form",),
        dose=Dose(sets=2, hold_s=30, rest_s=15),
        tag="posture",
    ),
    Exercise(
        id="desk_break",
        name="Desk posture break",
        how_to=(
            "Every 30 to 45 minutes at a desk, stand up, roll your shoulders back and look "
            "into the distance.",
            "Take three slow breaths, then check that the screen is at eye height before you "
            "sit down again.",
        ),
        purpose="Breaks up long spells of sitting that load the upper back.",
        addresses=("postural_strain", "stress"),
        dose=Dose(sets=1, hold_s=30),
        tag="posture",
    ),
)

LIBRARY: dict[str, Exercise] = {e.id: e for e in _EXERCISES}
"""Every exercise by id (the ids findings refer to)."""


def exercise(exercise_id: str) -> Exercise:
    """Look an exercise up by id (KeyError for an unknown id, so typos fail loudly)."""
    return LIBRARY[exercise_id]


#: The routine: midback strength, chest and thoracic mobility, breathing, per EVIDENCE.md 1.
_ROUTINE: tuple[tuple[str, Dose], ...] = (
    ("diaphragmatic_breathing", Dose(sets=1, hold_s=60)),
    ("shoulder_circles", Dose(sets=1, reps=20, rep_s=2.0)),
    ("cat_cow", Dose(sets=1, reps=10, rep_s=5.0)),
    ("open_book", Dose(sets=1, reps=5, per_side=True, rep_s=5.0)),
    ("wall_slide", Dose(sets=2, reps=10, rest_s=15)),
    ("row", Dose(sets=2, reps=12, rest_s=20)),
    ("reverse_fly", Dose(sets=2, reps=12, rest_s=20)),
    ("scapular_squeeze", Dose(sets=1, reps=8, rep_s=5.0)),
    ("doorway_chest_stretch", Dose(sets=1, hold_s=30, per_side=True)),
    ("childs_pose", Dose(sets=1, hold_s=45)),
)


def upper_back_routine() -> list[tuple[Exercise, Dose]]:
    """A 10-minute upper-back routine (strength, mobility, breathing), in order.

    Meant to be done at least twice a week, the dose EVIDENCE.md section 1 recommends.
    """
    return [(LIBRARY[exercise_id], dose) for exercise_id, dose in _ROUTINE]


def routine_duration_s(routine: list[tuple[Exercise, Dose]]) -> float:
    """Total estimated time of a routine in seconds."""
    return sum(dose.duration_s for _, dose in routine)
