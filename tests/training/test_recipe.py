"""Recipes fail early, naming file, line and key."""

from pathlib import Path

import pytest

from currvl.training.recipe import RecipeError, load_recipe

ALL_CONFIGS = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))
CONFIGS = [p for p in ALL_CONFIGS if "compare" not in p.name]  # compare configs name recipes
COMPARE_CONFIGS = [p for p in ALL_CONFIGS if "compare" in p.name]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_recipes_build_their_trl_config(path, tmp_path):
    """Each shipped recipe's trainer section, on top of the defaults, is a TRL config TRL accepts
    (its own checks run: batch sizes divisible by num_generations, a valid scheduler, ...), on the
    CPU as CI runs it."""
    from trl import GRPOConfig, SFTConfig

    from currvl.training.recipe import default_trainer_args

    recipe = load_recipe(path)
    targs = {**default_trainer_args(recipe.method, on_gpu=False), **recipe.trainer}
    targs.update(output_dir=str(tmp_path), seed=recipe.seed, bf16=False, use_cpu=True)
    targs.pop("deepspeed", None)  # GPU recipes: the DeepSpeed config is checked by accelerate, not here
    config = (SFTConfig if recipe.method == "sft" else GRPOConfig)(**targs)
    assert config.learning_rate == recipe.trainer.get("learning_rate", config.learning_rate)


@pytest.mark.parametrize("path", COMPARE_CONFIGS, ids=lambda p: p.name)
def test_shipped_compare_configs_name_valid_recipes(path):
    from currvl.experiments.compare import load_compare_config

    for quick in (False, True):
        cfg = load_compare_config(path, quick=quick)
        for spec in cfg.methods:
            if spec.recipe:
                overrides = {"output_dir": "x", "model.name_or_path": "m", **spec.overrides}
                load_recipe(spec.recipe, overrides)


def _write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


BASE = "method: grpo\nmodel:\n  name_or_path: m\ndata:\n  train: d.jsonl\n"


def test_unknown_key_names_file_line_and_suggestion(tmp_path):
    p = _write(tmp_path, BASE + "trainer:\n  learnin_rate: 1.0e-6\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(p)
    msg = str(err.value)
    assert f"{p}:7: trainer.learnin_rate" in msg and "learning_rate" in msg


def test_unknown_nested_key(tmp_path):
    p = _write(tmp_path, "method: grpo\nmodel:\n  name_or_path: m\n  dtyp: bf16\ndata:\n  train: d.jsonl\n")
    with pytest.raises(RecipeError, match=r":4: model.dtyp: unknown key \(did you mean 'model.dtype'\?\)"):
        load_recipe(p)


def test_wrong_type(tmp_path):
    p = _write(tmp_path, BASE + "seed: forty-two\n")
    with pytest.raises(RecipeError, match=r":6: seed: expected <class 'int'>, got str"):
        load_recipe(p)


def test_bad_method_and_missing_model(tmp_path):
    with pytest.raises(RecipeError, match="method: must be one of"):
        load_recipe(_write(tmp_path, BASE.replace("grpo", "ppo")))
    with pytest.raises(RecipeError, match="model.name_or_path: required"):
        load_recipe(_write(tmp_path, "method: sft\ndata:\n  train: d.jsonl\n"))


def test_overrides(tmp_path):
    recipe = load_recipe(_write(tmp_path, BASE), {"trainer.max_steps": 3, "model.dtype": "float32"})
    assert recipe.trainer == {"max_steps": 3} and recipe.model.dtype == "float32"


def test_unknown_data_format(tmp_path):
    p = _write(tmp_path, BASE + "  formats: [open, quiz]\n")
    with pytest.raises(RecipeError, match=r":6: data.formats: \['quiz'\] not in"):
        load_recipe(p)


def test_scientific_notation_without_a_dot_is_a_number(tmp_path):
    # YAML 1.1 reads 1e-6 as the string "1e-6"; torch's optimiser would fail on it after model loading
    p = _write(tmp_path, BASE + "trainer:\n  learning_rate: 1e-6\n  beta: 4e-2\n")
    recipe = load_recipe(p, {"trainer.max_grad_norm": "1e0"})
    assert recipe.trainer == {"learning_rate": 1e-6, "beta": 0.04, "max_grad_norm": 1.0}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("  max_steps: ten", r":7: trainer.max_steps: expected <class 'int'>, got str 'ten'"),
        ("  learning_rate: fast", r":7: trainer.learning_rate: expected <class 'float'>, got str"),
        ("  gradient_checkpointing: maybe", r":7: trainer.gradient_checkpointing: expected <class 'bool'>"),
    ],
)
def test_trainer_values_of_the_wrong_type_fail_with_line(tmp_path, line, message):
    p = _write(tmp_path, BASE + "trainer:\n" + line + "\n")
    with pytest.raises(RecipeError, match=message):
        load_recipe(p)


STAGES = (
    "curriculum:\n"
    "  - {name: judge, format: judge, share: 0.18}\n"
    "  - {name: choice, format: choice, share: 0.15}\n"
    "  - {name: open, format: open, share: 0.67}\n"
)


def test_stage_shares_split_the_rl_step_budget(tmp_path):
    recipe = load_recipe(_write(tmp_path, BASE + "trainer:\n  max_steps: 90\n" + STAGES))
    assert [s.max_steps for s in recipe.curriculum] == [16, 14, 60]
    recipe = load_recipe(_write(tmp_path, BASE + STAGES), {"trainer.max_steps": 340})
    assert [s.max_steps for s in recipe.curriculum] == [61, 51, 228]


def test_stage_shares_need_a_total_and_every_stage(tmp_path):
    with pytest.raises(RecipeError, match=r":6: curriculum: stage shares need trainer.max_steps"):
        load_recipe(_write(tmp_path, BASE + STAGES))
    with pytest.raises(RecipeError, match=r":7: trainer.max_steps: stage shares need .* got 2"):
        load_recipe(_write(tmp_path, BASE + "trainer:\n  max_steps: 2\n" + STAGES))
    partial = STAGES.replace(", share: 0.15", "")
    with pytest.raises(RecipeError, match=r":10: curriculum.1: give every stage a share, or none"):
        load_recipe(_write(tmp_path, BASE + "trainer:\n  max_steps: 90\n" + partial))


def test_unknown_rewards_fail_at_load_in_any_stage(tmp_path):
    """A typo in the third stage's rewards once surfaced only after two stages had trained."""
    with pytest.raises(
        RecipeError, match=r":6: rewards.1: unknown reward 'acuracy' \(did you mean 'accuracy'\?\)"
    ):
        load_recipe(_write(tmp_path, BASE + "rewards: [format, acuracy]\n"))
    staged = STAGES.replace(
        "{name: open, format: open,", "{name: open, format: open, rewards: [format, accuracy, lenght],"
    )
    with pytest.raises(RecipeError, match=r":11: curriculum.2.rewards.2: unknown reward 'lenght'"):
        load_recipe(_write(tmp_path, BASE + "trainer:\n  max_steps: 90\n" + staged))
    own = (
        "currvl.rewards.rule_rewards:format_reward"  # your own callable: it must import when the recipe loads
    )
    assert load_recipe(_write(tmp_path, BASE + f"rewards: [format, accuracy, '{own}']\n")).rewards[-1] == own


def test_a_stage_group_of_one_fails_at_load(tmp_path):
    staged = STAGES.replace("{name: open, format: open,", "{name: open, format: open, num_generations: 1,")
    with pytest.raises(RecipeError, match=r"stage 'open': num_generations must be >= 2"):
        load_recipe(_write(tmp_path, BASE + "trainer:\n  max_steps: 90\n" + staged))


def test_a_named_trainer_choice_with_a_typo_fails_at_load(tmp_path):
    """`lr_scheduler_type: cosin` once failed only when TRL built the config; inside self_improve that
    was after the whole RL run."""
    with pytest.raises(
        RecipeError,
        match=r":7: trainer.lr_scheduler_type: 'cosin' is not one of its choices \(did you mean 'cosine'\?\)",
    ):
        load_recipe(_write(tmp_path, BASE + "trainer:\n  lr_scheduler_type: cosin\n"))
    recipe = load_recipe(
        _write(tmp_path, BASE + "trainer:\n  lr_scheduler_type: constant_with_warmup\n  optim: adamw_torch\n")
    )
    assert recipe.trainer["lr_scheduler_type"] == "constant_with_warmup"


def test_a_batch_that_splits_a_group_fails_at_load(tmp_path, monkeypatch):
    """TRL refuses a generation batch of split groups only when it builds the config; in a compare that
    was after the base evaluation and every earlier method. Counted over the launcher's processes."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    bad = "trainer:\n  per_device_train_batch_size: 6\n  num_generations: 4\n"
    with pytest.raises(
        RecipeError,
        match=r":8: trainer.num_generations: a generation samples 6 rollouts \(per_device_train_batch_size 6 "
        r"x 1 process\(es\) x 1 steps per generation\), not whole groups of num_generations 4",
    ):
        load_recipe(_write(tmp_path, BASE + bad))
    # the group size left at currvl's default (4): the batch's line is named
    with pytest.raises(RecipeError, match=r":7: trainer.per_device_train_batch_size: a generation samples 2"):
        load_recipe(_write(tmp_path, BASE + "trainer:\n  per_device_train_batch_size: 2\n"))
    split = "trainer:\n  per_device_train_batch_size: 2\n  num_generations: 4\n"
    monkeypatch.setenv("WORLD_SIZE", "2")  # 2 processes x 2: TRL spreads a group over them
    assert load_recipe(_write(tmp_path, BASE + split)).trainer["num_generations"] == 4
    ds = split + "rollout:\n  dynamic_sampling: {max_rounds: 3}\n"  # but dynamic sampling needs it whole
    with pytest.raises(
        RecipeError, match=r":8: trainer.num_generations: dynamic sampling needs whole groups"
    ):
        load_recipe(_write(tmp_path, BASE + ds))
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(RecipeError, match="steps_per_generation, not both"):
        load_recipe(
            _write(tmp_path, BASE + "trainer:\n  generation_batch_size: 8\n  steps_per_generation: 2\n")
        )
    with pytest.raises(
        RecipeError, match=r":7: trainer.generation_batch_size: 12 rollouts is not a multiple"
    ):
        load_recipe(_write(tmp_path, BASE + "trainer:\n  generation_batch_size: 12\n"))  # of 8 a step
    assert load_recipe(_write(tmp_path, BASE + "trainer:\n  generation_batch_size: 16\n")).method == "grpo"


def test_a_stage_group_that_splits_the_batch_fails_at_load(tmp_path):
    staged = STAGES.replace("{name: open, format: open,", "{name: open, format: open, num_generations: 3,")
    with pytest.raises(
        RecipeError, match=r":12: curriculum.2.num_generations: a generation samples 16 rollouts"
    ):
        load_recipe(
            _write(tmp_path, BASE + "trainer:\n  max_steps: 90\n  per_device_train_batch_size: 16\n" + staged)
        )


def test_an_unknown_dtype_is_refused_at_load_with_its_line(tmp_path):
    p = _write(
        tmp_path, "method: grpo\nmodel:\n  name_or_path: m\n  dtype: float33\ndata:\n  train: d.jsonl\n"
    )
    with pytest.raises(RecipeError, match=rf"{p}:4: model.dtype: unknown dtype 'float33'.*float32"):
        load_recipe(p)


def test_an_own_reward_must_import_at_load_and_is_found_in_the_working_directory(tmp_path, monkeypatch):
    """`module:function` is imported when the recipe loads (a typo fails before anything trains); a
    module beside the user's recipe imports though the `currvl` command's sys.path lacks the folder."""
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    (tmp_path / "my_rewards_mod.py").write_text(
        "def paid(completions, **kw):\n    return [1.0] * len(completions)\n"
    )
    good = _write(tmp_path, BASE + "rewards: [format, 'my_rewards_mod:paid']\n")
    assert load_recipe(good).rewards == ["format", "my_rewards_mod:paid"]
    bad = _write(tmp_path, BASE + "rewards: [format, 'my_rewards_mod:unpaid']\n")
    with pytest.raises(
        RecipeError, match=rf"{bad}:6: rewards.1: reward 'my_rewards_mod:unpaid': cannot import"
    ):
        load_recipe(bad)
