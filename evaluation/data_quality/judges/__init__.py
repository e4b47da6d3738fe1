"""Package data: the data-quality judge specs (YAML), one file per judge."""
