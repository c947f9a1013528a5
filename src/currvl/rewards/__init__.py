"""Answer parsing, task scoring rules and TRL reward functions (the Curr-ReFT rules, bugs fixed).

- ``parsing``: completion text and ``<answer>`` extraction.
- ``scoring``: pure ``score_*`` rules in [0, 1], shared with the evaluator, and their defaults.
- ``similarity``: graded text similarity in [0, 1] (ROUGE-L, CIDEr-D, findings F1).
- ``rule_rewards``: TRL rewards by rule (format, accuracy, choice, yes/no).
- ``similarity_rewards``: TRL rewards by similarity, gated at a threshold (RCPA's curated rewards).
- ``registry``: the ``{name: factory}`` table a recipe's ``rewards:`` names come from.
- ``guard``: the wrapper that keeps a faulty reward from stopping a run.
"""

from currvl.rewards.guard import GuardedReward, RewardFunc, RewardWrapper, guard_reward
from currvl.rewards.parsing import completion_text, extract_answer
from currvl.rewards.registry import (
    OPTION_DEFAULTS,
    REWARD_FACTORIES,
    REWARD_NAMES,
    REWARD_OPTIONS,
    get_reward_funcs,
    import_reward,
)
from currvl.rewards.rule_rewards import (
    AccuracyReward,
    ChoiceReward,
    accuracy_reward,
    choice_reward,
    format_reward,
    yes_no_reward,
)
from currvl.rewards.scoring import (
    DEFAULT_BOX_IOU_THRESHOLD,
    DEFAULT_CHOICE_PARTIAL_CREDIT,
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
from currvl.rewards.similarity_rewards import (
    CiderReward,
    FindingsF1Reward,
    RougeLReward,
    SimilarityReward,
    gate,
)

__all__ = [
    "DEFAULT_BOX_IOU_THRESHOLD",
    "DEFAULT_CHOICE_PARTIAL_CREDIT",
    "DEFAULT_FINDINGS_VOCABULARY",
    "OPTION_DEFAULTS",
    "REWARD_FACTORIES",
    "REWARD_NAMES",
    "REWARD_OPTIONS",
    "AccuracyReward",
    "ChoiceReward",
    "CiderCorpus",
    "CiderReward",
    "FindingsF1Reward",
    "GuardedReward",
    "RewardFunc",
    "RewardWrapper",
    "RougeLReward",
    "SimilarityReward",
    "accuracy_reward",
    "asserted_findings",
    "box_iou",
    "choice_reward",
    "cider_d",
    "completion_text",
    "extract_answer",
    "findings_f1",
    "format_reward",
    "gate",
    "get_reward_funcs",
    "guard_reward",
    "import_reward",
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
