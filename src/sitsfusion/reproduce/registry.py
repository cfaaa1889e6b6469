"""The papers' experiments as data: which configs, on which dataset, how many runs, what the
paper published and what it claims (``sitsfusion reproduce --list``).

An :class:`Experiment` names its configs (files under ``configs/``) by short labels (``s2``,
``late_aux_td``), its run grid per preset (configs x folds x seeds, the overrides of the
preset), the paper's published numbers per label and metric, and the paper's claims as
comparisons of two labels on one metric (:class:`Claim`). Nothing here runs anything:
:mod:`sitsfusion.reproduce.runner` runs the grid, :mod:`sitsfusion.reproduce.report` reports.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "CONFIGS",
    "EXPERIMENTS",
    "METRIC_NAMES",
    "OPERATORS",
    "Claim",
    "DatasetKind",
    "Experiment",
    "Fold",
    "Preset",
    "experiment",
    "pastis_rotation",
]

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
"""The repository's ``configs/`` folder (the experiments' config paths are relative to it)."""

METRIC_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "overall_accuracy": "OA",
        "miou": "mIoU",
        "macro_f1": "macro F1",
        "weighted_f1": "weighted F1",
        "kappa": "kappa",
        "PQ": "PQ",
        "SQ": "SQ",
        "RQ": "RQ",
    }
    | {f"miou_kept_{pct}": f"mIoU, {pct} % of S2" for pct in (90, 70, 50, 30, 10)}
    | {"miou_drop": "mIoU lost (all S2 to 10 %)"}
)
"""The test scores an experiment may monitor (keys of ``test_metrics.json``) and their
printed names; ``miou_kept_<pct>`` and ``miou_drop`` are the scores of an experiment with
:attr:`Experiment.robustness` (seed 001 Fig. 8)."""

OPERATORS: Mapping[str, Callable[[float, float], bool]] = MappingProxyType(
    {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
)
"""How a :class:`Claim` compares the mean scores of its two sides."""


@dataclass(frozen=True)
class DatasetKind:
    """The dataset an experiment reads, simulated or real.

    ``overrides`` (synthetic) and ``real_overrides`` are config overrides in which ``{root}``
    stands for the dataset folder; ``modality_map`` renames the configs' modalities on the
    simulated data (e.g. seed 000's single Sentinel-1 orbit ``S1`` read as PASTIS-R's ``S1D``).
    """

    name: str
    """The dataset's name in the papers (e.g. ``PASTIS-R``)."""
    simulate_format: str
    """``sitsfusion simulate --format`` that writes its synthetic stand-in."""
    reader: str
    """``data.format`` of the configs on the real data."""
    simulated_reader: str
    """``data.format`` that reads the simulated stand-in (``simulate_format``'s layout)."""
    layout: str
    """What ``--data ROOT`` must hold (for the error message and the docs)."""
    overrides: tuple[str, ...] = ("data.root={root}",)
    real_overrides: tuple[str, ...] = ("data.root={root}",)
    modality_map: Mapping[str, str] = field(default_factory=dict)
    real_paths: tuple[str, ...] = ()
    """Paths under ``ROOT`` that must exist for ``--data ROOT`` (``{root}`` substituted)."""
    stand_in: str = ""
    """How the simulated data differs from the real dataset's layout (said in the report)."""


@dataclass(frozen=True)
class Fold:
    """One split of the data: a name for the results and its config overrides."""

    name: str
    overrides: tuple[str, ...] = ()


def pastis_rotation(k: int) -> Fold:
    """Rotation ``k`` (1-5) of the PASTIS 5-fold cross-validation: train on three folds,
    validate on the next, test on the last, cyclically (rotation 1 = train 1, 2, 3 / val 4 /
    test 5, as configs/garnot2021/base.yaml; the five rotations of the reference code's fold
    sequence, seed 001 Sec. 4.1: 5-fold cross-validation)."""
    if not 1 <= k <= 5:
        raise ValueError(f"k: a PASTIS fold rotation is 1 to 5, got {k}")
    folds = [(k - 1 + j) % 5 + 1 for j in range(5)]
    return Fold(
        str(k),
        (
            f"data.train_folds=[{folds[0]}, {folds[1]}, {folds[2]}]",
            f"data.val_folds=[{folds[3]}]",
            f"data.test_folds=[{folds[4]}]",
        ),
    )


@dataclass(frozen=True)
class Preset:
    """A size of the run grid: which configs (labels; empty = all), folds, seeds, overrides,
    and, for a simulated dataset, the ``simulate`` arguments (None: a real ``--data ROOT`` is
    required)."""

    configs: tuple[str, ...]
    folds: tuple[Fold, ...]
    seeds: tuple[int, ...]
    overrides: tuple[str, ...] = ()
    simulate: Mapping[str, Any] | None = None
    note: str = ""
    label_overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Overrides of some configs only (after ``overrides``), by label: e.g. a model shrunk
    the same way in configs that name its parts with different keys."""


@dataclass(frozen=True)
class Claim:
    """A finding of the paper as data: ``left op right`` on the mean of ``metric``."""

    left: str
    op: str
    right: str
    metric: str
    text: str
    """The paper's words (or their summary), with where it says so."""


@dataclass(frozen=True)
class Experiment:
    """One table or figure of a paper, as a grid of runs of the project's configs."""

    name: str
    paper: str
    source: str
    """Table or figure of the paper."""
    title: str
    dataset: DatasetKind
    configs: Mapping[str, str]
    """Label -> config path relative to ``configs/``, in the table's row order."""
    metrics: tuple[str, ...]
    """The monitored test scores (keys of :data:`METRIC_NAMES`); the first one is plotted."""
    presets: Mapping[str, Preset]
    published: Mapping[str, Mapping[str, tuple[float, float | None]]]
    """Label -> metric -> (mean, std or None) as the paper prints them, as fractions."""
    claims: tuple[Claim, ...]
    protocol: str = ""
    robustness: tuple[float, ...] = ()
    """Seed 001 Fig. 8: shares of the S2 observations kept when each trained run is tested
    again with the others removed (``data.eval_drop``, radar unchanged); the run's scores then
    hold ``<metric>_kept_<pct>`` for each share and ``<metric>_drop`` (all S2 to the fewest
    kept), ``<metric>`` the first of :attr:`metrics`. () = off."""

    def config_path(self, label: str) -> Path:
        """The config file of ``label``."""
        if label not in self.configs:
            raise ValueError(f"label: {label!r} is not one of {', '.join(self.configs)}")
        return CONFIGS / self.configs[label]

    def preset(self, name: str) -> Preset:
        """The preset ``name`` (``quick`` or ``full``)."""
        if name not in self.presets:
            raise ValueError(f"preset: {name!r} is not one of {', '.join(self.presets)}")
        return self.presets[name]

    def labels(self, preset: str) -> tuple[str, ...]:
        """The config labels the preset runs, in the table's order."""
        chosen = self.preset(preset).configs
        return tuple(label for label in self.configs if not chosen or label in chosen)


PASTIS_R = DatasetKind(
    name="PASTIS-R",
    simulate_format="pastis-r",
    reader="pastis",
    simulated_reader="pastis",
    layout="a PASTIS-R folder (DATA_S2, DATA_S1A, DATA_S1D, ANNOTATIONS, metadata.geojson)",
    real_paths=("{root}/metadata.geojson",),
)

# Seed 000's CropTypeMapping is not simulated: on synthetic data its configs read simulated
# PASTIS-R parcels instead (one radar orbit, S1D, as seed 000's single descending S1 series;
# PASTIS fold rotation 1 as the split; PASTIS's 18 classes). Own choice, said in the report.
CROP_TYPE_MAPPING = DatasetKind(
    name="CropTypeMapping (Finistère)",
    simulate_format="pastis-r",
    reader="pixelset",
    simulated_reader="pastis",
    layout="CropTypeMapping's two-sensor pixel sets: s1_data/<region>, s2_data/<region> for "
    "Chateaulin, Quimper, Morlaix and Brest",
    overrides=(
        "data.format=pastis",
        "data.root={root}",
        "data.train_roots=[]",
        "data.val_roots=[]",
        "data.test_roots=[]",
        "data.reference_date=null",
        "data.nomenclature=null",
        "data.classes=null",
        "model.num_classes=18",
    ),
    real_overrides=(
        "data.train_roots=[{root}/s1_data/Chateaulin, {root}/s1_data/Quimper]",
        "data.val_roots=[{root}/s1_data/Morlaix]",
        "data.test_roots=[{root}/s1_data/Brest]",
    ),
    modality_map={"S1": "S1D"},
    stand_in="simulated PASTIS-R parcels stand in for CropTypeMapping: S1D as the S1 series, "
    "PASTIS fold rotation 1 as the regional split, PASTIS's 18 classes",
    real_paths=tuple(
        f"{{root}}/{sensor}/{region}"
        for sensor in ("s1_data", "s2_data")
        for region in ("Chateaulin", "Quimper", "Morlaix", "Brest")
    ),
)

# Quick presets: own choice, sized for at most about 20 minutes per experiment on this 2-core
# CPU: 40 simulated patches of 64 x 64 (about 460 labelled parcels, the simulator's
# calibration set, docs/simulator.md), one fold, two seeds (so that a std exists), 20 epochs of
# batches of 32 parcels (the papers' 128 and 512 would give one or two steps per epoch on so
# few parcels), arrays kept in memory. Measured on an idle machine: 16 patches and 10 epochs
# took 3.5 min for garnot2021-table1's 18 runs (5-19 s a run); this size about 4 times more.
# Full presets: the papers' protocols (the configs' batch sizes and epochs).
_QUICK_PASTIS = {"patches": 40, "size": 64, "seed": 0}  # own choice
_QUICK = ("train.epochs=20", "data.batch_size=32", "data.cache=true")  # own choice

GARNOT2021_TABLE1 = Experiment(
    name="garnot2021-table1",
    paper="Garnot, Landrieu, Chehata (2021), seed 001",
    source="Table 1 (parcel classification)",
    title="PSE + L-TAE parcel classification: single modalities and fusion levels, with and "
    "without auxiliary supervision and temporal dropout",
    dataset=PASTIS_R,
    configs={
        label: f"garnot2021/parcel/{label}.yaml"
        for label in (
            "s2",
            "s2_td",
            "s1d",
            "s1d_td",
            "s1a",
            "s1a_td",
            "early",
            "early_td",
            "mid",
            "mid_td",
            "mid_aux",
            "mid_aux_td",
            "late",
            "late_td",
            "late_aux",
            "late_aux_td",
            "decision",
            "decision_td",
            "decision_aux",
            "decision_aux_td",
        )
    },
    metrics=("miou", "overall_accuracy", "macro_f1"),
    presets={
        "quick": Preset(
            configs=(
                "s2",
                "s1d",
                "s1a",
                "early",
                "mid",
                "late",
                "late_aux_td",
                "decision",
                "decision_aux_td",
            ),
            folds=(pastis_rotation(1),),
            seeds=(0, 1),
            overrides=_QUICK,
            simulate=_QUICK_PASTIS,
            note="9 of the 20 configs (those the claims name), fold rotation 1, 2 seeds, "
            "20 epochs of batches of 32, 40 simulated patches of 64 x 64",
        ),
        "full": Preset(  # seed 001 Sec. 4.2: 100 epochs (the configs'), 5-fold CV
            configs=(),
            folds=tuple(pastis_rotation(k) for k in range(1, 6)),
            seeds=(0,),
            note="all 20 configs, the 5 fold rotations, the configs' 100 epochs (seed 001)",
        ),
    },
    # seed 001 Table 1: OA and mIoU of the base model, mIoU with temporal dropout, auxiliary
    # supervision, both (percent in the paper; fractions here). No std is printed.
    published={
        "s2": {"overall_accuracy": (0.917, None), "miou": (0.739, None)},
        "s2_td": {"miou": (0.745, None)},
        "s1d": {"overall_accuracy": (0.870, None), "miou": (0.645, None)},
        "s1d_td": {"miou": (0.647, None)},
        "s1a": {"overall_accuracy": (0.864, None), "miou": (0.633, None)},
        "s1a_td": {"miou": (0.629, None)},
        "early": {"overall_accuracy": (0.918, None), "miou": (0.749, None)},
        "early_td": {"miou": (0.765, None)},
        "mid": {"overall_accuracy": (0.920, None), "miou": (0.751, None)},
        "mid_td": {"miou": (0.759, None)},
        "mid_aux": {"miou": (0.750, None)},
        "mid_aux_td": {"miou": (0.765, None)},
        "late": {"overall_accuracy": (0.911, None), "miou": (0.730, None)},
        "late_td": {"miou": (0.736, None)},
        "late_aux": {"miou": (0.761, None)},
        "late_aux_td": {"miou": (0.772, None)},
        "decision": {"overall_accuracy": (0.910, None), "miou": (0.725, None)},
        "decision_td": {"miou": (0.728, None)},
        "decision_aux": {"miou": (0.752, None)},
        "decision_aux_td": {"miou": (0.758, None)},
    },
    claims=(
        Claim("s2", ">", "s1d", "miou", "S2 outperforms the radar series (Sec. 4.2, Analysis)"),
        Claim("s2", ">", "s1a", "miou", "S2 outperforms the radar series (Sec. 4.2, Analysis)"),
        Claim("early", ">", "s2", "miou", "early fusion improves on S2 only (Analysis)"),
        Claim("mid", ">", "s2", "miou", "mid fusion improves on S2 only (Analysis)"),
        Claim("late", "<", "s2", "miou", "late fusion alone is slightly worse than S2 (Analysis)"),
        Claim("decision", "<", "s2", "miou", "decision fusion alone is slightly worse (Analysis)"),
        Claim(
            "late_aux_td",
            ">",
            "late",
            "miou",
            "auxiliary supervision + temporal dropout improve late fusion (Analysis)",
        ),
        Claim(
            "decision_aux_td",
            ">",
            "decision",
            "miou",
            "auxiliary supervision + temporal dropout improve decision fusion (Analysis)",
        ),
        Claim(
            "late_aux_td",
            ">",
            "s2",
            "miou",
            "late + aux + tdrop beats S2 only, +3.3 mIoU (Analysis)",
        ),
    ),
    protocol="seed 001 Sec. 4.2: Adam 1e-3, 100 epochs, batches of 128 parcels, S = 64 "
    "pixels, 5-fold cross-validation on PASTIS-R",
)

# Quick preset of the semantic experiments: U-TAE a quarter as wide (own choice: 16 times
# fewer convolution operations than seed 001 Sec. 3.4's widths; the L-TAE as the paper's),
# so that the grid fits the quick budget on a CPU; the full preset keeps the paper's model.
_QUICK_UTAE = (
    "model.encoder={name: utae, encoder_widths: [16, 16, 16, 32], decoder_widths: "
    "[16, 16, 16, 32]}",
    "model.head=[16]",
    "data.batch_size=4",
    "data.cache=true",
)

GARNOT2021_TABLE2 = Experiment(
    name="garnot2021-table2",
    paper="Garnot, Landrieu, Chehata (2021), seed 001",
    source="Table 2 (semantic segmentation)",
    title="U-TAE semantic segmentation: single modalities, early, late and decision fusion, "
    "with temporal dropout and auxiliary supervision",
    dataset=PASTIS_R,
    configs={
        label: f"garnot2021/semantic/{label}.yaml"
        for label in (
            "s2",
            "s2_td",
            "s1d",
            "s1d_td",
            "s1a",
            "s1a_td",
            "early",
            "early_td",
            "late_td",
            "late_aux_td",
            "decision_td",
            "decision_aux_td",
        )
    },
    metrics=("miou", "overall_accuracy", "macro_f1"),
    presets={
        "quick": Preset(
            configs=("s2", "s1d", "s1a", "early", "late_td", "late_aux_td", "decision_td"),
            folds=(pastis_rotation(1),),
            seeds=(0, 1),
            overrides=("train.epochs=15", *_QUICK_UTAE),
            simulate=_QUICK_PASTIS,
            note="7 of the 12 configs (those the claims name), fold rotation 1, 2 seeds, "
            "15 epochs of batches of 4, U-TAE a quarter as wide, 40 simulated patches of 64 x 64",
        ),
        "full": Preset(  # seed 001 Sec. 4.2: 100 epochs (the configs'), 5-fold CV
            configs=(),
            folds=tuple(pastis_rotation(k) for k in range(1, 6)),
            seeds=(0,),
            note="all 12 configs, the 5 fold rotations, the configs' 100 epochs (seed 001)",
        ),
    },
    # seed 001 Table 2: mIoU (percent in the paper; fractions here), 5-fold CV; no std.
    published={
        "s2": {"miou": (0.631, None)},
        "s2_td": {"miou": (0.636, None)},
        "s1d": {"miou": (0.549, None)},
        "s1d_td": {"miou": (0.547, None)},
        "s1a": {"miou": (0.538, None)},
        "s1a_td": {"miou": (0.533, None)},
        "early": {"miou": (0.649, None)},
        "early_td": {"miou": (0.658, None)},
        "late_td": {"miou": (0.658, None)},
        "late_aux_td": {"miou": (0.663, None)},
        "decision_td": {"miou": (0.647, None)},
        "decision_aux_td": {"miou": (0.643, None)},
    },
    claims=(
        Claim("s2", ">", "s1d", "miou", "S2 outperforms the radar series (Table 2)"),
        Claim("s2", ">", "s1a", "miou", "S2 outperforms the radar series (Table 2)"),
        Claim("early", ">", "s2", "miou", "early fusion improves on S2 only (Table 2)"),
        Claim(
            "late_td",
            ">",
            "s2",
            "miou",
            "late fusion improves on the unimodal models by 2.7 mIoU (Sec. 4.4, Analysis)",
        ),
        Claim(
            "late_aux_td",
            ">",
            "late_td",
            "miou",
            "auxiliary supervision adds another 0.5 mIoU to late fusion (Analysis)",
        ),
        Claim(
            "decision_td",
            ">",
            "s2",
            "miou",
            "decision fusion improves on S2 only (Table 2: 64.7 against 63.1)",
        ),
    ),
    protocol="seed 001 Sec. 4.2: Adam 1e-3, 100 epochs, batches of 4 patches of 128 x 128, "
    "5-fold cross-validation on PASTIS-R; temporal dropout needed for late and decision fusion",
)


def _pastis_presets(
    overrides: tuple[str, ...], quick_note: str, full_note: str
) -> dict[str, Preset]:
    """The presets of a seed 001 grid: every config on fold rotation 1 of the simulated
    PASTIS-R with 2 seeds and ``overrides`` (quick), or on the 5 fold rotations of the real
    data with the configs' own training (full; seed 001 Sec. 4.2: 5-fold cross-validation)."""
    return {
        "quick": Preset(
            configs=(),
            folds=(pastis_rotation(1),),
            seeds=(0, 1),
            overrides=overrides,
            simulate=_QUICK_PASTIS,
            note=f"{quick_note}, fold rotation 1, 2 seeds, on 40 simulated patches of 64 x 64",
        ),
        "full": Preset(
            configs=(),
            folds=tuple(pastis_rotation(k) for k in range(1, 6)),
            seeds=(0,),
            note=f"{full_note}, the 5 fold rotations, the configs' training (seed 001)",
        ),
    }


# Quick preset of the panoptic experiment: U-TAE a quarter as wide as for table 2, the PaPs
# head as the paper's; the reference schedule shrunk with the epochs (own choice): 20 epochs,
# heatmap-only warm-up 2 (reference: 5 of 100), lr 0.01 then 0.001 after epoch 14 (Sec. 4.2:
# after 50 of 100), validation every 2 epochs after epoch 10 (reference: every 5 after 65).
_QUICK_PAPS = (
    "model.encoder={name: utae, encoder_widths: [16, 16, 16, 32], decoder_widths: "
    "[16, 16, 16, 32]}",
    "data.batch_size=4",
    "data.cache=true",
    "train.epochs=20",
    "train.warmup_epochs=2",
    "train.milestones=[14]",
    "train.val_every=2",
    "train.val_after=10",
)

GARNOT2021_TABLE3 = Experiment(
    name="garnot2021-table3",
    paper="Garnot, Landrieu, Chehata (2021), seed 001",
    source="Table 3 (panoptic segmentation)",
    title="U-TAE + PaPs panoptic segmentation: single modalities, early and late fusion with "
    "temporal dropout",
    dataset=PASTIS_R,
    configs={
        label: f"garnot2021/panoptic/{label}.yaml"
        for label in ("s2", "s1d", "s1a", "early_td", "late_td")
    },
    metrics=("PQ", "SQ", "RQ", "miou"),
    presets=_pastis_presets(
        _QUICK_PAPS,
        "the 5 configs, 20 epochs of batches of 4 (warm-up 2, lr step after 14, validation "
        "every 2 after 10), U-TAE a quarter as wide",
        "the 5 configs",
    ),
    # seed 001 Table 3: class-averaged SQ, RQ, PQ (percent in the paper; fractions here); no std.
    published={
        "s2": {"SQ": (0.813, None), "RQ": (0.492, None), "PQ": (0.404, None)},
        "s1d": {"SQ": (0.770, None), "RQ": (0.393, None), "PQ": (0.309, None)},
        "s1a": {"SQ": (0.774, None), "RQ": (0.388, None), "PQ": (0.306, None)},
        "early_td": {"SQ": (0.822, None), "RQ": (0.506, None), "PQ": (0.420, None)},
        "late_td": {"SQ": (0.816, None), "RQ": (0.505, None), "PQ": (0.416, None)},
    },
    claims=(
        Claim("s2", ">", "s1d", "PQ", "S2 outperforms the radar series (Table 3: 40.4 / 30.9)"),
        Claim("s2", ">", "s1a", "PQ", "S2 outperforms the radar series (Table 3: 40.4 / 30.6)"),
        Claim("early_td", ">", "s2", "PQ", "early fusion adds 1.6 PQ to S2 (Sec. 4.5)"),
        Claim("late_td", ">", "s2", "PQ", "late fusion adds 1.2 PQ to S2 (Sec. 4.5)"),
        Claim(
            "early_td",
            ">",
            "s2",
            "RQ",
            "the gain is mostly recognition quality, SQ almost unchanged (Sec. 4.5)",
        ),
        Claim(
            "late_td",
            ">",
            "s2",
            "RQ",
            "the gain is mostly recognition quality, SQ almost unchanged (Sec. 4.5)",
        ),
    ),
    protocol="seed 001 Sec. 4.2 (panoptic): Adam, lr 0.01 for 50 epochs then 0.001 for 50, "
    "batches of 4 patches of 128 x 128, PaPs loss, 5-fold cross-validation on PASTIS-R; "
    "temporal dropout needed to train late fusion (Sec. 4.5)",
)

# seed 001 Fig. 8 (a): the parcel models of Table 1 the text discusses, tested again with
# 10 to 90 % of the optical observations removed.
_FIG8 = ("s2", "s1d", "early", "mid", "late_aux_td", "decision_aux_td")

GARNOT2021_FIG8 = Experiment(
    name="garnot2021-fig8",
    paper="Garnot, Landrieu, Chehata (2021), seed 001",
    source="Fig. 8 (a) (varying cloud cover, parcel classification)",
    title="PSE + L-TAE parcel classification tested with fewer and fewer optical "
    "observations: S2, S1D, early, mid, late and decision fusion",
    dataset=PASTIS_R,
    configs={label: f"garnot2021/parcel/{label}.yaml" for label in _FIG8},
    metrics=("miou", "miou_kept_50", "miou_kept_10", "miou_kept_30", "miou_drop"),
    presets=_pastis_presets(
        _QUICK,
        "the 6 configs, 20 epochs of batches of 32, each run tested with 100, 90, 70, 50, 30, "
        "10 % of its S2 observations",
        "the 6 configs, each run tested with 100 to 10 % of its S2 observations",
    ),
    # Fig. 8 prints no number; its 100 % point is Table 1's mIoU.
    published={label: {"miou": GARNOT2021_TABLE1.published[label]["miou"]} for label in _FIG8},
    claims=(
        Claim(
            "s1d",
            ">",
            "s2",
            "miou_kept_30",
            "S2 alone falls below the radar model with 70 % of its observations gone (Sec. 4.4)",
        ),
        *(
            Claim(level, ">", "s2", "miou_kept_50", "fusion holds up with 50 % of S2 missing")
            for level in ("late_aux_td", "decision_aux_td")
        ),
        Claim(
            "early",
            ">",
            "decision_aux_td",
            "miou_drop",
            "early fusion is the least robust, decision fusion the most (Sec. 4.4)",
        ),
        Claim(
            "early",
            ">",
            "late_aux_td",
            "miou_drop",
            "early fusion loses more than late fusion (Sec. 4.4)",
        ),
        Claim(
            "decision_aux_td",
            ">",
            "s1d",
            "miou_kept_10",
            "with 90 % of S2 removed, decision fusion still beats the radar model (Sec. 4.4)",
        ),
    ),
    protocol="seed 001 Sec. 4.2 / 4.4: as Table 1; random optical acquisitions removed from "
    "the test set (radar unchanged), 10 to 90 % of them",
    robustness=(0.9, 0.7, 0.5, 0.3, 0.1),
)

OFORI2021_TABLE3 = Experiment(
    name="ofori2021-table3",
    paper="Ofori-Ampofo, Pelletier, Lang (2021), seed 000",
    source="Table 3 (fusion comparison, 5 runs)",
    title="PSE-TAE with Sentinel-1 and Sentinel-2: single sensors against early, PSE, TAE "
    "and late (decision) fusion",
    dataset=CROP_TYPE_MAPPING,
    configs={label: f"ofori2021/{label}.yaml" for label in ("s1", "s2", "early", "pse", "tae")}
    | {"late": "ofori2021/late.yaml"},
    metrics=("overall_accuracy", "macro_f1", "kappa", "miou"),
    presets={
        "quick": Preset(
            configs=(),
            folds=(Fold("regional"),),
            seeds=(0, 1),
            overrides=_QUICK,
            simulate=_QUICK_PASTIS,
            note="the 6 configs, 2 seeds, 20 epochs of batches of 32, on 40 simulated PASTIS-R "
            "patches of 64 x 64 (S1D as the S1 series, PASTIS fold rotation 1 as the split)",
        ),
        "full": Preset(  # seed 000 Sec. 5.1: averaged over five runs; 100 epochs (configs')
            configs=(),
            folds=(Fold("regional"),),
            seeds=(0, 1, 2, 3, 4),
            note="the 6 configs, 5 runs (seeds 0-4), the configs' 100 epochs (seed 000)",
        ),
    },
    # seed 000 Table 3: OA, Kappa, mIoU, F-score (mean ± std over 5 runs).
    published={
        "s1": {
            "overall_accuracy": (0.896, 0.003),
            "kappa": (0.842, 0.003),
            "miou": (0.444, 0.002),
            "macro_f1": (0.522, 0.003),
        },
        "s2": {
            "overall_accuracy": (0.916, 0.007),
            "kappa": (0.875, 0.011),
            "miou": (0.502, 0.013),
            "macro_f1": (0.587, 0.015),
        },
        "early": {
            "overall_accuracy": (0.922, 0.002),
            "kappa": (0.883, 0.003),
            "miou": (0.525, 0.007),
            "macro_f1": (0.612, 0.007),
        },
        "pse": {
            "overall_accuracy": (0.913, 0.008),
            "kappa": (0.872, 0.01),
            "miou": (0.519, 0.014),
            "macro_f1": (0.611, 0.015),
        },
        "tae": {
            "overall_accuracy": (0.913, 0.008),
            "kappa": (0.881, 0.013),
            "miou": (0.519, 0.014),
            "macro_f1": (0.611, 0.015),
        },
        "late": {
            "overall_accuracy": (0.934, 0.004),
            "kappa": (0.901, 0.006),
            "miou": (0.515, 0.009),
            "macro_f1": (0.591, 0.008),
        },
    },
    claims=(
        Claim("s2", ">", "s1", "macro_f1", "Sentinel-2 outperforms Sentinel-1 (Sec. 5.1, ~7 F1)"),
        Claim("s2", ">", "s1", "overall_accuracy", "Sentinel-2 outperforms Sentinel-1 in OA"),
        *(
            Claim(level, ">", "s1", "overall_accuracy", f"{level} fusion outperforms S1 (Sec. 5.1)")
            for level in ("early", "pse", "tae", "late")
        ),
        Claim("late", ">", "s2", "overall_accuracy", "late fusion has the best OA (Table 3)"),
        Claim("early", ">", "s2", "macro_f1", "early fusion has the best F-score (Table 3)"),
    ),
    protocol="seed 000 Sec. 4.3: Adam 1e-3, 100 epochs, batches of 512, focal loss, 64 "
    "pixels, 27 S2 dates; regional split Chateaulin + Quimper / Morlaix / Brest; 5 runs",
)

MULTISENGE = DatasetKind(
    name="MultiSenGE",
    simulate_format="multisenge",
    reader="multisenge",
    simulated_reader="multisenge",
    layout="a MultiSenGE folder (s2, s1, ground_reference, labels)",
    real_paths=("{root}/labels",),
)


def _seed000_presets(
    quick: tuple[str, ...],
    quick_note: str,
    full_note: str,
    overrides: Mapping[str, tuple[str, ...]],
) -> dict[str, Preset]:
    """The presets of a seed 000 grid of labels: ``quick`` of them on the simulated stand-in
    (``ofori2021-table3``'s settings, 2 seeds), all of them on the real split with 5 runs (seed
    000 Sec. 5: averaged over five runs); ``overrides`` by label in both."""
    return {
        "quick": Preset(
            configs=quick,
            folds=(Fold("regional"),),
            seeds=(0, 1),
            overrides=_QUICK,
            simulate=_QUICK_PASTIS,
            note=f"{quick_note}, 2 seeds, 20 epochs of batches of 32, on 40 simulated PASTIS-R "
            "patches of 64 x 64 (S1D as the S1 series, PASTIS fold rotation 1 as the split)",
            label_overrides=overrides,
        ),
        "full": Preset(
            configs=(),
            folds=(Fold("regional"),),
            seeds=(0, 1, 2, 3, 4),
            note=f"{full_note}, 5 runs (seeds 0-4), the configs' 100 epochs (seed 000)",
            label_overrides=overrides,
        ),
    }


# seed 000 Sec. 5.3: n % of the 27 Sentinel-2 observations (the minimum length) sampled per
# parcel, all of Sentinel-1 (early fusion: S1 at the nearest S2 dates); Table 4's columns.
_SPARSE = {20: 5, 40: 11, 60: 16, 80: 22, 100: 27}
_SPARSE_LABELS = {
    f"{level}_{pct}": level for level in ("s2", "early", "tae", "late") for pct in _SPARSE
}
_SPARSE_OVERRIDES = {
    label: (f"data.subsequence={{S2: {_SPARSE[int(label.rsplit('_', 1)[1])]}}}",)
    for label in _SPARSE_LABELS
}
# seed 000 Table 4: F-score (mean ± std over 5 runs) by percent of the S2 observations.
_SPARSE_F1 = {
    "s2": ((0.443, 0.012), (0.537, 0.015), (0.576, 0.012), (0.587, 0.012), (0.587, 0.017)),
    "early": ((0.478, 0.013), (0.564, 0.005), (0.595, 0.004), (0.603, 0.014), (0.612, 0.008)),
    "tae": ((0.558, 0.010), (0.575, 0.017), (0.590, 0.007), (0.605, 0.007), (0.611, 0.017)),
    "late": ((0.540, 0.007), (0.564, 0.014), (0.584, 0.012), (0.583, 0.010), (0.591, 0.009)),
}

OFORI2021_TABLE4 = Experiment(
    name="ofori2021-table4",
    paper="Ofori-Ampofo, Pelletier, Lang (2021), seed 000",
    source="Table 4 (sparse Sentinel-2 time series, 5 runs)",
    title="PSE-TAE with 20 to 100 % of the Sentinel-2 observations: S2 alone, S1 alone, "
    "early, TAE and late fusion",
    dataset=CROP_TYPE_MAPPING,
    configs={"s1": "ofori2021/s1.yaml"}
    | {label: f"ofori2021/{level}.yaml" for label, level in _SPARSE_LABELS.items()},
    metrics=("macro_f1", "overall_accuracy", "kappa"),
    presets=_seed000_presets(
        ("s1", *(f"{lv}_{pct}" for lv in ("s2", "early", "tae", "late") for pct in (20, 60, 100))),
        "S1 and the 4 others at 20, 60 and 100 % of the S2 observations (13 configs)",
        "S1 and the 4 others at 20, 40, 60, 80, 100 % of the S2 observations (21 configs)",
        _SPARSE_OVERRIDES,
    ),
    published={"s1": {"macro_f1": (0.522, 0.003)}}
    | {
        f"{level}_{pct}": {"macro_f1": value}
        for level, values in _SPARSE_F1.items()
        for pct, value in zip(_SPARSE, values, strict=True)
    },
    claims=(
        Claim(
            "s2_100", ">", "s2_20", "macro_f1", "more S2 observations, higher F-score (Sec. 5.3)"
        ),
        *(
            Claim(
                f"{level}_20",
                ">",
                "s2_20",
                "macro_f1",
                f"{level} fusion above S2 at 20 % (Table 4)",
            )
            for level in ("early", "tae", "late")
        ),
        Claim(
            "tae_20",
            ">",
            "early_20",
            "macro_f1",
            "TAE fusion, with all of S1, beats early fusion when S2 is sparse (Sec. 5.3)",
        ),
        Claim(
            "tae_20",
            ">",
            "s1",
            "macro_f1",
            "five S2 observations already add about 0.036 F-score to S1 alone (Sec. 5.3)",
        ),
        Claim(
            "early_100", ">", "s2_100", "macro_f1", "early fusion above S2 with all of it (Table 4)"
        ),
    ),
    protocol="seed 000 Sec. 4.3 / 5.3: as Table 3, with n % of the 27 S2 observations sampled "
    "per parcel (5, 11, 16, 22, 27), all S1 observations; 5 runs",
)

# seed 000 Sec. 5.4 / Fig. 7: the series cut at the end of each quarter from October 2018
# (data.until), S1 alone, S2 alone and early fusion (the best fusion there).
_QUARTERS = {"q1": "2018-12-31", "q2": "2019-03-31", "q3": "2019-06-30", "q4": "2019-09-30",
             "q5": "2019-12-31"}  # fmt: skip
_QUARTER_LABELS = {f"{level}_{q}": level for level in ("s1", "s2", "early") for q in _QUARTERS}
_QUARTER_OVERRIDES = {
    label: (f"data.until={_QUARTERS[label.rsplit('_', 1)[1]]}",) for label in _QUARTER_LABELS
}

OFORI2021_FIG7 = Experiment(
    name="ofori2021-fig7",
    paper="Ofori-Ampofo, Pelletier, Lang (2021), seed 000",
    source="Fig. 7 (early season, quarterly increments, 5 runs)",
    title="PSE-TAE on the season so far, by quarters from October 2018: Sentinel-1, "
    "Sentinel-2 and early fusion",
    dataset=CROP_TYPE_MAPPING,
    configs={label: f"ofori2021/{level}.yaml" for label, level in _QUARTER_LABELS.items()},
    metrics=("macro_f1", "overall_accuracy"),
    presets=_seed000_presets(
        tuple(f"{lv}_{q}" for lv in ("s1", "s2", "early") for q in ("q1", "q2", "q3", "q5")),
        "S1, S2 and early fusion cut at the ends of 2018 Q4, 2019 Q1, Q2 and Q4 (12 configs)",
        "S1, S2 and early fusion at the 5 quarters (15 configs)",
        _QUARTER_OVERRIDES,
    ),
    published={},  # a figure: the paper prints no number for it
    claims=(
        *(
            Claim(f"s2_{q}", ">", f"s1_{q}", "macro_f1", f"S1 yields the lower F-score ({when})")
            for q, when in (("q3", "to June 2019"), ("q5", "the whole series"))
        ),
        *(
            Claim(f"early_{q}", ">", f"s2_{q}", "macro_f1", f"early fusion dominates {when}")
            for q, when in (
                ("q2", "from March 2019 (Sec. 5.4)"),
                ("q3", "to June 2019"),
                ("q5", "on the whole series"),
            )
        ),
        Claim("s2_q5", ">", "s2_q1", "macro_f1", "the F-score grows as the season goes on"),
        Claim("early_q5", ">", "early_q1", "macro_f1", "the F-score grows as the season goes on"),
    ),
    protocol="seed 000 Sec. 4.3 / 5.4: as Table 3, each series cut at the end of a quarter "
    "from October 2018 (Dec 2018, Mar, Jun, Sep, Dec 2019); 5 runs",
)

# Quick preset of wenger2022-table4: the VGG-16 U-Net a quarter as wide (own choice: 16, 32,
# 64, 128, 128 channels instead of seed 003 Fig. 5's 64 ... 512; the ConvLSTMs as the paper's
# 32 filters), 64 x 64 patches on the paper's four split tiles. The single-sensor configs name
# the U-Net under model, the two-sensor ones inside their encoder.
_QUICK_UNET = "[16, 32, 64, 128, 128]"
_SPLIT_TILES = ("31UFQ", "32ULU", "31UFP", "31UEQ")
"""Train 31UFQ, 32ULU / val 31UFP / test 31UEQ: tiles of seed 003's split (Sec. 2.2), as
``sitsfusion.simulate.multisenge.SPLIT_TILES`` (tested equal; not imported here, to keep the
registry light)."""
_WENGER_LABELS = tuple(
    f"{name}_{k}classes"
    for k in (6, 10)
    for name in ("convlstm_s1", "convlstm_s2", "convlstm_s1s2", "convlstm_inception_s1s2")
)


def _quick_unet(label: str) -> tuple[str, ...]:
    if "s1s2" not in label:
        return (f"model.unet_widths={_QUICK_UNET}",)
    inception = "true" if "inception" in label else "false"
    return (
        "model.encoder={name: convlstm_inception, hidden: 32, use_inception: "
        f"{inception}, unet_widths: {_QUICK_UNET}}}",
    )


WENGER2022_TABLE4 = Experiment(
    name="wenger2022-table4",
    paper="Wenger, Puissant, Weber, Idoumghar, Forestier (2022), seed 003",
    source="Table 4 (experiments), Tables 5-8 (results)",
    title="ConvLSTM land cover on MultiSenGE: Sentinel-1, Sentinel-2, both, and both with a "
    "spatio-spectral Inception branch, 6 and 10 classes",
    dataset=MULTISENGE,
    configs={label: f"wenger2022/{label}.yaml" for label in _WENGER_LABELS},
    metrics=("kappa", "weighted_f1", "overall_accuracy", "macro_f1"),
    presets={
        "quick": Preset(
            configs=(),
            folds=(Fold("tiles"),),
            seeds=(0, 1),
            overrides=("train.epochs=15", "data.cache=true"),
            simulate={
                "patches": 40,
                "size": 64,
                "seed": 0,
                "tiles": ("31UFQ", "32ULU", "31UFP", "31UEQ"),
            },
            note="the 8 configs, the paper's tile split, 2 seeds, 15 epochs, the VGG-16 U-Net a "
            "quarter as wide, 40 simulated patches of 64 x 64 on 4 tiles",
            label_overrides={label: _quick_unet(label) for label in _WENGER_LABELS},
        ),
        "full": Preset(  # seed 003 Sec. 3.4: the configs' 100 epochs, early stopping 20
            configs=(),
            folds=(Fold("tiles"),),
            seeds=(0,),
            note="the 8 configs on the paper's tile split, the configs' training (seed 003)",
        ),
    },
    # seed 003 Tables 5 and 7 (weighted averages: W-Avg F1, W-Avg recall = overall accuracy)
    # and Tables 6 and 8 (Cohen's kappa); mean F1 printed for ConvLSTM+Inception-S1S2 at 10
    # classes only (Sec. 4.2). One run each, no std.
    published={
        "convlstm_s1_6classes": {
            "weighted_f1": (0.9001, None),
            "overall_accuracy": (0.8661, None),
            "kappa": (0.3929, None),
        },
        "convlstm_s2_6classes": {
            "weighted_f1": (0.8958, None),
            "overall_accuracy": (0.8574, None),
            "kappa": (0.4223, None),
        },
        "convlstm_s1s2_6classes": {
            "weighted_f1": (0.8875, None),
            "overall_accuracy": (0.8369, None),
            "kappa": (0.3852, None),
        },
        "convlstm_inception_s1s2_6classes": {
            "weighted_f1": (0.9018, None),
            "overall_accuracy": (0.8596, None),
            "kappa": (0.4186, None),
        },
        "convlstm_s1_10classes": {
            "weighted_f1": (0.8055, None),
            "overall_accuracy": (0.7836, None),
            "kappa": (0.6422, None),
        },
        "convlstm_s2_10classes": {
            "weighted_f1": (0.8696, None),
            "overall_accuracy": (0.8517, None),
            "kappa": (0.7445, None),
        },
        "convlstm_s1s2_10classes": {
            "weighted_f1": (0.8600, None),
            "overall_accuracy": (0.8482, None),
            "kappa": (0.7482, None),
        },
        "convlstm_inception_s1s2_10classes": {
            "weighted_f1": (0.8851, None),
            "overall_accuracy": (0.8831, None),
            "kappa": (0.7945, None),
            "macro_f1": (0.6373, None),
        },
    },
    claims=(
        Claim(
            "convlstm_inception_s1s2_10classes",
            ">",
            "convlstm_s1s2_10classes",
            "kappa",
            "10 classes: ConvLSTM+Inception-S1S2 has the best agreement (Table 8)",
        ),
        Claim(
            "convlstm_inception_s1s2_10classes",
            ">",
            "convlstm_s2_10classes",
            "weighted_f1",
            "10 classes: ConvLSTM+Inception-S1S2 has the best weighted F1 (Sec. 4.2)",
        ),
        Claim(
            "convlstm_s2_10classes",
            ">",
            "convlstm_s1_10classes",
            "kappa",
            "10 classes: S2 above S1 (Table 8: 0.7445 against 0.6422)",
        ),
        Claim(
            "convlstm_s1s2_10classes",
            ">",
            "convlstm_s1_10classes",
            "kappa",
            "10 classes: S1 + S2 above S1 alone (Table 8)",
        ),
        Claim(
            "convlstm_s2_6classes",
            ">",
            "convlstm_s1_6classes",
            "kappa",
            "6 classes: S2 has the best kappa (Table 6: 0.4223 against 0.3929 for S1)",
        ),
        Claim(
            "convlstm_inception_s1s2_6classes",
            ">",
            "convlstm_s1s2_6classes",
            "weighted_f1",
            "6 classes: the Inception branch improves S1 + S2 (Table 5: 0.9018 against 0.8875)",
        ),
    ),
    protocol="seed 003 Sec. 3.4: Adam 1e-3, ReduceLROnPlateau x0.1 after 5 epochs, early "
    "stopping patience 20, batches of 16, weighted cross-entropy, rotations and flips; one "
    "S2 date per month for July, August, September, November; tile split (Sec. 2.2)",
)

EXPERIMENTS: Mapping[str, Experiment] = MappingProxyType(
    {
        e.name: e
        for e in (
            GARNOT2021_TABLE1,
            GARNOT2021_TABLE2,
            GARNOT2021_TABLE3,
            GARNOT2021_FIG8,
            OFORI2021_TABLE3,
            OFORI2021_TABLE4,
            OFORI2021_FIG7,
            WENGER2022_TABLE4,
        )
    }
)
"""Every experiment ``sitsfusion reproduce`` runs, by name."""


def experiment(name: str) -> Experiment:
    """The experiment ``name`` of :data:`EXPERIMENTS`.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"name: {name!r} is not an experiment; known: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]
