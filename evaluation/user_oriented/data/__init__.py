"""Package data: the judge rubric and prompt (JSON), kept out of the code."""
