import json
from types import SimpleNamespace

from currvl.training.builders import TRAINER_BUILDERS, resolve_reward_options
from currvl.training.recipe import METHODS


def test_every_method_has_a_trainer_builder():
    assert set(TRAINER_BUILDERS) == set(METHODS)


def test_a_cider_corpus_named_by_a_dataset_spec_is_read_into_its_answers(tmp_path):
    captions = ["a cat sits on the mat", "two men ride horses"]
    path = tmp_path / "train.jsonl"
    path.write_text(
        "".join(json.dumps({"question": "Describe.", "answer": c, "task": "text"}) + "\n" for c in captions)
    )
    recipe = SimpleNamespace(reward_options={"cider_corpus": str(path), "similarity_threshold": 0.2})
    options = resolve_reward_options(recipe)
    assert options == {"cider_corpus": captions, "similarity_threshold": 0.2}
    assert recipe.reward_options["cider_corpus"] == str(path)  # the recipe itself is untouched
    listed = SimpleNamespace(reward_options={"cider_corpus": captions})
    assert resolve_reward_options(listed) == {"cider_corpus": captions}
