"""Reward names a recipe can use: one `{name: factory}` table, the options and their defaults.

``rewards: [format, accuracy]`` in a recipe becomes `get_reward_funcs(["format", "accuracy"], **options)`:
each name's factory builds its reward from the options, and every reward comes back wrapped in a
`GuardedReward`. "package.module:function" names a user's own TRL-style reward.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from currvl.rewards.guard import RewardFunc, RewardWrapper, guard_reward
from currvl.rewards.rule_rewards import AccuracyReward, ChoiceReward, format_reward, yes_no_reward
from currvl.rewards.scoring import DEFAULT_BOX_IOU_THRESHOLD, DEFAULT_CHOICE_PARTIAL_CREDIT
from currvl.rewards.similarity import DEFAULT_FINDINGS_VOCABULARY
from currvl.rewards.similarity_rewards import CiderReward, FindingsF1Reward, RougeLReward

OPTION_DEFAULTS: dict[str, Any] = {
    "choice_partial_credit": DEFAULT_CHOICE_PARTIAL_CREDIT,  # accuracy, choice
    "box_iou_threshold": DEFAULT_BOX_IOU_THRESHOLD,  # accuracy
    "similarity_threshold": 0.0,  # rouge_l, cider, findings_f1: no gate
    "cider_corpus": None,  # cider: IDF grown from the answers seen
    "findings_vocabulary": DEFAULT_FINDINGS_VOCABULARY,  # findings_f1
}
REWARD_OPTIONS: tuple[str, ...] = tuple(OPTION_DEFAULTS)

REWARD_FACTORIES: dict[str, Callable[[dict[str, Any]], RewardFunc]] = {
    "format": lambda o: RewardWrapper(format_reward, "format"),
    "accuracy": lambda o: AccuracyReward(o["choice_partial_credit"], o["box_iou_threshold"]),
    "yes_no": lambda o: RewardWrapper(yes_no_reward, "yes_no"),
    "choice": lambda o: ChoiceReward(o["choice_partial_credit"]),
    "rouge_l": lambda o: RougeLReward(o["similarity_threshold"]),
    "cider": lambda o: CiderReward(o["similarity_threshold"], o["cider_corpus"]),
    "findings_f1": lambda o: FindingsF1Reward(o["similarity_threshold"], o["findings_vocabulary"]),
}
REWARD_NAMES: tuple[str, ...] = tuple(REWARD_FACTORIES)


def import_reward(spec: str) -> RewardFunc:
    """A user's own TRL-style reward, named in a recipe as 'package.module:function'. The working
    directory is searched after the installed packages, as `python -m` would: the `currvl` command's
    own sys.path does not hold it, and a reward module beside the recipe is the common case."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"reward {spec!r}: cannot import it ({err})") from None
    if not callable(func):
        raise ValueError(f"reward {spec!r} is not callable")
    return func


def get_reward_funcs(names: Sequence[str], **options: Any) -> list[RewardFunc]:
    """Reward callables for recipe names, in order, each logged under its name and guarded.

    ``names`` from REWARD_NAMES, or "module:function" for your own callable; ``options`` from
    REWARD_OPTIONS (defaults in OPTION_DEFAULTS). Unknown names or options raise ValueError listing
    the known ones.
    """
    if isinstance(names, str):
        names = [names]
    unknown_options = sorted(set(options) - set(REWARD_OPTIONS))
    if unknown_options:
        raise ValueError(f"unknown reward option(s) {unknown_options}; known options: {list(REWARD_OPTIONS)}")
    resolved = {**OPTION_DEFAULTS, **options}
    funcs: list[RewardFunc] = []
    for name in names:
        if name in REWARD_FACTORIES:
            funcs.append(REWARD_FACTORIES[name](resolved))
        elif ":" in name:
            funcs.append(import_reward(name))
        else:
            raise ValueError(
                f"unknown reward {name!r}; known rewards: {list(REWARD_NAMES)} or 'module.path:function'"
            )
    return [guard_reward(f) for f in funcs]
