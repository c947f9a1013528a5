"""`currvl compare` on the tiny model: every method's row comes from a real run and a real evaluation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from currvl.cli.main import main
from currvl.config.loader import ConfigError
from currvl.experiments.compare import load_compare_config, run_compare
from currvl.experiments.compare.report import zero_variance_lines
from currvl.experiments.compare.run import BASE_STAMP, claim_output_dir
from currvl.experiments.compare.stats import contrast_rows, domain_at_retention, frontier_contrasts

TRAINER = {"per_device_train_batch_size": 4, "max_steps": 2, "save_steps": 1, "report_to": "none"}


def _write_configs(tmp_path, model_dir):
    sft = {
        "method": "sft",
        "model": {"name_or_path": "set-by-compare"},
        "data": {"train": {"synthetic": "scan", "n": 4}},
        "trainer": {**TRAINER, "learning_rate": 1e-3},
    }
    currreft = {
        "method": "grpo",
        "model": {"name_or_path": "set-by-compare"},
        "data": {"train": {"synthetic": "scan", "n": 4}},
        "trainer": {**TRAINER, "num_generations": 2, "max_completion_length": 6, "learning_rate": 1e-3},
        "curriculum": [{"name": "judge", "format": "judge", "max_steps": 1}],
        "self_improve": {
            "data": {"synthetic": "general", "n": 2},
            "num_samples": 2,
            "max_new_tokens": 6,
            "threshold": 0,
            "trainer": {**TRAINER, "per_device_train_batch_size": 2, "learning_rate": 1e-3},
        },
    }
    (tmp_path / "sft.yaml").write_text(yaml.safe_dump(sft))
    (tmp_path / "currreft.yaml").write_text(yaml.safe_dump(currreft))
    compare = {
        "output_dir": str(tmp_path / "out"),
        "base": str(model_dir),
        "domain": "synthetic:scan",
        "general_n": 5,
        "domain_n": 3,
        "ood_split": "test_ood",
        "methods": [
            {"name": "SFT", "recipe": str(tmp_path / "sft.yaml")},
            {"name": "Curr-RL", "source": "Curr-ReFT", "model": "stage0-judge/final"},
            {"name": "Curr-ReFT", "recipe": str(tmp_path / "currreft.yaml")},
        ],
        "contrasts": [["Curr-ReFT", "SFT"]],
        "quick": {"general_n": 4, "overrides": {"SFT": {"trainer.max_steps": 1}}},
    }
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(compare, sort_keys=False))
    return path


def test_compare_runs_every_method_and_writes_the_report(tiny_model_dir, tmp_path):
    path = _write_configs(tmp_path, tiny_model_dir)
    assert main(["compare", str(path), "--quick"]) == 0
    out = tmp_path / "out-quick"  # quick runs never share a folder with the full ones
    report = json.loads((out / "report.json").read_text())
    assert [m["method"] for m in report["methods"]] == ["SFT", "Curr-RL", "Curr-ReFT"]
    for row in report["runs"]:
        evals = json.loads((out / "evals" / f"{row['method']}-seed0.json").read_text())
        assert row["domain_after"] == evals["domain"]["score"]
        assert row["general_after"] == evals["general"]["score"]
        assert evals["general"]["n"] == 4 and evals["domain"]["n"] == 3  # quick: general_n 4
        assert row["domain_ood_after"] == evals["domain_ood"]["score"] and evals["domain_ood"]["n"] == 3
        assert row["domain_ood_delta"] == row["domain_ood_after"] - report["base"]["domain_ood"]
        assert set(row["domain_categories"]) == set(evals["domain"]["tasks"])
        kl = json.loads((out / "evals" / f"{row['method']}-seed0.kl.json").read_text())
        assert row["kl_base_tuned"] == kl["kl_per_token"] and kl["kl_per_token"] >= 0.0
        assert row["retention_ci95"] is None or len(row["retention_ci95"]) == 2
    runs = {r["method"]: r for r in report["runs"]}
    assert runs["SFT"]["steps"] == 1  # the quick override
    # domain prompts from the recipes: SFT 1 step x 4 items; Curr-ReFT 2 RL steps x 4 rollouts / 2 a group
    assert (runs["SFT"]["prompts"], runs["Curr-ReFT"]["prompts"], runs["Curr-RL"]["prompts"]) == (4, 4, None)
    assert runs["Curr-RL"]["steps"] == 1 and runs["Curr-ReFT"]["steps"] == 3  # + 2 SFT steps of stage B
    assert runs["Curr-RL"]["model"].endswith("stage0-judge/final")
    assert runs["Curr-ReFT"]["model"].endswith("self-improve/sft/final")
    assert len(runs["Curr-RL"]["curve"]) == 1 and runs["SFT"]["curve"] == []
    assert 0.0 <= runs["Curr-RL"]["curve"][0]["zero_variance_task"] <= 1.0  # the task reward's signal
    # paths along training: base, the checkpoints before the end (stages count on), the model itself
    assert [p["step"] for p in runs["SFT"]["path"]] == [0, 1]
    assert [p["step"] for p in runs["Curr-RL"]["path"]] == [0, 1]
    assert [p["step"] for p in runs["Curr-ReFT"]["path"]] == [0, 1, 2, 3]  # judge 1, self-improve 1, final
    curve_eval = json.loads(
        (out / "evals" / "curves" / "Curr-ReFT-seed0" / "stage0-judge-checkpoint-1.json").read_text()
    )
    assert runs["Curr-ReFT"]["path"][1]["domain"] == curve_eval["domain"]["score"]
    assert curve_eval["general"]["n"] == 4  # the curve probe is never larger than the probe
    assert runs["SFT"]["path"][-1]["general"] == runs["SFT"]["general_after"]  # same 4 items, same model
    # every point past the base names its evaluation (the final one: the probe's), for paired contrasts
    assert runs["SFT"]["path"][-1]["eval"] == str(out / "evals" / "SFT-seed0.json")
    assert all(Path(p["eval"]).exists() for r in runs.values() for p in r["path"][1:])
    assert set(report["matched"]["seeds"]["0"]["general"]) == {"SFT", "Curr-RL", "Curr-ReFT"}
    (contrast,) = report["contrasts"]  # Curr-ReFT - SFT on the same items, from their evaluations
    assert (contrast["a"], contrast["b"]) == ("Curr-ReFT", "SFT")
    for name in ("domain", "domain_ood", "general"):
        after = {
            m: json.loads((out / "evals" / f"{m}-seed0.json").read_text())[name]["score"]
            for m in ("SFT", "Curr-ReFT")
        }
        assert contrast["seeds"][0]["sets"][name]["delta"] == pytest.approx(after["Curr-ReFT"] - after["SFT"])
        assert contrast["mean_delta"][name] == pytest.approx(after["Curr-ReFT"] - after["SFT"])
    md = (out / "report.md").read_text()
    assert "| Curr-ReFT - SFT |" in md
    for name in ("| base |", "| SFT |", "| Curr-RL |", "| Curr-ReFT |", "KL (nats/token)", "| SFT | 0 |"):
        assert name in md
    assert "| method | task, first 20 RL steps |" in md
    assert "test_ood (delta over base) |" in md
    # what the domain score must beat: the scan world's 5 findings (chance 0.2) and a blind floor
    assert report["base"]["chance_categories"]["finding"] == pytest.approx(0.2)
    assert report["base"]["chance_categories"]["finding_box"] is None
    assert report["base"]["chance"] is None and "| *chance* | n/a |" in md  # boxes have no chance level
    assert "| *blind floor* |" in md and report["base"]["blind_floor"] is not None
    assert (out / "domain_vs_general.png").stat().st_size > 0
    assert (out / "training_curves.png").stat().st_size > 0
    # an existing report is never replaced silently; with --overwrite the cached runs are reused
    with pytest.raises(FileExistsError):
        run_compare(load_compare_config(path, quick=True))
    mtime = (out / "runs" / "SFT-seed0" / "compare_run.json").stat().st_mtime_ns
    run_compare(load_compare_config(path, quick=True), overwrite=True)
    assert (out / "runs" / "SFT-seed0" / "compare_run.json").stat().st_mtime_ns == mtime


def test_the_domain_floor_is_chance_and_the_blind_answer_on_the_probe_items():
    from currvl.experiments.compare.run import CompareConfig, domain_floor

    floor = domain_floor(CompareConfig(domain="synthetic:scan_qa", domain_n=200, output_dir="unused"))
    chance = floor["chance_categories"]
    # a uniform guess over the world's answer set (counts 1-6: test_ood's 5 and 6 included)
    assert chance == {
        "cell_box": None,
        "cell_count": pytest.approx(1 / 6),
        "cell_edge": 0.25,
        "cell_larger": 0.5,
    }
    assert floor["chance"] is None  # boxes have no chance level, so the probe as a whole has none
    # the README's blind floor of open scan_qa (0.256 at n=500): a quarter of counts and edges, half of sizes
    assert 0.2 <= floor["blind_floor"] <= 0.3
    assert floor["blind_categories"]["cell_larger"] == pytest.approx(0.5, abs=0.1)


def test_an_output_folder_never_mixes_runs_from_two_base_models(tmp_path):
    """Runs and evaluations are cached by method name: another base (a rebuilt or new shipped one) in
    the same folder must be refused, not silently compared with the old runs."""
    old, new, out = tmp_path / "old", tmp_path / "new", tmp_path / "out"
    for folder, weights in ((old, b"old weights"), (new, b"new weights")):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(weights)
    out.mkdir()
    claim_output_dir(out, old)
    claim_output_dir(out, old)  # the same base again: its cached runs are reused
    stamp = json.loads((out / BASE_STAMP).read_text())
    assert stamp["sha256"] == hashlib.sha256(b"old weights").hexdigest()
    with pytest.raises(FileExistsError, match="another base model"):
        claim_output_dir(out, new)
    (new / "model.safetensors").write_bytes(b"old weights")  # same weights elsewhere: the same base
    claim_output_dir(out, new)
    legacy = tmp_path / "legacy"  # runs cached before folders were stamped: their base is unknown
    (legacy / "runs" / "SFT-seed0").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="unrecorded base"):
        claim_output_dir(legacy, old)
    assert not (legacy / BASE_STAMP).exists()


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        ([{"name": "A"}], "either recipe or source"),
        ([{"name": "A", "source": "B"}], "source: 'B' is not a method"),
        ([{"name": "A", "recipe": "nowhere.yaml"}], "not found"),
        ([{"name": "A", "recipe": "x", "colour": 1}], "unknown key"),
        ([{"name": "A", "recipe": "x", "overides": {}}], "did you mean 'methods.0.overrides'"),
    ],
)
def test_bad_compare_configs_fail_clearly(tmp_path, methods, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"methods": methods}))
    with pytest.raises(ValueError, match=message):
        load_compare_config(path)


def test_compare_config_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base: currvl-base\ngeneral_n: many\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2: general_n: expected <class 'int'>"):
        load_compare_config(path)
    path.write_text("base: currvl-base\nseeds: []\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2: seeds: needs at least one seed"):
        load_compare_config(path)
    path.write_text("methods:\n  - name: A\n    recipe: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2: methods.0.recipe: nowhere.yaml not found"):
        load_compare_config(path)
    path.write_text("methods:\n  - {name: A, source: A, model: m}\nquick:\n  overrides:\n    B: {}\n")
    with pytest.raises(ConfigError, match=r"c.yaml:5: quick.overrides.B: not a method"):
        load_compare_config(path)
    # a model inside another run that the run never writes: refused before seed 0's methods train
    recipe = Path(__file__).resolve().parents[2] / "configs" / "currreft_demo.yaml"
    path.write_text(
        f"methods:\n  - {{name: C, recipe: {recipe}}}\n  - {{name: C judge, source: C, model: stage0-judg/final}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"c.yaml:3: methods.1.model: the 'C' run writes no 'stage0-judg/final'"
    ):
        load_compare_config(path)
    path.write_text(
        f"methods:\n  - {{name: C, recipe: {recipe}}}\n  - {{name: C judge, source: C, model: stage0-judge/final}}\n"
    )
    assert load_compare_config(path).methods[1].model == "stage0-judge/final"
    # a method's recipe as its overrides make it: checked at load, named by the compare's line
    path.write_text(
        f"methods:\n  - {{name: C, recipe: {recipe}}}\n"
        f"  - {{name: D, recipe: {recipe}, overrides: {{rewards: [format, acuracy]}}}}\n"
    )
    with pytest.raises(ConfigError, match=r"c.yaml:3: methods.1: D: .*rewards.1: unknown reward 'acuracy'"):
        load_compare_config(path)
    path.write_text(
        f"methods:\n  - {{name: C, recipe: {recipe}}}\n"
        f"  - {{name: D, recipe: {recipe}, overrides: {{trainer.per_device_train_batch_size: 6}}}}\n"
    )
    with pytest.raises(ConfigError, match=r"c.yaml:3: methods.1: D: .*not whole groups of num_generations 4"):
        load_compare_config(path)


def test_the_collapse_section_reads_the_task_reward_not_trls_count():
    """A run whose task reward never varies (TRL's count says 0: the format reward varies) reads 1.00
    over the window; the mean is over the first `window` steps, then over all of them."""
    collapsed = [{"step": i, "zero_variance_task": 1.0, "frac_reward_zero_std": 0.0} for i in range(1, 4)]
    learning = [{"step": 1, "zero_variance_task": 1.0}, {"step": 2, "zero_variance_task": 0.0}]
    result = {
        "methods": [{"method": "GRPO"}, {"method": "RCPA"}, {"method": "SFT"}],
        "runs": [
            {"method": "GRPO", "curve": collapsed},
            {"method": "RCPA", "curve": learning},
            {"method": "RCPA", "curve": [{"step": 1, "zero_variance_task": 0.5}]},  # a second seed
            {"method": "SFT", "curve": []},
        ],
    }
    lines = zero_variance_lines(result, window=1)
    assert "| GRPO | 1.00 | 1.00 | 0.00 | 3 |" in lines
    assert "| RCPA | 0.75 | 0.50 | - | 2 |" in lines  # first step of both seeds: (1 + 0.5) / 2
    assert not any(line.startswith("| SFT") for line in lines)
    assert (
        zero_variance_lines({"methods": [{"method": "SFT"}], "runs": [{"method": "SFT", "curve": []}]}) == []
    )


def _evaluation(scores: list[float]) -> dict:
    records = [{"id": f"q{i}", "score": v} for i, v in enumerate(scores)]
    return {"score": sum(scores) / len(scores), "n": len(scores), "records": records}


def test_contrasts_are_paired_differences_over_the_same_items():
    """A - B per seed: the score difference, a paired interval over the items, and the mean over the
    seeds. Identical answers on every item but one: a resample's difference is (times that item is
    drawn) / 8, Binomial(8, 1/8), whose 2.5th and 97.5th percentiles are 0 and 3."""
    a = _evaluation([1, 1, 0, 0, 1, 0, 1, 0])
    b = _evaluation([1, 1, 0, 0, 1, 0, 0, 0])  # A is right on one more item
    same = _evaluation([1, 0, 1, 0, 1, 0, 1, 0])
    evaluations = {
        0: {"A": {"domain": a, "general": same}, "B": {"domain": b, "general": same}},
        1: {"A": {"domain": b, "general": same}, "B": {"domain": b, "general": same}},
    }
    (row,) = contrast_rows(evaluations, [["A", "B"]])
    s0, s1 = (p["sets"] for p in row["seeds"])
    assert s0["domain"]["delta"] == pytest.approx(1 / 8)
    lo, hi = s0["domain"]["delta_ci95"]
    assert lo == pytest.approx(0.0) and hi == pytest.approx(3 / 8)
    assert s0["general"]["delta"] == 0.0 and s0["general"]["delta_ci95"] == [0.0, 0.0]
    assert s1["domain"]["delta"] == 0.0
    assert row["mean_delta"] == {"domain": pytest.approx(1 / 16), "general": 0.0}
    assert "domain_ood" not in row["mean_delta"]  # neither model was scored on it


def test_the_frontier_contrast_reads_b_where_it_first_reaches_as_final_domain_score(tmp_path):
    """A ends at domain 0.6 with general 7/8; B passes 0.6 at step 20 (general 5/8 there, on the same
    items: B - A = -2/8), and C never gets there (its best is named instead)."""

    def point(step, domain, general_correct=None):
        p = {"step": step, "domain": domain, "general": sum(general_correct or []) / 8}
        if general_correct is not None:
            path = tmp_path / f"{step}-{domain}-{sum(general_correct)}.json"
            path.write_text(json.dumps({"general": _evaluation(general_correct)}))
            p["eval"] = str(path)
        return p

    base = point(0, 0.0)
    rows = [
        {"method": "A", "seed": 0, "path": [base, point(10, 0.3, [1] * 8), point(30, 0.6, [1] * 7 + [0])]},
        {
            "method": "B",
            "seed": 0,
            "path": [base, point(10, 0.5, [1] * 8), point(20, 0.9, [1] * 5 + [0] * 3)],
        },
        {"method": "C", "seed": 0, "path": [base, point(10, 0.2, [1] * 8)]},
    ]
    b, c = frontier_contrasts(rows, [["A", "B"], ["A", "C"]])
    (e,) = b["seeds"]
    assert (e["level"], e["b_step"], e["b_domain"]) == (0.6, 20, 0.9)
    assert e["a_general"] == 7 / 8 and e["b_general"] == 5 / 8
    assert e["delta"] == pytest.approx(-2 / 8)
    lo, hi = e["delta_ci95"]
    assert lo < -0.1 and hi <= 0.0
    (e,) = c["seeds"]
    assert e["b_general"] is None and e["b_best_domain"] == 0.2 and "delta" not in e


def test_domain_at_retention_reads_each_run_at_its_best_point_that_keeps_the_general_score(tmp_path):
    """Base general 1.0. A's best point keeping >= 0.95 is step 20 (domain 5/8; step 30 scores 7/8 but
    keeps 0.90); B keeps 0.95 only at the base (domain 1/8): A - B = +4/8 on the same domain items."""

    def point(step, domain_correct, general):
        path = tmp_path / f"{step}-{sum(domain_correct)}-{general}.json"
        path.write_text(json.dumps({"domain": _evaluation(domain_correct)}))
        return {"step": step, "domain": sum(domain_correct) / 8, "general": general, "eval": str(path)}

    base = point(0, [1] + [0] * 7, 1.0)
    rows = [
        {
            "method": "A",
            "seed": 0,
            "path": [base, point(20, [1] * 5 + [0] * 3, 0.96), point(30, [1] * 7 + [0], 0.90)],
        },
        {"method": "B", "seed": 0, "path": [base, point(20, [1] * 8, 0.50)]},
    ]
    at = domain_at_retention(rows, base, [["A", "B"]])
    assert at["runs"]["A"]["0"] == {"step": 20, "domain": 5 / 8, "retention": 0.96}
    assert at["runs"]["B"]["0"]["step"] == 0 and at["mean_domain"]["B"] == 1 / 8
    (e,) = at["contrasts"][0]["seeds"]
    assert (e["a_domain"], e["b_domain"]) == (5 / 8, 1 / 8)
    assert e["delta"] == pytest.approx(4 / 8)
    lo, hi = e["delta_ci95"]
    assert 0.0 < lo <= 4 / 8 <= hi
    assert domain_at_retention(rows, base, [], retention=0.5)["runs"]["B"]["0"]["domain"] == 1.0


def test_contrasts_must_name_two_methods_of_the_config(tmp_path):
    path, recipe = tmp_path / "c.yaml", tmp_path / "r.yaml"
    recipe.write_text("")
    path.write_text(f"methods:\n  - {{name: A, recipe: {recipe}}}\ncontrasts:\n  - [A, B]\n")
    with pytest.raises(ConfigError, match=r"c.yaml:4: contrasts.0: 'B' is not a method"):
        load_compare_config(path)
    path.write_text(f"methods:\n  - {{name: A, recipe: {recipe}}}\ncontrasts:\n  - [A, A]\n")
    with pytest.raises(ConfigError, match="two different method names"):
        load_compare_config(path)


def _budget_config(tmp_path, methods, budget=64, **extra):
    sft = {
        "method": "sft",
        "data": {"train": {"synthetic": "scan", "n": 32}},
        "trainer": {"max_steps": 4, "per_device_train_batch_size": 16},
    }
    grpo = {
        "method": "grpo",
        "data": {"train": {"synthetic": "scan", "n": 32}},
        "trainer": {"max_steps": 16, "per_device_train_batch_size": 16, "num_generations": 4},
    }
    (tmp_path / "sft.yaml").write_text(yaml.safe_dump(sft))
    (tmp_path / "grpo.yaml").write_text(yaml.safe_dump(grpo))
    for m in methods:
        m["recipe"] = str(tmp_path / m["recipe"])
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {"domain": "synthetic:scan", "budget": budget, **extra, "methods": methods}, sort_keys=False
        )
    )
    return path


def test_matched_budgets_are_counted_from_the_recipes_and_checked_by_the_loader(tmp_path):
    from currvl.experiments.compare.config import method_prompts

    replay = {
        "data.train": [{"synthetic": "scan", "n": 32}, {"synthetic": "general", "n": 96}],
        "trainer.max_steps": 16,
    }
    methods = [
        {"name": "SFT", "recipe": "sft.yaml"},  # 4 steps x 16 items = 64
        {"name": "GRPO", "recipe": "grpo.yaml"},  # 16 steps x 16 rollouts / 4 a group = 64 prompts
        {"name": "SFT + replay", "recipe": "sft.yaml", "overrides": replay},  # 256 items, a quarter scan
        {"name": "warm", "recipe": "sft.yaml", "matched": False, "overrides": {"trainer.max_steps": 2}},
        {
            "name": "warm -> GRPO",
            "recipe": "grpo.yaml",
            "start_from": "warm",
            "overrides": {"trainer.max_steps": 8},
        },  # 32 + 32
    ]
    cfg = load_compare_config(_budget_config(tmp_path, methods))
    assert method_prompts(cfg) == {"SFT": 64, "GRPO": 64, "SFT + replay": 64, "warm": 32, "warm -> GRPO": 64}
    # one method off the budget: refused at its line, with both counts
    methods[1]["overrides"] = {"trainer.max_steps": 20}
    path = _budget_config(tmp_path, [dict(m, recipe=Path(m["recipe"]).name) for m in methods])
    with pytest.raises(
        ConfigError, match=r"c.yaml:\d+: methods.1: GRPO trains on 80 domain prompts, the budget is 64"
    ):
        load_compare_config(path)
    # ... unless it is not a matched row; a wider tolerance accepts it too
    methods[1]["matched"] = False
    load_compare_config(_budget_config(tmp_path, [dict(m, recipe=Path(m["recipe"]).name) for m in methods]))
    methods[1]["matched"] = True
    load_compare_config(
        _budget_config(
            tmp_path, [dict(m, recipe=Path(m["recipe"]).name) for m in methods], budget_tolerance=0.3
        )
    )


@pytest.mark.parametrize(
    ("methods", "message"),
    [
        (
            [{"name": "A", "recipe": "sft.yaml", "start_from": "B"}],
            "methods.0.start_from: 'B' is not another",
        ),
        (
            [{"name": "A", "recipe": "sft.yaml", "start_from": "A"}],
            "methods.0.start_from: 'A' is not another",
        ),
        (
            [
                {"name": "A", "recipe": "sft.yaml", "start_from": "B"},
                {"name": "B", "recipe": "sft.yaml", "start_from": "A"},
            ],
            "methods.0.start_from: 'A' starts from itself",
        ),
    ],
)
def test_start_from_must_name_another_recipe_method_without_a_loop(tmp_path, methods, message):
    with pytest.raises(ConfigError, match=message):
        load_compare_config(_budget_config(tmp_path, methods, budget=None))


def test_a_warm_started_method_trains_from_its_warm_starts_model(tiny_model_dir, tmp_path):
    """SFT -> GRPO: the GRPO recipe starts from the SFT run's final model of the same seed; its cost
    and its path count the warm start's steps first."""
    sft = {
        "method": "sft",
        "data": {"train": {"synthetic": "scan", "n": 4}},
        "trainer": {**TRAINER, "learning_rate": 1e-3},
    }
    grpo = {
        "method": "grpo",
        "data": {"train": {"synthetic": "scan", "n": 4}},
        "trainer": {**TRAINER, "num_generations": 2, "max_completion_length": 6, "learning_rate": 1e-3},
    }
    (tmp_path / "sft.yaml").write_text(yaml.safe_dump(sft))
    (tmp_path / "grpo.yaml").write_text(yaml.safe_dump(grpo))
    compare = {
        "output_dir": str(tmp_path / "out"),
        "base": str(tiny_model_dir),
        "domain": "synthetic:scan",
        "general_n": 3,
        "domain_n": 2,
        "methods": [  # listed before its warm start on purpose: the run order follows start_from
            {"name": "SFT -> GRPO", "recipe": str(tmp_path / "grpo.yaml"), "start_from": "SFT"},
            {"name": "SFT", "recipe": str(tmp_path / "sft.yaml")},
        ],
    }
    path = tmp_path / "compare.yaml"
    path.write_text(yaml.safe_dump(compare, sort_keys=False))
    report = run_compare(load_compare_config(path))
    runs = {r["method"]: r for r in report["runs"]}
    recipe = yaml.safe_load((tmp_path / "out" / "runs" / "SFT -> GRPO-seed0" / "recipe.yaml").read_text())
    assert recipe["model"]["name_or_path"] == runs["SFT"]["model"]
    assert runs["SFT -> GRPO"]["steps"] == runs["SFT"]["steps"] + 2 == 4
    assert runs["SFT -> GRPO"]["prompts"] == runs["SFT"]["prompts"] + 2 * 4 // 2
    # its path: the base, the warm start's checkpoints and model, then its own, steps counted on
    assert [p["step"] for p in runs["SFT"]["path"]] == [0, 1, 2]
    assert [p["step"] for p in runs["SFT -> GRPO"]["path"]] == [0, 1, 2, 3, 4]
    assert runs["SFT -> GRPO"]["path"][2] == runs["SFT"]["path"][2]


def test_a_subset_of_methods_keeps_what_they_need_and_their_contrasts(tmp_path):
    from currvl.experiments.compare.config import select_methods

    methods = [
        {"name": "warm", "recipe": "sft.yaml", "matched": False},
        {"name": "warm -> GRPO", "recipe": "grpo.yaml", "start_from": "warm"},
        {"name": "GRPO", "recipe": "grpo.yaml"},
        {"name": "SFT", "recipe": "sft.yaml"},
    ]
    path = _budget_config(
        tmp_path, methods, budget=None, contrasts=[["warm -> GRPO", "GRPO"], ["GRPO", "SFT"]]
    )
    cfg = select_methods(load_compare_config(path), ["warm -> GRPO", "GRPO"])
    assert [m.name for m in cfg.methods] == ["warm", "warm -> GRPO", "GRPO"]
    assert cfg.contrasts == [["warm -> GRPO", "GRPO"]]
    with pytest.raises(ConfigError, match=r"--methods \['RCPA'\]: not methods of this config"):
        select_methods(load_compare_config(path), ["RCPA"])
