"""The base-model gate: balanced forms, hand-checked verdicts, and what the shipped base holds of it."""

import json
from collections import Counter
from pathlib import Path

import pytest

from currvl.config.loader import ConfigError
from currvl.data.prompts import target_text
from currvl.evaluation.gate import (
    check_gate_items,
    gate_min_items,
    gate_probe,
    gate_result,
    longest_token_run,
)


class _Tok:
    """Whitespace tokenizer: enough to count repeated tokens."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [hash(w) for w in text.split()]}


def test_gate_probe_asks_every_class_in_every_form():
    probe = gate_probe(300)
    assert len(probe) == 300
    cells = Counter((s["category"], s["form"]) for s in probe)
    assert len(cells) == 15 and min(cells.values()) >= 18
    colour = Counter(
        (s["form"], s["answer"]) for s in probe if s["category"] == "color" and s["form"] == "open"
    )
    assert len(colour) == 6  # all six colours asked openly, not one colour per form
    judge = [s["answer"] for s in probe if s["form"] == "judge"]
    assert abs(judge.count("yes") - judge.count("no")) <= 0.1 * len(judge)


def test_the_smallest_gate_asks_every_cell_and_one_item_less_does_not():
    n = gate_min_items()
    cells = {(s["category"], s["form"]) for s in gate_probe(n)}
    assert len(cells) == 15
    assert len({(s["category"], s["form"]) for s in gate_probe(n - 1)}) == 14
    check_gate_items(n)
    for too_few in (n - 1, 0, -5):
        with pytest.raises(ConfigError, match=f"at least {n} general items"):
            check_gate_items(too_few)
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert f"at least {n} items, so that every category meets" in readme


def test_longest_token_run():
    assert longest_token_run([]) == 0
    assert longest_token_run([1, 2, 3]) == 1
    assert longest_token_run([1, 2, 2, 2, 3, 2, 2]) == 3


def test_gate_result_passes_perfect_answers_and_names_each_failure():
    probe = gate_probe(60)
    perfect = [target_text({**s, "rationale": "ok"}) for s in probe]
    result = gate_result(probe, perfect, _Tok())
    assert result["passed"] and result["format_rate"] == 1.0
    assert all(row["accuracy"] == 1.0 for row in result["cells"].values())

    broken = list(perfect)
    shape_open = [i for i, s in enumerate(probe) if s["category"] == "shape" and s["form"] == "open"]
    for i in shape_open:  # every open shape item wrong, one of them looping
        broken[i] = "<think>ok</think>\n<answer>blob</answer>"
    broken[shape_open[0]] = "higher " * 9
    broken[shape_open[1]] = "blob"  # 58 of 60 in format: 0.967 < 0.98
    result = gate_result(probe, broken, _Tok())
    assert not result["passed"]
    assert result["cells"]["shape/open"]["accuracy"] == 0.0
    assert result["completions_with_run"] == 1
    text = "\n".join(result["failures"])
    assert "shape/open" in text and "format" in text and "repetition" in text


@pytest.fixture(scope="module")
def shipped_gate():
    from currvl.evaluation.gate import run_gate
    from currvl.models import load_model

    model, processor = load_model("currvl-base")
    return run_gate(model, processor, n=200, batch_size=50)


@pytest.mark.slow
def test_shipped_base_answers_in_format_without_loops(shipped_gate):
    assert shipped_gate["format_rate"] >= 0.98
    assert shipped_gate["completions_with_run"] == 0


@pytest.mark.slow
def test_shipped_base_passes_a_200_item_gate(shipped_gate):
    assert shipped_gate["passed"], shipped_gate["failures"]


@pytest.mark.slow
def test_shipped_base_keeps_its_strong_cells_at_200_items(shipped_gate):
    """Every cell at >= 0.9 in the shipped 1,000-item gate (gate.json) holds >= 0.85 on 200 items."""
    from currvl.models.loading import SHIPPED_BASE

    shipped = json.loads((SHIPPED_BASE / "gate.json").read_text())
    strong = [k for k, v in shipped["cells"].items() if v["accuracy"] >= 0.9]
    assert len(strong) >= 10
    weak = {
        k: shipped_gate["cells"][k]["accuracy"] for k in strong if shipped_gate["cells"][k]["accuracy"] < 0.85
    }
    assert not weak, weak
