"""The generation methods a run directory can come from, and what the dataset says about each.

A run's `manifest.json` names its method (`"method"`; absent means Self-Instruct, the only
method older runs and the original scripts know). The card and the builder read this table so
the data is credited to the paper whose method made it: one entry per method, with the prose
the card opens with and the BibTeX it cites.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from selfinstruct.generation.errors import InputError

SELF_INSTRUCT_BIBTEX = """\
@article{wang2022selfinstruct,
  title   = {Self-Instruct: Aligning Language Models with Self-Generated Instructions},
  author  = {Wang, Yizhong and Kordi, Yeganeh and Mishra, Swaroop and Liu, Alisa and Smith, Noah A.
             and Khashabi, Daniel and Hajishirzi, Hannaneh},
  journal = {arXiv preprint arXiv:2212.10560},
  year    = {2022},
  url     = {https://arxiv.org/abs/2212.10560}
}
"""

UNNATURAL_BIBTEX = """\
@article{honovich2022unnatural,
  title   = {Unnatural Instructions: Tuning Language Models with (Almost) No Human Labor},
  author  = {Honovich, Or and Scialom, Thomas and Levy, Omer and Schick, Timo},
  journal = {arXiv preprint arXiv:2212.09689},
  year    = {2022},
  url     = {https://arxiv.org/abs/2212.09689}
}
"""

WIZARDLM_BIBTEX = """\
@article{xu2023wizardlm,
  title   = {WizardLM: Empowering Large Language Models to Follow Complex Instructions},
  author  = {Xu, Can and Sun, Qingfeng and Zheng, Kai and Geng, Xiubo and Zhao, Pu and Feng, Jiazhan
             and Tao, Chongyang and Jiang, Daxin},
  journal = {arXiv preprint arXiv:2304.12244},
  year    = {2023},
  url     = {https://arxiv.org/abs/2304.12244}
}
"""

_PACKAGED = ("This dataset was generated and packaged with the `selfinstruct` toolkit; every number below\n"
             "was measured on the files in this repository.")


@dataclass(frozen=True)
class Method:
    """One generation method: its manifest name, who to credit, and the card's method prose.

    `citation` holds every BibTeX entry the card prints, method paper first. The non-Self-Instruct
    methods also cite Self-Instruct because their runs use its seed-task and finetuning formats
    (`citation_note` says so on the card).
    """

    name: str  # the manifest's "method" value
    title: str  # the method's name in prose and in the default pretty name
    paper_url: str
    intro: str  # the card's opening paragraph
    citation: str
    citation_note: str = ""  # a paragraph before the BibTeX block ("" or ending in a blank line)
    quality_note: str = ""  # the paper's own measurement of data quality, for the limitations


SELF_INSTRUCT = Method(
    "self-instruct", "Self-Instruct", "https://arxiv.org/abs/2212.10560",
    "Instruction-tuning data made with the Self-Instruct method (Wang et al., 2022): a language\n"
    "model is shown a few human-written seed tasks, asked for new tasks, and asked to solve them;\n"
    "near-duplicates (ROUGE-L against the pool) and malformed tasks are filtered out along the way.\n"
    + _PACKAGED + " Method and original data:\n"
    "[paper](https://arxiv.org/abs/2212.10560), [code and data](https://github.com/yizhongw/self-instruct).",
    SELF_INSTRUCT_BIBTEX,
    quality_note=" (the\npaper's manual check of 200 sampled tasks found all fields valid in only 54% of them)",
)

_ALSO_SELF_INSTRUCT = ("The run used Self-Instruct's seed-task and finetuning formats (the `selfinstruct`\n"
                       "toolkit), so that paper is cited too.\n\n")

METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        SELF_INSTRUCT,
        Method(
            "unnatural", "Unnatural Instructions", "https://arxiv.org/abs/2212.09689",
            "Instruction-tuning data made with the Unnatural Instructions method (Honovich et al., 2022):\n"
            "a language model is shown a few example tasks (instruction, input, output) and asked for a\n"
            "new one, then asked to rephrase each new instruction; the `paraphrases` config pairs every\n"
            "rephrasing with the instruction it came from.\n" + _PACKAGED + " Method:\n"
            "[paper](https://arxiv.org/abs/2212.09689).",
            UNNATURAL_BIBTEX + "\n" + SELF_INSTRUCT_BIBTEX, _ALSO_SELF_INSTRUCT,
        ),
        Method(
            "evol", "Evol-Instruct", "https://arxiv.org/abs/2304.12244",
            "Instruction-tuning data made with the Evol-Instruct method of WizardLM (Xu et al., 2023):\n"
            "over several epochs a language model rewrites each instruction of a pool into a harder one\n"
            "(adding constraints, deepening, concretizing, asking for more reasoning, complicating the\n"
            "input) or into a new one on a related topic, and answers it; the `lineage` config traces\n"
            "every evolved instruction back to its root.\n" + _PACKAGED + " Method:\n"
            "[paper](https://arxiv.org/abs/2304.12244).",
            WIZARDLM_BIBTEX + "\n" + SELF_INSTRUCT_BIBTEX, _ALSO_SELF_INSTRUCT,
        ),
    ]
}


def method_of(manifest: dict | None, path: Path | None = None) -> Method:
    """The method that made a run, from its manifest (`path` names the manifest in errors).

    An unknown name is refused rather than credited to Self-Instruct: a card citing the wrong
    paper is worse than a build that stops.
    """
    name = (manifest or {}).get("method")
    if name is None:
        return SELF_INSTRUCT
    if not isinstance(name, str) or name not in METHODS:
        raise InputError(f"unknown generation method {name!r}; expected one of: {', '.join(METHODS)}",
                         file=path, field="method")
    return METHODS[name]
