"""Model builders and loaders."""

from currvl.models.loading import load_model, load_processor
from currvl.models.tiny import TinyModelSpec, build_tiny_model, train_tokenizer

__all__ = ["TinyModelSpec", "build_tiny_model", "load_model", "load_processor", "train_tokenizer"]
