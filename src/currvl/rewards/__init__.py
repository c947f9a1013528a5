"""Answer parsing, task scoring rules and TRL reward functions (the Curr-ReFT rules, bugs fixed).

- ``parsing``: completion text and ``<answer>`` extraction.
- ``scoring``: pure ``score_*`` rules in [0, 1], shared with the evaluator.
- ``reward_funcs``: TRL ``f(prompts, completions, **kwargs)`` rewards and the name registry.
"""

from currvl.rewards.parsing import completion_text, extract_answer
from currvl.rewards.reward_funcs import (
    REWARD_NAMES,
    REWARD_OPTIONS,
    RewardFunc,
    accuracy_reward,
    choice_reward,
    format_reward,
    get_reward_funcs,
    make_accuracy_reward,
    make_choice_reward,
    yes_no_reward,
)
from currvl.rewards.scoring import (
    box_iou,
    normalize_text,
    parse_box,
    parse_choice_letters,
    parse_labels,
    parse_number,
    parse_yes_no,
    score_answer,
    score_box,
    score_choice,
    score_labels,
    score_math,
    score_text,
    score_yes_no,
)

__all__ = [
    "REWARD_NAMES",
    "REWARD_OPTIONS",
    "RewardFunc",
    "accuracy_reward",
    "box_iou",
    "choice_reward",
    "completion_text",
    "extract_answer",
    "format_reward",
    "get_reward_funcs",
    "make_accuracy_reward",
    "make_choice_reward",
    "normalize_text",
    "parse_box",
    "parse_choice_letters",
    "parse_labels",
    "parse_number",
    "parse_yes_no",
    "score_answer",
    "score_box",
    "score_choice",
    "score_labels",
    "score_math",
    "score_text",
    "score_yes_no",
    "yes_no_reward",
]
