"""The four steps of the method, one object each: what requests a step still needs given the
run's state, and how its answers change that state. The driver (`pipeline.driver`) does the
sending, logging, resuming and writing."""
