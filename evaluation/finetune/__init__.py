"""Supervised finetuning on Self-Instruct data (`selfinstruct finetune`), so a generated run can be
turned into the model the evaluation commands then score, with the same data the paper trained on.

TRL and PEFT are optional (`pip install 'selfinstruct[finetune]'`); they are imported only when
the command runs.
"""
