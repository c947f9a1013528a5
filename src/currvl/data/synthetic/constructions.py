"""Everyday English from a small grammar: plain language modelling text for the base's pretraining.

Why: teacher-forced, the base writes a held-out answer form only as far as it has written each
junction before: " circle" after "The colour of the" costs 8 nats on every build so far, " shapes"
after "The number of" 4-6, whatever the model's width (README, "A base whose language generalises").
A real VLM's language model has read "the number of X is N", "the colour of the X is Y", "a X next
to the Y" and key-value lists with thousands of nouns; the 80 KB English corpus the base reads
rarely holds them. These sentences give the tiny base that kind of text: many constructions (the
held-out forms' among some twenty others), everyday words, and none of the words the scenes answer
with (their colours, shapes, edges and counts 1-5) or name their things with ("shape", "object",
"picture", "edge"). A held-out form stays a composition: the construction from English, the words
from the image. A test holds the vocabulary apart. With `scene_words` (session 21's v8 build) half the
sentences use the scenes' shapes and colours, in constructions no held-out form has only.
"""

from __future__ import annotations

import random

from .general import COLORS, SHAPES

NOUNS = (
    "cup", "chair", "door", "table", "book", "dog", "cat", "car", "bird", "tree", "lamp", "box", "bag",
    "boat", "house", "apple", "key", "hat", "ball", "plate", "coat", "bottle", "bench", "clock", "bed",
    "horse", "bike", "spoon", "shoe", "flower", "stone", "kite", "train", "bridge", "fence", "jug",
)  # fmt: skip
PLACES = (
    "door", "window", "wall", "road", "river", "bed", "table", "gate", "tree", "fire", "sink", "shelf",
    "station", "garden", "kitchen", "bridge", "car", "fence",
)  # fmt: skip
ADJECTIVES = (
    "small",
    "big",
    "old",
    "new",
    "wooden",
    "heavy",
    "tall",
    "round",
    "soft",
    "clean",
    "empty",
    "long",
)
TINTS = ("white", "black", "brown", "grey", "pink", "gold", "silver", "dark")
"""Colours a thing has in everyday text, none of them a colour the scenes are drawn in."""
NUMBERS = tuple(str(n) for n in range(6, 21))
"""Counts above the scenes' 1-5, so no sentence says how many shapes a scene has."""
NAMES = ("Anna", "Tom", "Sara", "Ben", "Lucy", "Omar", "Mia", "Jack", "Nina", "Leo")
TOWNS = ("Leeds", "Bath", "York", "Paris", "Lyon", "Oslo", "Porto", "Cork")
ROOMS = ("kitchen", "hall", "garden", "shop", "office", "classroom", "barn", "yard")
PREPOSITIONS = ("next to", "near", "behind", "under", "on", "by", "in front of", "beside")
KEYS = {
    "name": NAMES,
    "age": NUMBERS,
    "town": TOWNS,
    "size": ("small", "large", "medium"),
    "colour": TINTS,
    "room": ROOMS,
    "item": NOUNS,
    "place": PLACES,
}

TEMPLATES: tuple[str, ...] = (
    "the number of {pl} is {num}",
    "the number of {pl} in the {room} is {num}",
    "the colour of the {n} is {tint}",
    "the colour of her {n} is {tint}",
    "the size of the {n} is {size}",
    "the name of the {n2} is {name}",
    "a {adj} {n} next to the {place}",
    "a {tint} {n} {prep} the {place}",
    "the {adj} {n} is {prep} the {place}",
    "the {n} next to the {place} is {tint}",
    "the {n} {prep} the {place} is {adj}",
    "there are {num} {pl} in the {room}",
    "there is a {adj} {n} {prep} the {place}",
    "i see a {tint} {n} {prep} the {place}",
    "we counted the {pl}: there were {num}",
    "{name} has {num} {pl}",
    "{name} put the {n} {prep} the {place}",
    "where is the {n}? it is {prep} the {place}",
    "what colour is the {n}? it is {tint}",
    "how many {pl} are there? there are {num}",
    "the {pl} are {tint}",
    "most {pl} are {adj}",
    "her {n} is {tint} and his is {tint2}",
    "{kv}",
    "{kv}",
)
"""Sentences, each a construction with slots; "{kv}" is a key-value list ("name: Tom, age: 31,
town: Bath"), three keys in any order, drawn twice as often as one sentence."""


SCENE_TEMPLATES: tuple[str, ...] = tuple(
    t
    for t in TEMPLATES
    if not t.startswith(("the number of", "the colour of", "a {", "{kv}")) and "next to" not in t
)
"""The constructions a sentence with the scenes' words may take: none of the held-out forms' (the
number of, the colour of, a ... next to, key-value lists), and no "next to" written out (a {prep}
slot may still draw it, after a noun that opens no held-out form)."""


def plural(noun: str) -> str:
    """English plural of the nouns here: "-es" after a hissing end (bench, box, cross), else "-s"."""
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def construction_sentence(rng: random.Random, scene_words: bool = False) -> str:
    """One everyday sentence, in either case and with or without a period, as in real text. With
    `scene_words`, half the sentences put the scenes' shapes and colours in the noun and colour slots
    of `SCENE_TEMPLATES`, so the language's nouns and adjectives include the words an answer reads off
    the image, while the held-out forms' constructions still only ever hold everyday words."""
    scene = scene_words and rng.random() < 0.5
    template = rng.choice(SCENE_TEMPLATES if scene else TEMPLATES)
    nouns, tints, counted = (SHAPES, tuple(COLORS), (*SHAPES, "shape")) if scene else (NOUNS, TINTS, NOUNS)
    n, n2 = rng.sample(nouns, 2)
    t1, t2 = rng.sample(tints, 2)
    keys = rng.sample(sorted(KEYS), 3)
    values = {
        "n": n,
        "n2": n2,
        "pl": plural(rng.choice(counted)),
        "num": rng.choice(NUMBERS),
        "tint": t1,
        "tint2": t2,
        "adj": rng.choice(ADJECTIVES),
        "size": rng.choice(KEYS["size"]),
        "name": rng.choice(NAMES),
        "room": rng.choice(ROOMS),
        "place": rng.choice(PLACES),
        "prep": rng.choice(PREPOSITIONS),
        "kv": ", ".join(f"{k}: {rng.choice(KEYS[k])}" for k in keys),
    }
    text = template.format(**values)
    if rng.random() < 0.7:
        text = text[0].upper() + text[1:]
    return text + "." if rng.random() < 0.7 else text


def constructions_text(index: int, seed: int = 0, sentences: int = 3, scene_words: bool = False) -> str:
    """A short paragraph of `sentences` sentences, a pure function of (seed, index, scene_words)."""
    rng = random.Random(f"currvl/pretrain-constructions/{seed}/{index}" + ("/scene" if scene_words else ""))
    return " ".join(construction_sentence(rng, scene_words) for _ in range(sentences))
