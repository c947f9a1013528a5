"""The `currvl` command line."""
