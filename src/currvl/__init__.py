"""currvl: domain adaptation of vision-language models by curriculum reinforcement learning."""

__version__ = "0.1.0"
