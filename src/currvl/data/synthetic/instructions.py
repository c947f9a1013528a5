"""The base's instruction data: the general suite's items in open, yes/no and choice forms, each with
a short rationale before the answer, plus text-only recall and arithmetic items and grounding scenes.

Every item is a pure function of (index, seed), so a pretraining run is deterministic and resumes
exactly. The base never trains on a domain answer (`currvl.experiments.pretraining` builds it).
"""

from __future__ import annotations

import random
from typing import Any

from currvl.data.formats import judge_candidate, to_choice, to_judge
from currvl.data.schema import OPTION_LETTERS
from currvl.data.synthetic import GENERAL, make_sample_at
from currvl.data.synthetic.general import COLORS, SHAPES, grid_shape, render_scene

FORMS = ("open", "judge", "choice")


IMAGE_SIZE = 112


def _with_form(
    sample: dict[str, Any],
    form: str,
    rng: random.Random,
    seed: int,
    pools,
    compare: bool = False,
    judge_compare: bool = False,
) -> dict[str, Any]:
    """`sample` as an open, yes/no or choice item. The rationale keeps the open answer; a yes/no one
    then restates the asked candidate, so the decision compares two words a few tokens apart (with
    `judge_compare`, adjacent: "left vs right no"); a choice one then scans the options up to the
    answer (`option_scan`)."""
    rationale, answer = sample["rationale"], sample["answer"].strip()
    if form == "judge":
        sample = to_judge(sample, pools, seed, truth=rng.random() < 0.5)
        candidate = judge_candidate(sample)
        sample["rationale"] = f"{rationale}, the question asks {candidate}"
        if judge_compare:
            sample["rationale"] += f", {answer} vs {candidate} {sample['answer']}"
    elif form == "choice":
        sample = to_choice(sample, pools, seed)
        sample["rationale"] = f"{rationale}, {option_scan(sample['options'], sample['answer'], compare)}"
    sample["form"] = form
    return sample


def option_scan(options: list[str], letter: str, compare: bool = False) -> str:
    """ "A. star no, B. circle yes, so B": each option copied from the prompt and judged against the answer
    stated just before, stopping at the first match; the letter is then a few tokens back. With
    `compare` each step restates the answer beside the option ("A. star vs circle no"), so the
    verdict compares two adjacent words."""
    k = OPTION_LETTERS.index(letter)
    said = f" vs {options[k]}" if compare else ""
    steps = ", ".join(
        f"{OPTION_LETTERS[i]}. {options[i]}{said} {'yes' if i == k else 'no'}" for i in range(k + 1)
    )
    return f"{steps}, so {letter}"


def instruction_item(
    index: int, seed: int = 0, compare: bool = False, judge_compare: bool = False
) -> dict[str, Any]:
    """General train item `index` in the form its seeded draw picks (rationale = reasoning, not the letter)."""
    sample = make_sample_at(GENERAL, "train", index, seed=seed, image_size=IMAGE_SIZE)
    rng = random.Random(f"currvl/pretrain-form/{seed}/{index}")
    pools = {(c, GENERAL.tasks[c]): list(v or ()) for c, v in GENERAL.vocabulary.items()}
    return _with_form(sample, rng.choice(FORMS), rng, seed, pools, compare, judge_compare)


def arithmetic_item(
    index: int, seed: int = 0, compare: bool = False, judge_compare: bool = False
) -> dict[str, Any]:
    """The `index`-th arithmetic item of the general train split: text only, so a few more per step
    rehearse the memorised facts for a fraction of an image item's cost."""
    categories = list(GENERAL.categories)
    index = index * len(categories) + categories.index("arithmetic")
    return instruction_item(index, seed, compare, judge_compare)


# Everyday words for the text-only recall items (no domain word: the base never learns one as an answer).
RECALL_WORDS = [
    "apple",
    "bread",
    "chair",
    "river",
    "garden",
    "window",
    "pencil",
    "bottle",
    "candle",
    "ladder",
    "basket",
    "mirror",
    "pillow",
    "blanket",
    "kettle",
    "lemon",
    "onion",
    "carrot",
    "tiger",
    "horse",
    "rabbit",
    "eagle",
    "whale",
    "bridge",
    "castle",
    "forest",
    "island",
    "valley",
    "engine",
    "rocket",
    "guitar",
    "violin",
    "drum",
    "piano",
    "letter",
    "ticket",
    "wallet",
    "jacket",
    "shoe",
    "hat",
    "glove",
    "scarf",
    "clock",
    "lamp",
    "table",
    "plate",
    "spoon",
    "fork",
    "cup",
    "train",
    "boat",
    "plane",
    "truck",
    "bicycle",
    "market",
    "school",
    "church",
    "tower",
]


def _recall_vocabulary() -> list[str]:
    words = [w for v in GENERAL.vocabulary.values() for w in (v or ())] + list(RECALL_WORDS)
    return list(dict.fromkeys(words))  # counts and sums share digits: no duplicate options


def grounding_item(index: int, seed: int = 0) -> dict[str, Any]:
    """Alignment data: where each shape of a scene sits ("the red shape is in row 2, column 3"), the
    colour-word-to-image-token lookup that position questions reason with."""
    rng = random.Random(f"currvl/pretrain-grounding/{seed}/{index}")
    size = (IMAGE_SIZE, IMAGE_SIZE)
    rows, cols = grid_shape(size)
    colors = rng.sample(list(COLORS), rng.randint(2, 4))
    cells = rng.sample([(r, c) for r in range(rows) for c in range(cols)], len(colors))
    objects = [(r, c, rng.choice(SHAPES), name) for (r, c), name in zip(cells, colors, strict=True)]
    said = ", ".join(f"the {name} shape is in row {r + 1}, column {c + 1}" for r, c, _, name in objects)
    return {
        "id": f"grounding-{index}",
        "question": "Where is each shape?",
        "answer": str(len(objects)),
        "task": "math",
        "category": "grounding",
        "image": render_scene(rng, size, objects),
        "rationale": said,
    }


def recall_item(
    index: int, seed: int = 0, compare: bool = False, judge_compare: bool = False
) -> dict[str, Any]:
    """A text-only item whose answer is stated in the question, in any of the three forms.

    It teaches the mechanisms the forms need (copy an option, compare two words) on text,
    densely and cheaply; the image items then only have to supply the word.
    """
    rng = random.Random(f"currvl/pretrain-recall/{seed}/{index}")
    vocab = _recall_vocabulary()
    word = rng.choice(vocab)
    sample = {
        "id": f"recall-{index}",
        "question": f"The word is {word}. What is the word?",
        "answer": word,
        "task": "text",
        "category": "recall",
        "image": None,
        "rationale": f"the word is {word}",
    }
    form = rng.choice(FORMS + ("choice",))  # half of them choice: the option scan needs the most practice
    return _with_form(sample, form, rng, seed, {("recall", "text"): vocab}, compare, judge_compare)
