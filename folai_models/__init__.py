"""sonorize: folai_models."""
