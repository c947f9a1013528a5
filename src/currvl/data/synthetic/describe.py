"""Free descriptions of the general suite's scenes, composed from phrases: the base's varied answer forms.

Why: a base drilled on three answer templates reads the image only in those templates' contexts, so
it cannot continue a forced prefix in any other form (measured on the shipped base before this stage:
0 of 1,600 samples on the held-out forms of `unseen_forms`, with 60% of the reference forced). Here a
question names which attributes it wants (colour, shape, edge, count), in any order and wording, and
the answer gives them in that order in one of several constructions (sentences, phrases, key-value
lists), the first of each the most common, as one way of saying a thing dominates real text: the
model learns to read an attribute wherever a cue ("colour", "edge", "shapes") asks for it.

No description holds a held-out answer of `unseen_forms` as consecutive words (articles, case and
punctuation ignored, so "The red circle, next to the left edge" counts as one) and no question is
one of its questions: `describe_item` draws again when it would.
"""

from __future__ import annotations

import random
import re
from functools import cache
from typing import Any

from .general import COLORS, POSITIONS, SHAPES, _count_scene, edge_cell, grid_cells, render_scene
from .unseen_forms import QUESTIONS as HELD_OUT_QUESTIONS
from .unseen_forms import held_out_answer

IMAGE_SIZE = 112
RATIONALES = ("i describe what i see", "i read the picture", "i check the image", "i look at the shape")
CANONICAL_SHARE = 0.4
"""How often a plan's first construction is used: as in real text, one way of saying a thing dominates
(the same words the base's rationales use: "the shape is red", "next to the left edge")."""

# Constructions per plan (the attributes asked, in order); {c} colour, {s} shape, {e} edge, {np} a
# noun phrase for a coloured shape, {n} count, {objects} a list of shapes. The first is the canonical.
CONSTRUCTIONS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("colour",): (
        "the shape is {c}",
        "it is {c}",
        "the colour is {c}",
        "colour: {c}",
        "{c}",
        "it is coloured {c}",
    ),
    ("shape",): ("it is a {s}", "the shape is a {s}", "a {s}", "shape: {s}", "it looks like a {s}"),
    ("thing",): ("{np}", "it is {np}", "the picture shows {np}", "i see {np}"),
    ("edge",): (
        "next to the {e} edge",
        "it is next to the {e} edge",
        "the shape is next to the {e} edge",
        "at the {e} edge",
        "on the {e} side",
        "edge: {e}",
    ),
    ("colour", "shape"): (
        "the {s} is {c}",
        "it is a {s}, and it is {c}",
        "colour: {c}, shape: {s}",
        "the colour is {c} and the shape is a {s}",
        "{c}, {s}",
    ),
    ("shape", "colour"): (
        "the {s} is {c}",
        "shape: {s}, colour: {c}",
        "the shape is a {s} and the colour is {c}",
        "a {s} in {c}",
    ),
    ("thing", "edge"): (
        "{np} is next to the {e} edge",
        "there is {np} at the {e} edge",
        "{np} sits next to the {e} edge",
        "{np} near the {e} edge",
        "{np} on the {e} side",
        "{np}, at the {e} edge",
    ),
    ("edge", "thing"): ("next to the {e} edge there is {np}", "at the {e} edge, {np}", "edge: {e}, {np}"),
    ("colour", "edge"): (
        "the {c} shape is next to the {e} edge",
        "it is {c} and next to the {e} edge",
        "colour: {c}, edge: {e}",
    ),
    ("shape", "edge"): ("the {s} is next to the {e} edge", "a {s} at the {e} edge", "shape: {s}, edge: {e}"),
    ("colour", "shape", "edge"): (
        "the {s} is {c} and next to the {e} edge",
        "colour: {c}, shape: {s}, edge: {e}",
        "it is {c}, it is a {s}, and it is next to the {e} edge",
        "{c}, {s}, {e}",
    ),
    ("shape", "colour", "edge"): (
        "the {s} is {c} and it is next to the {e} edge",
        "shape: {s}, colour: {c}, edge: {e}",
        "{s}, {c}, {e}",
    ),
    ("count",): (
        "there are {n} shapes",
        "i count {n} shapes",
        "{n} shapes",
        "the picture has {n} shapes",
        "count: {n}",
        "the count is {n}",
    ),
    ("count", "objects"): (
        "there are {n} shapes: {objects}",
        "{n} shapes: {objects}",
        "i count {n} shapes, {objects}",
    ),
    ("objects",): ("{objects}", "the picture shows {objects}", "shapes: {objects}"),
    # two neighbouring shapes and how they lie: "a red circle next to a blue star", "... above ..."
    ("pair",): ("{np} {relation} {np2}", "there is {np} {relation} {np2}", "i see {np} {relation} {np2}"),
    ("colour_of",): ("the colour of the shape is {c}", "the colour of it is {c}", "its colour is {c}"),
    ("count_of",): ("the number of shapes here is {n}", "the number of them is {n}", "their number is {n}"),
}
NOUN_PHRASES = ("a {c} {s}", "one {c} {s}", "the {c} {s}")
# How a question names each attribute.
ASKED: dict[str, tuple[str, ...]] = {
    "colour": ("the colour", "the color", "what colour it is"),
    "shape": ("the shape", "the kind of shape", "what shape it is"),
    "thing": ("the object", "what the object is", "the coloured shape"),
    "edge": ("the edge", "where it is", "which side it is on"),
    "count": ("the number of shapes", "how many shapes there are", "the count"),
    "objects": ("which shapes they are", "each shape", "the shapes"),
    "pair": ("how the two shapes lie", "the two shapes and their places", "where the shapes are"),
    "colour_of": ("the colour of the shape", "what colour the shape has"),
    "count_of": ("the number of shapes", "how many shapes the picture has"),
}
QUESTION_FRAMES = ("Describe {asked}.", "Tell me {asked}.", "Give {asked}.", "Say {asked}.", "Write {asked}.")
MANY_SHAPE_PLANS = (("count",), ("count", "objects"), ("objects",), ("count_of",))
PAIR_PLANS = (("pair",),)
_ARTICLES = frozenset({"a", "an", "the"})


def _words(text: str) -> tuple[str, ...]:
    """Words without articles, case or punctuation: what the text rule's exact match compares, and
    then some (it keeps inner articles)."""
    return tuple(w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _ARTICLES)


@cache
def held_out_word_sequences() -> frozenset[tuple[str, ...]]:
    """Every held-out answer of `unseen_forms`, as article-free words."""
    out = {_words(held_out_answer("count_sentence", count=n)) for n in range(0, 10)}
    for c in COLORS:
        for s in SHAPES:
            for e in POSITIONS:
                for category in ("edge_sentence", "colour_sentence", "attribute_list"):
                    out.add(_words(held_out_answer(category, c, s, e)))
    return frozenset(out)


def holds_a_held_out_form(text: str) -> bool:
    """Does `text` hold any held-out answer as a run of consecutive words (articles ignored)?"""
    words = _words(text)
    for form in held_out_word_sequences():
        k = len(form)
        if any(words[i : i + k] == form for i in range(len(words) - k + 1)):
            return True
    return False


def _weighted(rng: random.Random, options: tuple[str, ...]) -> str:
    if len(options) == 1 or rng.random() < CANONICAL_SHARE:
        return options[0]
    return rng.choice(options[1:])


def _question(rng: random.Random, plan: tuple[str, ...]) -> str:
    asked = [rng.choice(ASKED[part]) for part in plan]
    said = asked[0] if len(asked) == 1 else ", ".join(asked[:-1]) + " and " + asked[-1]
    return rng.choice(QUESTION_FRAMES).format(asked=said)


RELATIONS = {(0, 1): "next to", (0, -1): "next to", (1, 0): "above", (-1, 0): "below"}
"""(row step, column step) from the first shape to the second -> how the first lies."""


def _pair(rng: random.Random, size: tuple[int, int]) -> tuple[list, dict[str, str]]:
    """Two shapes in neighbouring cells (side by side, or one above the other) and the phrase for it."""
    cells = grid_cells(size)
    while True:
        (r, c), (dr, dc) = rng.choice(cells), rng.choice(list(RELATIONS))
        if (r + dr, c + dc) in cells:
            break
    (c1, s1), (c2, s2) = [(rng.choice(list(COLORS)), rng.choice(SHAPES)) for _ in range(2)]
    objects = [(r, c, s1, c1), (r + dr, c + dc, s2, c2)]
    values = {
        "np": rng.choice(NOUN_PHRASES).format(c=c1, s=s1),
        "np2": f"a {c2} {s2}",
        "relation": RELATIONS[(dr, dc)],
    }
    return objects, values


# The compositional grammar (`describe_grammar="compositional"`): every attribute in every slot a
# sentence has (a predicate "is red", inside a noun phrase "the red circle", after "of" ("the colour of
# the star"), in a reduced relative ("the shape next to the left edge is ..."), a key-value pair), key-
# value lists in the asked order (every order but the held-out one), optional modifiers ("here", "in the picture", "at
# the left edge") and answers that start in either case and end with or without a period, as real text
# does. A held-out form is a way of putting these pieces together that no item shows (the filter
# above still draws again on one), so writing it takes composing pieces, not recalling a template.
# No construction of a one-shape or count scene opens like a held-out form and then turns away from
# it ("the number of shapes here is 3", "the colour of the star at the left edge is red", the three
# attributes listed colour, shape, edge but in other constructions): the first build (v4, the README)
# had such openings, and they taught it that the form goes on otherwise (teacher-forced, " is" after
# "The number of shapes" cost 7.5 nats, " shape" after "colour: red," 7.4). `turns_away_from_a_held_out_form`
# is the test's check.
REFERENCES: dict[str, tuple[str, ...]] = {
    # how a sentence refers to the one shape without naming the attribute it is about to give
    "ref_c": (
        "the shape",
        "the object",
        "the {s}",
        "the {s} at the {e} edge",
        "the shape next to the {e} edge",
        "the {s} here",
    ),
    # after "the colour of": no shape name, which would open the held-out "The colour of the star is ..."
    "ref_of": ("the shape", "the object", "the thing", "it"),
    "ref_s": (
        "the shape",
        "the object",
        "the thing",
        "the {c} shape",
        "the {c} one",
        "the shape at the {e} edge",
    ),
    "ref_e": ("the shape", "the object", "the {s}", "the {c} shape", "the {c} {s}", "it"),
    "ref_cs": ("the object", "the thing", "the shape at the {e} edge", "the object next to the {e} edge"),
    "loc": (
        "next to the {e} edge",
        "at the {e} edge",
        "near the {e} edge",
        "on the {e} side",
        "by the {e} edge",
    ),
}
_ATTRIBUTE_ORDERS = [  # not colour, shape, edge: listed in that order, it is the held-out attribute_list
    ("colour", "edge", "shape"),
    ("shape", "colour", "edge"),
    ("shape", "edge", "colour"),
    ("edge", "colour", "shape"),
    ("edge", "shape", "colour"),
]
_VALUE_SLOT = {"colour": "{c}", "shape": "{s}", "edge": "{e}"}
COMPOSITIONAL: dict[tuple[str, ...], tuple[str, ...]] = {
    ("colour",): (
        "the shape is {c}",
        "it is {c}",
        "the colour is {c}",
        "{kv}",
        "{c}",
        "{ref_c} is {c}",
        "the colour of {ref_of} is {c}",
        "{ref_c} has the colour {c}",
        "the colour of {ref_of}: {c}",
        "its colour is {c}",
    ),
    ("shape",): (
        "it is a {s}",
        "the shape is a {s}",
        "a {s}",
        "{kv}",
        "{ref_s} is a {s}",
        "the shape of {ref_s} is a {s}",
        "it looks like a {s}",
        "the kind of shape is a {s}",
    ),
    ("edge",): (
        "next to the {e} edge",
        "it is next to the {e} edge",
        "{loc}",
        "{kv}",
        "{ref_e} is {loc}",
        "{ref_e} sits {loc}",
        "the side of {ref_e} is the {e} side",
        "the place of {ref_e} is the {e} edge",
    ),
    ("thing",): (
        "{np}",
        "it is {np}",
        "the picture shows {np}",
        "i see {np}",
        "the object is {np}",
        "there is {np}",
    ),
    ("thing", "edge"): (
        "{np} is next to the {e} edge",
        "{np} {loc}",
        "{np} is {loc}",
        "there is {np} {loc}",
        "i see {np} {loc}",
        "{np}, {loc}",
        "the picture shows {np} {loc}",
    ),
    ("edge", "thing"): (
        "next to the {e} edge there is {np}",
        "{loc}, {np}",
        "{loc} there is {np}",
        "edge: {e}, {np}",
    ),
    ("colour", "shape"): (
        "the {s} is {c}",
        "it is a {s}, and it is {c}",
        "{kv}",
        "the colour is {c} and the shape is a {s}",
        "{c}, {s}",
        "{ref_cs} is a {c} {s}",
        "it is {np}",
    ),
    ("shape", "colour"): (
        "the {s} is {c}",
        "{kv}",
        "the shape is a {s} and the colour is {c}",
        "a {s} in {c}",
        "the shape of {ref_s} is a {s} and its colour is {c}",
    ),
    ("colour", "edge"): (
        "the {c} shape is next to the {e} edge",
        "it is {c} and {loc}",
        "{kv}",
        "the colour of {ref_of} is {c} and it is {loc}",
        "a {c} shape {loc}",
    ),
    ("edge", "colour"): ("{loc}, the shape is {c}", "{kv}", "the shape {loc} is {c}"),
    ("shape", "edge"): (
        "the {s} is next to the {e} edge",
        "a {s} {loc}",
        "{kv}",
        "the shape {loc} is a {s}",
        "the place of the {s} is the {e} edge",
        "the side of the {s} is {e}",
    ),
    ("edge", "shape"): ("{kv}", "{loc} there is a {s}", "the shape {loc} is a {s}"),
    **{
        order: (
            "{kv}",
            ", ".join(_VALUE_SLOT[a] for a in order),
            "the {s} is {c} and it is {loc}" if order[0] != "edge" else "{loc} there is {np}",
            "{np} {loc}" if order[-1] == "edge" else "the shape {loc} is {np}",
        )
        for order in _ATTRIBUTE_ORDERS
    },
    ("count",): (
        *CONSTRUCTIONS[("count",)],
        "the count of shapes is {n}",
        "the number of objects is {n}",
        "the number of things here is {n}",
        "the number of objects in the picture is {n}",
        "{n}",
    ),
    ("count", "objects"): CONSTRUCTIONS[("count", "objects")],
    ("objects",): CONSTRUCTIONS[("objects",)],
    ("pair",): (
        "{np} {relation} {np2}",
        "there is {np} {relation} {np2}",
        "i see {np} {relation} {np2}",
        "{np} is {relation} {np2}",
    ),
    ("colour_of",): (
        "the colour of the shape is {c}",
        "the colour of it is {c}",
        "its colour is {c}",
        "the colour of the object is {c}",
        "the colour of the thing is {c}",
    ),
    ("count_of",): (
        "the number of objects here is {n}",
        "the number of them is {n}",
        "their number is {n}",
        "the number of objects is {n}",
        "the number of things is {n}",
    ),
}
GRAMMARS: dict[str, dict[tuple[str, ...], tuple[str, ...]]] = {
    "phrases": CONSTRUCTIONS,
    "compositional": COMPOSITIONAL,
}
"""`phrases`: session 15's grammar (the v2 and v3 builds of the README); `compositional`: above."""
ONE_SHAPE_PLANS: dict[str, tuple[tuple[str, ...], ...]] = {
    name: tuple(p for p in grammar if p not in MANY_SHAPE_PLANS + PAIR_PLANS)
    for name, grammar in GRAMMARS.items()
}


def turns_away_from_a_held_out_form(text: str) -> bool:
    """Does `text` open with a held-out form's first three words (articles ignored) and then go on as
    no held-out form does? (Ending early is not turning away; another colour or edge is another form.)"""
    words = _words(text)
    opened = [form for form in held_out_word_sequences() if words[:3] == form[:3]]
    return bool(opened) and not any(all(a == b for a, b in zip(words, form, strict=False)) for form in opened)


def _one_shape_values(
    rng: random.Random, plan: tuple[str, ...], colour: str, shape: str, edge: str
) -> dict[str, str]:
    """Every slot a one-shape construction may hold, drawn once (a template uses some of them)."""
    values = {"c": colour, "s": shape, "e": edge, "np": rng.choice(NOUN_PHRASES).format(c=colour, s=shape)}
    for slot, options in REFERENCES.items():
        values[slot] = rng.choice(options).format(**values)
    given = {"colour": colour, "shape": shape, "edge": edge}
    values["kv"] = ", ".join(f"{a}: {given[a]}" for a in plan if a in given)
    return values


def _finish(rng: random.Random, text: str, grammar: str) -> str:
    """`phrases`: capitalised, a period; `compositional`: either case, a period or none, as in real text."""
    if grammar == "phrases":
        return text[0].upper() + text[1:] + rng.choice((".", "."))  # the draw keeps v2/v3's items
    if rng.random() < 0.6:
        text = text[0].upper() + text[1:]
    return text + "." if rng.random() < 0.6 else text


def describe_item(index: int, seed: int = 0, grammar: str = "phrases") -> dict[str, Any]:
    """A general scene and a question naming some of its attributes; the answer gives them in the
    asked order in one of the plan's constructions. Never holds a held-out form of `unseen_forms`."""
    if grammar not in GRAMMARS:
        raise ValueError(f"describe grammar must be one of {sorted(GRAMMARS)}, got {grammar!r}")
    constructions = GRAMMARS[grammar]
    rng = random.Random(
        f"currvl/pretrain-describe/{seed}/{index}" + ("" if grammar == "phrases" else f"/{grammar}")
    )
    size = (IMAGE_SIZE, IMAGE_SIZE)
    while True:
        draw = rng.random()
        if draw < 0.15:
            objects, values = _pair(rng, size)
            plan = PAIR_PLANS[0]
        elif draw < 0.75:
            colour, shape = rng.choice(list(COLORS)), rng.choice(SHAPES)
            edge = rng.choice(POSITIONS)
            objects = [(*edge_cell(rng, size, edge), shape, colour)]
            plan = rng.choice(ONE_SHAPE_PLANS[grammar])
            if grammar == "phrases":
                np = rng.choice(NOUN_PHRASES).format(c=colour, s=shape)
                values = {"c": colour, "s": shape, "e": edge, "np": np}
            else:
                values = _one_shape_values(rng, plan, colour, shape, edge)
        else:
            n = rng.randint(2, 5)
            objects = sorted(_count_scene(rng, size, n))
            plan = rng.choice(MANY_SHAPE_PLANS)
            values = {"n": str(n), "objects": ", ".join(f"a {c} {s}" for _, _, s, c in objects)}
        question = _question(rng, plan)
        answer = _finish(rng, _weighted(rng, constructions[plan]).format(**values), grammar)
        if not holds_a_held_out_form(answer) and question not in HELD_OUT_QUESTIONS.values():
            break
    return {
        "id": f"describe-{index}",
        "question": question,
        "answer": answer,
        "task": "text",
        "category": "describe",
        "image": render_scene(rng, size, objects),
        "rationale": rng.choice(RATIONALES),
    }
