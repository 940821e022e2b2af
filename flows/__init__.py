"""sonorize: flows."""
