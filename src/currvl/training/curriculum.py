"""Stage curriculum (Curr-ReFT): which stage runs now and when to move on, as resumable state.

Pure logic, no trainer: the training loop calls `Curriculum.record(accuracy)` once per optimiser step
and switches data/rewards/reference when it returns a transition. The official code ran stages as
separate jobs glued by a shell watcher; here the whole schedule is one object whose `state_dict()`
goes into every checkpoint, so a resumed run continues in the right stage at the right step.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

ADVANCE_RULES = ("steps", "threshold")
ABOUT = ("answer", "concept")
"""What a judge or choice stage asks about (see currvl.data.formats.concept_items)."""
SELF_IMPROVE_FOLDER = "self-improve"
"""Where a run's self-improvement (Curr-ReFT stage B) trains, after the stage folders."""
_STAGE_FOLDER = re.compile(r"stage(\d+)-")


def stage_folder(index: int, name: str) -> str:
    """The folder of curriculum stage `index` inside a run ("stage0-judge")."""
    return f"stage{index}-{name}"


def training_order(folder: str) -> int:
    """Where a run's top-level folder comes in training order: the run itself (-1), its curriculum
    stages by index, then self-improvement."""
    if folder == SELF_IMPROVE_FOLDER:
        return 10**6
    match = _STAGE_FOLDER.match(folder)
    return int(match.group(1)) if match else -1


@dataclass
class Stage:
    name: str
    format: str = "open"  # judge | choice | choice_text | open (see currvl.data.formats)
    rewards: list[str] = field(default_factory=lambda: ["format", "accuracy"])
    max_steps: int = 100  # the stage length ("steps") or its step budget ("threshold")
    advance: str = "steps"  # "steps": the paper's fixed hand-off; "threshold": windowed accuracy
    threshold: float | None = None  # windowed mean accuracy reward that ends the stage early
    window: int = 20  # steps in the accuracy window
    min_steps: int = 0  # never leave before this many steps
    num_generations: int | None = None  # group size override for this stage
    reset_reference: bool = True  # KL anchor = the policy at stage start, as in the official code
    share: float | None = None  # part of the run's trainer.max_steps; sets max_steps (see apportion_steps)
    # what a judge or choice stage asks about: the whole answer, or its concept ("Is the answer 3?" for
    # "The picture has 3 shapes."; the words come from data.concepts or the synthetic world)
    about: str = "answer"

    def __post_init__(self) -> None:
        if self.advance not in ADVANCE_RULES:
            raise ValueError(
                f"stage {self.name!r}: advance must be one of {ADVANCE_RULES}, got {self.advance!r}"
            )
        if self.advance == "threshold" and self.threshold is None:
            raise ValueError(f"stage {self.name!r}: advance 'threshold' needs a threshold")
        if self.max_steps < 1 or self.window < 1:
            raise ValueError(f"stage {self.name!r}: max_steps and window must be >= 1")
        if self.about not in ABOUT:
            raise ValueError(f"stage {self.name!r}: about must be one of {ABOUT}, got {self.about!r}")
        if self.about == "concept" and self.format == "open":
            raise ValueError(f"stage {self.name!r}: an open stage asks for the answer itself (about: answer)")
        if self.num_generations is not None and self.num_generations < 2:
            raise ValueError(
                f"stage {self.name!r}: num_generations must be >= 2 (a group needs two rollouts to compare), "
                f"got {self.num_generations}"
            )
        if self.share is not None and not 0 < self.share <= 1:
            raise ValueError(f"stage {self.name!r}: share must be in (0, 1], got {self.share}")


def apportion_steps(total: int, shares: list[float]) -> list[int]:
    """Split `total` steps in the proportions `shares` (largest remainders, every stage >= 1 step).

    The paper's 3B run hands off at about 600 / 500 / 2300 steps; shares keep those proportions at
    any budget, so a curriculum and a plain GRPO run can be given the same number of steps.
    """
    if total < len(shares):
        raise ValueError(f"{total} steps cannot give each of {len(shares)} stages a step")
    weight = sum(shares)
    exact = [total * s / weight for s in shares]
    steps = [max(1, int(x)) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for i in order[: max(0, total - sum(steps))]:
        steps[i] += 1
    while sum(steps) > total:  # the >= 1 floor took steps from a larger stage
        steps[steps.index(max(steps))] -= 1
    return steps


@dataclass
class Transition:
    from_stage: str
    to_stage: str | None  # None: the curriculum is finished
    at_global_step: int
    stage_steps: int
    reason: str  # "steps", "threshold" or "budget"
    window_mean: float | None


class Curriculum:
    """Walks through `stages`; `record` one accuracy value per step and act on the returned transition."""

    def __init__(self, stages: list[Stage]):
        if not stages:
            raise ValueError("a curriculum needs at least one stage")
        self.stages = stages
        self.stage_index = 0
        self.stage_step = 0
        self.global_step = 0
        self.transitions: list[Transition] = []
        self._window: deque[float] = deque(maxlen=stages[0].window)

    @property
    def finished(self) -> bool:
        return self.stage_index >= len(self.stages)

    @property
    def current(self) -> Stage:
        if self.finished:
            raise IndexError("the curriculum is finished")
        return self.stages[self.stage_index]

    def window_mean(self) -> float | None:
        return sum(self._window) / len(self._window) if self._window else None

    def record(self, accuracy: float) -> Transition | None:
        """Count one optimiser step of the current stage with its mean accuracy reward."""
        stage = self.current
        self.stage_step += 1
        self.global_step += 1
        self._window.append(float(accuracy))
        reason = None
        mean = self.window_mean()
        window_full = len(self._window) == stage.window
        passed = window_full and mean is not None and mean >= (stage.threshold or 0.0)
        if stage.advance == "threshold" and self.stage_step >= stage.min_steps and passed:
            reason = "threshold"
        if reason is None and self.stage_step >= stage.max_steps:
            reason = "steps" if stage.advance == "steps" else "budget"
        if reason is None:
            return None
        nxt = self.stages[self.stage_index + 1].name if self.stage_index + 1 < len(self.stages) else None
        transition = Transition(stage.name, nxt, self.global_step, self.stage_step, reason, mean)
        self.transitions.append(transition)
        self.stage_index += 1
        self.stage_step = 0
        if not self.finished:
            self._window = deque(maxlen=self.current.window)
        return transition

    def state_dict(self) -> dict[str, Any]:
        return {
            "stage_names": [s.name for s in self.stages],
            "stage_index": self.stage_index,
            "stage_step": self.stage_step,
            "global_step": self.global_step,
            "window": list(self._window),
            "transitions": [asdict(t) for t in self.transitions],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        names = [s.name for s in self.stages]
        if state["stage_names"] != names:
            raise ValueError(
                f"checkpoint curriculum stages {state['stage_names']} differ from this recipe's {names}"
            )
        self.stage_index = state["stage_index"]
        self.stage_step = state["stage_step"]
        self.global_step = state["global_step"]
        self.transitions = [Transition(**t) for t in state["transitions"]]
        maxlen = self.current.window if not self.finished else None
        self._window = deque(state["window"], maxlen=maxlen)
