"""Stage switching by steps and by threshold, and curriculum state round trips."""

import json

import pytest

from currvl.training.curriculum import Curriculum, Stage


def _paper_schedule():
    return [
        Stage("judge", "judge", max_steps=3),
        Stage("choice", "choice", max_steps=2),
        Stage("open", "open", max_steps=4),
    ]


def test_fixed_step_hand_off():
    cur = Curriculum(_paper_schedule())
    seen = []
    while not cur.finished:
        seen.append(cur.current.name)
        cur.record(0.0)
    assert seen == ["judge"] * 3 + ["choice"] * 2 + ["open"] * 4
    assert [(t.from_stage, t.to_stage, t.at_global_step, t.reason) for t in cur.transitions] == [
        ("judge", "choice", 3, "steps"),
        ("choice", "open", 5, "steps"),
        ("open", None, 9, "steps"),
    ]


def test_threshold_advances_only_when_the_window_mean_passes():
    stage = Stage("judge", "judge", advance="threshold", threshold=0.8, window=3, min_steps=2, max_steps=50)
    cur = Curriculum([stage, Stage("open", max_steps=1)])
    for acc in [1.0, 1.0]:  # window of 3 not full yet, although every step scored 1
        assert cur.record(acc) is None
    for _ in range(3):  # windows [1, 1, .3], [1, .3, 1], [.3, 1, 1]: mean 0.77 < 0.8
        assert cur.record(0.3 if cur.stage_step == 2 else 1.0) is None
    t = cur.record(1.0)  # window [1, 1, 1]
    assert (
        t is not None
        and t.reason == "threshold"
        and t.stage_steps == 6
        and t.window_mean == pytest.approx(1.0)
    )
    assert cur.current.name == "open" and cur.window_mean() is None


def test_threshold_stage_stops_at_its_budget():
    cur = Curriculum([Stage("judge", advance="threshold", threshold=0.9, window=2, max_steps=4)])
    results = [cur.record(0.1) for _ in range(4)]
    assert results[:3] == [None] * 3 and results[3].reason == "budget" and cur.finished


def test_state_round_trip_resumes_in_the_right_stage_and_step():
    a = Curriculum(_paper_schedule())
    for _ in range(4):
        a.record(0.5)
    state = json.loads(json.dumps(a.state_dict()))  # checkpoints store it as JSON
    b = Curriculum(_paper_schedule())
    b.load_state_dict(state)
    assert (b.current.name, b.stage_step, b.global_step) == ("choice", 1, 4)
    ta, tb = a.record(1.0), b.record(1.0)
    assert ta == tb and ta.to_stage == "open" and ta.at_global_step == 5
    with pytest.raises(ValueError, match="differ"):
        Curriculum([Stage("other")]).load_state_dict(state)


def test_stage_validation():
    with pytest.raises(ValueError, match="needs a threshold"):
        Stage("x", advance="threshold")
    with pytest.raises(ValueError, match="advance must be"):
        Stage("x", advance="sometimes")


def test_apportion_steps_keeps_the_proportions_and_the_total():
    from currvl.training.curriculum import apportion_steps

    assert apportion_steps(3400, [600, 500, 2300]) == [600, 500, 2300]  # the paper's 3B hand-offs
    assert apportion_steps(90, [0.18, 0.15, 0.67]) == [16, 14, 60]
    assert apportion_steps(100, [1, 1, 1]) == [34, 33, 33]
    assert apportion_steps(3, [0.01, 0.01, 0.98]) == [1, 1, 1]  # every stage keeps a step
    assert apportion_steps(4, [0.01, 0.01, 0.98]) == [1, 1, 2]
    with pytest.raises(ValueError, match="cannot give each"):
        apportion_steps(2, [1, 1, 1])


def test_run_folders_sort_in_training_order():
    from currvl.training.curriculum import SELF_IMPROVE_FOLDER, stage_folder, training_order

    folders = [SELF_IMPROVE_FOLDER, stage_folder(10, "open"), "checkpoint-5", stage_folder(2, "choice")]
    assert sorted(folders, key=training_order) == [
        "checkpoint-5",
        "stage2-choice",
        "stage10-open",
        "self-improve",
    ]
