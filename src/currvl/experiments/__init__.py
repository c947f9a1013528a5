"""Whole studies, on top of training and evaluation: compare, the demo, the base's pretraining and gate,
diagnose's run, and the evaluation jobs of `currvl eval`. Each takes its options and runs end to end;
the CLI parses arguments and calls one of them."""
