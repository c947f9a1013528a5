"""Base pretraining: labels match the drawn scene, items never leak a domain answer, resume is exact."""

import json
import random

import pytest
import torch

from currvl.algorithms import vision_proxy
from currvl.data.formats import judge_candidate
from currvl.data.synthetic import instructions
from currvl.data.synthetic.general import COLORS, SHAPES, random_scene, render_scene
from currvl.experiments import pretraining as bp
from currvl.models.tiny import TinyModelSpec, frozen_tokenizer_corpus, train_tokenizer


def test_vision_labels_describe_the_drawn_scene():
    images, labels = vision_proxy.vision_batch(seed=0, step=0, n=8)
    assert len(images) == 8 and labels["color"].shape == (8 * 16,)
    rng = random.Random("currvl/pretrain-vision/0/0/3")  # item 3, drawn again the same way
    objects = random_scene(rng, (112, 112), vision_proxy.MAX_SCENE_OBJECTS)
    token = slice(3 * 16, 4 * 16)
    assert int((labels["color"][token] > 0).sum()) == len(objects)
    assert torch.all(labels["count"][token] == len(objects))
    for row, col, kind, color in objects:
        cell = 3 * 16 + row * 4 + col
        assert labels["color"][cell] == 1 + list(COLORS).index(color)
        assert labels["shape"][cell] == 1 + list(SHAPES).index(kind)
        assert labels["row"][cell] == row and labels["col"][cell] == col
        others = [(r, c) for r, c, _, _ in objects if (r, c) != (row, col)]
        expect = [any(c < col for _, c in others), any(c > col for _, c in others)]
        expect += [any(r < row for r, _ in others), any(r > row for r, _ in others)]
        assert labels["rel"][cell].tolist() == [float(x) for x in expect]


def test_render_scene_puts_each_object_in_its_cell():
    img = render_scene(random.Random(0), (112, 112), [(1, 2, "square", "red")])
    px = img.load()
    assert px[2 * 28 + 14, 1 * 28 + 14][0] > 150 and px[2 * 28 + 14, 1 * 28 + 14][1] < 90  # red at the centre
    assert min(px[14, 14]) > 200  # an empty cell stays background


def test_instruction_items_cover_three_forms_and_reason_before_deciding():
    items = [instructions.instruction_item(i) for i in range(120)]
    assert {s["form"] for s in items} == {"open", "judge", "choice"}
    assert {s["category"] for s in items} == {"color", "shape", "count", "position", "arithmetic"}
    for s in items:
        if s["form"] == "open":
            assert s["answer"] in s["rationale"].split(), s
        elif s["form"] == "judge":  # restates the asked candidate; the yes/no is the answer's job
            candidate = s["question"].rsplit("Is the answer ", 1)[1].rstrip("?")
            assert s["rationale"].endswith(f", the question asks {candidate}"), s
        else:
            assert s["answer"] in "ABCD" and len(s["options"]) >= 2
            assert s["options"][ord(s["answer"]) - ord("A")] in s["rationale"], s
    assert [instructions.instruction_item(i)["question"] for i in range(5)] == [
        s["question"] for s in items[:5]
    ]


def test_option_scan_copies_and_judges_each_option_up_to_the_answer():
    assert instructions.option_scan(["star", "circle", "cross"], "B") == "A. star no, B. circle yes, so B"
    assert instructions.option_scan(["7", "4"], "A") == "A. 7 yes, so A"
    item = next(s for s in (instructions.instruction_item(i) for i in range(40)) if s["form"] == "choice")
    assert item["rationale"].endswith(instructions.option_scan(item["options"], item["answer"]))


def test_compare_scan_restates_the_answer_beside_each_option():
    assert (
        instructions.option_scan(["star", "circle"], "B", compare=True)
        == "A. star vs circle no, B. circle vs circle yes, so B"
    )
    item = next(
        s
        for s in (instructions.instruction_item(i, compare=True) for i in range(40))
        if s["form"] == "choice"
    )
    assert item["rationale"].endswith(instructions.option_scan(item["options"], item["answer"], compare=True))


def test_judge_compare_ends_the_yes_no_rationale_with_an_adjacent_comparison():
    items = [instructions.instruction_item(i, compare=True, judge_compare=True) for i in range(80)]
    plain = [instructions.instruction_item(i, compare=True) for i in range(80)]
    judges = [(s, p) for s, p in zip(items, plain, strict=True) if s["form"] == "judge"]
    assert {s["answer"] for s, _ in judges} == {"yes", "no"}
    for s, p in judges:  # same item and verdict, the rationale only gains "<read> vs <asked> <verdict>"
        assert (s["question"], s["answer"]) == (p["question"], p["answer"])
        read, vs, asked, verdict = s["rationale"].removeprefix(p["rationale"] + ", ").split()
        assert vs == "vs" and asked == judge_candidate(s) and verdict == s["answer"]
        assert (read == asked) == (s["answer"] == "yes"), s
    recall = next(
        s
        for s in (instructions.recall_item(i, judge_compare=True) for i in range(20))
        if s["form"] == "judge"
    )
    assert recall["rationale"].endswith(f"vs {judge_candidate(recall)} {recall['answer']}")


@pytest.mark.slow
def test_train_merger_moves_the_projector_and_not_the_vision_blocks(tmp_path, monkeypatch):
    import inspect

    from safetensors.torch import load_file

    real_run = bp._run_stage

    def language_stage_change(out, **knobs):
        """Which vision weights the language stage changed: {name: moved}."""
        cfg = bp.BasePretrainConfig(**{**_cfg().__dict__, "vision_steps": 1, "lm_steps": 2, **knobs})
        seen = {}

        def remember_vision_weights(*args, **kwargs):
            call = inspect.signature(real_run).bind(*args, **kwargs).arguments
            if call["name"] == "language":
                visual = call["modules"]["model"].model.visual
                seen.update({k: v.clone() for k, v in visual.state_dict().items()})
            return real_run(*args, **kwargs)

        monkeypatch.setattr(bp, "_run_stage", remember_vision_weights)
        final = load_file(bp.pretrain_base(out, cfg) / "model.safetensors")
        return {k: not torch.equal(final[f"visual.{k}"], v) for k, v in seen.items()}

    moved = language_stage_change(tmp_path / "merger", train_merger=True)
    assert all(moved[k] for k in moved if k.startswith("merger.") and "weight" in k)
    assert not any(moved[k] for k in moved if k.startswith("blocks."))
    assert not any(language_stage_change(tmp_path / "frozen", train_merger=False).values())


def test_arithmetic_items_are_text_only_facts_of_the_train_split():
    items = [instructions.arithmetic_item(i) for i in range(60)]
    assert {s["category"] for s in items} == {"arithmetic"} and all(s["image"] is None for s in items)
    assert {s["form"] for s in items} == {"open", "judge", "choice"}
    assert len({s["question"] for s in items}) > 30


def test_recall_items_are_text_only_and_never_answer_a_domain_word():
    from currvl.data.synthetic import GENERAL, SCAN, SCAN_QA, SCAN_REPORT

    general = {w for v in GENERAL.vocabulary.values() for w in v or ()}  # digits: counts are general too
    domain = {w for world in (SCAN, SCAN_QA, SCAN_REPORT) for v in world.vocabulary.values() for w in v or ()}
    domain -= general
    assert {"nodule", "cyst"} <= domain
    items = [instructions.recall_item(i) for i in range(300)]
    assert all(s["image"] is None for s in items)
    assert {s["form"] for s in items} == {"open", "judge", "choice"}
    words = {s["question"].split(".")[0].removeprefix("The word is ") for s in items}
    assert len(words) > 30 and not words & domain


def test_answer_tokens_weigh_more_in_the_loss(tmp_path):
    from currvl.models import build_tiny_model, load_model

    _, processor = load_model(build_tiny_model(tmp_path / "m", _cfg().spec))
    item = instructions.instruction_item(1)  # a choice item
    inputs, labels, weights = bp.encode_sft(processor, [item], answer_weight=5.0)
    heavy = processor.tokenizer.decode(inputs["input_ids"][0][weights[0] == 5.0])
    assert heavy == f"{item['answer']}</answer><|im_end|>"
    assert int((labels[0] != -100).sum()) == int((weights[0] > 0).sum())


def _cfg() -> bp.BasePretrainConfig:
    return bp.BasePretrainConfig(
        spec=TinyModelSpec(vocab_size=1024, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           vision_depth=1, vision_hidden_size=32, vision_intermediate_size=64),
        vision_steps=3, vision_batch_size=4, lm_steps=4, lm_batch_size=4, save_every=2,
    )  # fmt: skip


@pytest.mark.slow
def test_an_interrupted_pretraining_resumes_to_the_same_weights(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    whole = bp.pretrain_base(tmp_path / "whole", _cfg())
    expected = load_file(whole / "model.safetensors")
    assert not (whole / bp.STATE_FILE).exists() and not (whole / "pretrain_init").exists()
    frozen = train_tokenizer(frozen_tokenizer_corpus(), 1024).backend_tokenizer.to_str()
    built = (whole / "tokenizer.json").read_text()
    assert json.loads(built)["model"]["merges"] == json.loads(frozen)["model"]["merges"]

    real_encode = bp.encode_sft
    calls = {"n": 0}

    def crash_at_third_language_step(processor, samples, *args):
        calls["n"] += 1
        if (
            calls["n"] == 7
        ):  # step 3's first batch (each step encodes instruction, recall and grounding items)
            raise KeyboardInterrupt
        return real_encode(processor, samples, *args)

    monkeypatch.setattr(bp, "encode_sft", crash_at_third_language_step)
    with pytest.raises(KeyboardInterrupt):
        bp.pretrain_base(tmp_path / "run", _cfg())
    state = torch.load(tmp_path / "run" / bp.STATE_FILE, weights_only=False)
    assert (state["stage"], state["step"]) == ("language", 2)
    monkeypatch.setattr(bp, "encode_sft", real_encode)
    resumed = bp.pretrain_base(tmp_path / "run", _cfg())
    got = load_file(resumed / "model.safetensors")
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-6, msg=key)


def test_the_default_recipe_is_the_shipped_bases_recipe():
    """`currvl model pretrain` with no knobs rebuilds the shipped base: its recorded config is the default."""
    from dataclasses import asdict

    from currvl.models.loading import SHIPPED_BASE

    shipped = json.loads((SHIPPED_BASE / bp.CONFIG_FILE).read_text())
    assert shipped == json.loads(json.dumps(asdict(bp.BasePretrainConfig())))


def test_resume_refuses_another_configuration(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"stage": "vision", "step": 1}, out / bp.STATE_FILE)
    (out / bp.CONFIG_FILE).write_text("{}")
    with pytest.raises(ValueError, match="another configuration"):
        bp.pretrain_base(out, _cfg())


def test_an_unknown_tokenizer_corpus_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="tokenizer_corpus"):
        bp.pretrain_base(tmp_path / "run", bp.BasePretrainConfig(tokenizer_corpus="latest"))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_describe_english_facts_and_constructions_stages_train_and_log(tmp_path):
    """Each extra stage adds a loss term of its own to the language step and logs it."""
    cfg = _cfg()
    cfg.vision_steps, cfg.lm_steps, cfg.save_every = 1, 25, 25
    cfg.describe_batch_size, cfg.english_batch_size, cfg.facts_batch_size = 2, 2, 2
    cfg.constructions_batch_size = 2
    bp.pretrain_base(tmp_path / "run", cfg)
    rows = [json.loads(line) for line in (tmp_path / "run" / "pretrain_log.jsonl").read_text().splitlines()]
    last = [r for r in rows if r["stage"] == "language"][-1]
    for key in ("describe_loss", "english_loss", "facts_loss", "constructions_loss"):
        assert 0 < last[key] < 20, (key, last)


def test_english_windows_are_corpus_text_and_facts_mask_padding():
    from currvl.data.synthetic.signs import sign_facts
    from currvl.models.loading import load_processor
    from currvl.models.tiny import ENGLISH_CORPUS

    tokenizer = load_processor("currvl-base").tokenizer
    ids, labels = bp.english_batch(tokenizer, seed=0, step=3, n=2, window=16)
    assert ids.shape == (2, 16) and torch.equal(ids, labels)
    corpus = " ".join(ENGLISH_CORPUS.read_text().split())
    assert " ".join(tokenizer.decode(ids[0]).split()) in corpus
    enc, labels = bp.facts_batch(tokenizer, seed=0, step=3, n=4)
    for row, lab, mask in zip(enc["input_ids"], labels, enc["attention_mask"], strict=True):
        assert tokenizer.decode(row[mask == 1]) in sign_facts()
        assert (lab[mask == 0] == -100).all() and torch.equal(lab[mask == 1], row[mask == 1])


def test_the_compositional_base_is_the_default_recipe_with_its_three_documented_knobs():
    """currvl-base-compositional is rebuilt by `currvl model pretrain --describe-batch-size 16
    --describe-grammar compositional --lm-steps 1400` (README): nothing else differs, and it passed its gate."""
    from dataclasses import asdict

    from currvl.models.loading import SHIPPED_BASES

    folder = SHIPPED_BASES["currvl-base-compositional"]
    recorded = json.loads((folder / bp.CONFIG_FILE).read_text())
    expected = asdict(
        bp.BasePretrainConfig(describe_batch_size=16, describe_grammar="compositional", lm_steps=1400)
    )
    assert recorded == json.loads(json.dumps(expected))
    assert json.loads((folder / "gate.json").read_text())["passed"]


def test_lm_width_and_layers_size_the_language_model_in_the_defaults_proportions():
    """`--lm-width 256 --lm-layers 6` gives a 256-wide, 6-deep language model (head dim 32, MLP 512,
    8 query and 4 key-value heads) and leaves the vision tower and every other knob as they were."""
    from currvl.models.tiny import TinyModelSpec

    default = TinyModelSpec(vocab_size=2048)
    wide = default.with_language(256, 6)
    assert (wide.hidden_size, wide.intermediate_size, wide.num_hidden_layers) == (256, 512, 6)
    assert (wide.num_attention_heads, wide.num_key_value_heads) == (8, 4)
    assert wide.hidden_size // wide.num_attention_heads == default.hidden_size // default.num_attention_heads
    assert (wide.vision_hidden_size, wide.vision_depth, wide.vocab_size) == (128, 3, 2048)
    assert default.with_language(128, 4) == default  # the default's own sizes are its proportions
    with pytest.raises(ValueError, match="multiple of 64"):
        default.with_language(200, 4)


def test_the_size_knobs_reach_the_recorded_recipe(tmp_path, monkeypatch):
    """The CLI's --lm-width/--lm-layers land in the spec that pretrain_config.json records."""
    seen = {}

    def record(out, cfg, n, batch_size):
        seen["cfg"] = cfg
        return {"passed": True, "categories": {}}

    monkeypatch.setattr(bp, "pretrain_and_gate", record)
    monkeypatch.setattr("currvl.evaluation.gate.gate_markdown", lambda *a, **k: "")
    bp.run_pretraining(tmp_path / "run", {"lm_width": 192, "lm_layers": 5, "lm_steps": 7})
    spec = seen["cfg"].spec
    assert (spec.hidden_size, spec.num_hidden_layers, spec.num_attention_heads, seen["cfg"].lm_steps) == (
        192,
        5,
        6,
        7,
    )


def _no_build(*args, **kwargs):
    raise AssertionError("the base was built")


def test_a_gate_too_small_is_refused_before_the_build(tmp_path, monkeypatch, capsys):
    """`--gate-n 5` once trained a whole base and then crashed in the gate; now nothing is built."""
    from currvl.cli.main import main

    monkeypatch.setattr(bp, "pretrain_base", _no_build)
    assert main(["model", "pretrain", "--out", str(tmp_path / "base"), "--gate-n", "5"]) == 2
    assert "a gate of 5 items leaves (category, form) cells unasked" in capsys.readouterr().err
    assert not (tmp_path / "base").exists()
    assert main(["model", "gate", "--n", "5"]) == 2  # refused before the model is loaded


def test_gate_n_zero_builds_without_gating(tmp_path, monkeypatch, capsys):
    from currvl.cli.main import main

    built = []
    monkeypatch.setattr(bp, "pretrain_base", lambda out, cfg: built.append(cfg) or out)
    monkeypatch.setattr("currvl.models.load_model", _no_build)
    assert (
        main(["model", "pretrain", "--out", str(tmp_path / "base"), "--lm-steps", "3", "--gate-n", "0"]) == 0
    )
    assert len(built) == 1 and built[0].lm_steps == 3
    assert "not gated (--gate-n 0)" in capsys.readouterr().out


def test_a_negative_batch_size_knob_is_refused_before_the_build(tmp_path, monkeypatch, capsys):
    from currvl.cli.main import main

    monkeypatch.setattr(bp, "pretrain_base", _no_build)
    assert main(["model", "pretrain", "--out", str(tmp_path / "b"), "--recall-batch-size", "-4"]) == 2
    assert "--recall-batch-size: must be >= 0, got -4" in capsys.readouterr().err
