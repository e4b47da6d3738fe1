"""Self-Instruct data generation: seeds, language-model backends, the four-step pipeline,
near-duplicate filtering and dataset packaging."""

__version__ = "0.1.0"
