"""sonorize: data_catalog."""
