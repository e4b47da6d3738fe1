"""Packaging generated data for Hugging Face users: the dataset card, statistics and plots,
a Hub-ready Parquet folder, and publishing it as a tagged Hub release."""
