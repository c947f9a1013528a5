"""Launched by test_multiprocess (2 processes): rank 1 alone computes a NaN loss at step 2.

Writes, per rank, a fingerprint of the weights after each step to OUT/rank{r}.json."""

import json
import os
import sys
from pathlib import Path

from transformers import TrainerCallback

from currvl.data.synthetic import make_samples
from currvl.training.builders import build_trainer
from currvl.training.distributed import end_process_group, weights_fingerprint
from currvl.training.recipe import recipe_from_dict

model_dir, out = sys.argv[1], Path(sys.argv[2])
rank = int(os.environ["RANK"])


class Fingerprints(TrainerCallback):
    def __init__(self):
        self.after = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.after[state.global_step] = weights_fingerprint(model).tolist()


recipe = recipe_from_dict(
    {
        "method": "sft",
        "output_dir": str(out),
        "model": {"name_or_path": model_dir},
        "data": {"train": {"synthetic": "general", "n": 32, "seed": 0}},
        "trainer": {
            "max_steps": 3,
            "per_device_train_batch_size": 4,
            "learning_rate": 1e-3,
            "report_to": "none",
        },
    }
)
prints = Fingerprints()
trainer = build_trainer(recipe, out, make_samples("general", "train", n=32, seed=0), [prints])
real = trainer.compute_loss


def compute_loss(model, inputs, *args, **kwargs):
    loss = real(model, inputs, *args, **kwargs)
    return loss * float("nan") if rank == 1 and trainer.state.global_step + 1 == 2 else loss


trainer.compute_loss = compute_loss
trainer.train()
(out / f"rank{rank}.json").write_text(json.dumps(prints.after))
end_process_group()
