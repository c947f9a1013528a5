"""Algorithm math (losses, advantages) as plain, tested tensor functions."""
