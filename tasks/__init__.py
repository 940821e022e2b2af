"""sonorize: tasks."""
