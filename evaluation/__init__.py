"""Evaluation of instruction-following models the way the Self-Instruct paper did it:
SuperNaturalInstructions (ROUGE-L / exact match) and the 252 user-oriented instructions (A-D)."""
