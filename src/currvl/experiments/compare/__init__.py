"""`currvl compare`: one base model, one domain, every method; a table of domain gain against forgetting.

config (the YAML schema and its checks) -> run (train, evaluate, cache) -> stats (means, paired
contrasts, matched retention) -> report (markdown) and plots (PNG).
"""

from currvl.experiments.compare.config import CompareConfig, MethodConfig, load_compare_config
from currvl.experiments.compare.run import run_compare

__all__ = ["CompareConfig", "MethodConfig", "load_compare_config", "run_compare"]
