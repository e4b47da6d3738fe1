"""One YAML file, the paper's whole experiment: data, finetuning, evaluations, report."""
