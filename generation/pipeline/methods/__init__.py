"""Self-Instruct's relatives on the same machinery: Unnatural Instructions and Evol-Instruct.

Each method is one readable loop over stages (`unnatural.py`, `evol.py`); a stage is a batch of
keyed requests that `runner.MethodRunner.ask` answers from the request log or by sending what is
missing. So the backends, the request log, resume after a crash, replay without model calls,
budgets and the manifest are the ones `generate` already has.
"""
