"""SuperNI metric (exact match and ROUGE-L) as a Hugging Face `evaluate` module.

Load it offline from this folder: `evaluate.load("<path>/superni_metric.py")` (or the folder),
optionally with config name "xlingual". Numbers are those of the official SuperNI script; the
implementation is `selfinstruct.evaluation.superni.metric`.
"""
import evaluate
import datasets

from selfinstruct.evaluation.superni.metric import Reference, Scorer

_CITATION = """\
@inproceedings{supernaturalinstructions,
  title={Super-NaturalInstructions: Generalization via Declarative Instructions on 1600+ NLP Tasks},
  author={Wang, Yizhong and Mishra, Swaroop and others},
  booktitle={EMNLP},
  year={2022}
}
"""

_DESCRIPTION = """\
Exact match (SQuAD normalisation without article removal) and ROUGE-L F-measure (rouge_score's
default tokenizer with the Porter stemmer; the "xlingual" config uses GPT-2 BPE tokens), each
the maximum over an instance's references, micro-averaged, x100, rounded to 4 decimals.
"""

_KWARGS_DESCRIPTION = """\
Args:
    predictions: list of strings.
    references: list of lists of strings (one or more references per prediction).
    task_ids: optional list of task names, for a per-task breakdown.
    categories: optional list of task categories (Categories[0]), for a per-category breakdown.
    xlingual_tokenizer: optional local folder or Hub id of the gpt2 tokenizer ("xlingual" config).
Returns:
    exact_match, rougeL; and per_task / per_category when ids or categories are given.
Example:
    >>> metric = evaluate.load("superni_metric.py")
    >>> metric.compute(predictions=["The cat"], references=[["the cat.", "a dog"]])
    {'exact_match': 100.0, 'rougeL': 100.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SuperNIMetric(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Value("string"),
                "references": datasets.Sequence(datasets.Value("string")),
            }),
            reference_urls=["https://github.com/allenai/natural-instructions/tree/master/eval/automatic"],
        )

    def _compute(self, predictions, references, task_ids=None, categories=None, xlingual_tokenizer="gpt2"):
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
        n = len(references)
        for name, values in (("task_ids", task_ids), ("categories", categories)):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries for {n} references")
        refs = [Reference(str(i), tuple(r), task_ids[i] if task_ids else None,
                          categories[i] if categories else None) for i, r in enumerate(references)]
        scorer = Scorer(xlingual=self.config_name == "xlingual", xlingual_tokenizer=xlingual_tokenizer)
        result = scorer.score({str(i): p for i, p in enumerate(predictions)}, refs).as_dict()
        out = {"exact_match": result["exact_match"], "rougeL": result["rougeL"]}
        if task_ids is not None:
            out["per_task"] = result["per_task"]
        if categories is not None:
            out["per_category"] = result["per_category"]
        return out
