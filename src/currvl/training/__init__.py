"""Trainers (TRL subclasses), YAML recipes and the `train` entry point."""
