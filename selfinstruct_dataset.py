"""Hugging Face `datasets` builder for Self-Instruct data (placeholder until the builder lands)."""
