"""Answer parsing, task scoring rules and TRL reward functions (the Curr-ReFT rules, bugs fixed).

- ``parsing``: completion text and ``<answer>`` extraction.
- ``scoring``: pure ``score_*`` rules in [0, 1], shared with the evaluator.
- ``similarity``: graded text similarity in [0, 1] (ROUGE-L, CIDEr-D, findings F1) for RCPA.
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
    make_cider_reward,
    make_findings_f1_reward,
    make_rouge_l_reward,
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
from currvl.rewards.similarity import (
    DEFAULT_FINDINGS_VOCABULARY,
    CiderCorpus,
    asserted_findings,
    cider_d,
    findings_f1,
    rouge_l,
)

__all__ = [
    "DEFAULT_FINDINGS_VOCABULARY",
    "REWARD_NAMES",
    "REWARD_OPTIONS",
    "CiderCorpus",
    "RewardFunc",
    "accuracy_reward",
    "asserted_findings",
    "box_iou",
    "choice_reward",
    "cider_d",
    "completion_text",
    "extract_answer",
    "findings_f1",
    "format_reward",
    "get_reward_funcs",
    "make_accuracy_reward",
    "make_choice_reward",
    "make_cider_reward",
    "make_findings_f1_reward",
    "make_rouge_l_reward",
    "normalize_text",
    "parse_box",
    "parse_choice_letters",
    "parse_labels",
    "parse_number",
    "parse_yes_no",
    "rouge_l",
    "score_answer",
    "score_box",
    "score_choice",
    "score_labels",
    "score_math",
    "score_text",
    "score_yes_no",
    "yes_no_reward",
]
