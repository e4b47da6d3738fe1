"""SuperNaturalInstructions evaluation: task loading, prompt encodings, the official metric, runners and reports."""
