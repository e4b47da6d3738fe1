"""Data quality of a generated run (the paper's Table 2): is each sampled instruction a valid
task, its input fitting, its output acceptable? Asked of an LLM judge and of people."""
