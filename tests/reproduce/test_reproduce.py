"""``sitsfusion reproduce``: the registry, and one experiment end to end on tiny settings
(a few tiny simulated — synthetic — PASTIS-R patches, tiny models, 1 epoch, one fold)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sitsfusion.config import load_config
from sitsfusion.reproduce.registry import (
    EXPERIMENTS,
    METRIC_NAMES,
    OPERATORS,
    Experiment,
    Preset,
    experiment,
    pastis_rotation,
)
from sitsfusion.reproduce.runner import grid, run_experiment, run_overrides
from sitsfusion.runs import RunFolderError
from tiny import TINY_PSE_LTAE, TINY_UTAE

TINY = TINY_PSE_LTAE
SIMULATED_MODALITIES = {"pastis": {"S2", "S1A", "S1D"}, "multisenge": {"S2", "S1"}}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_registry_is_consistent(name: str, tmp_path: Path) -> None:
    exp = EXPERIMENTS[name]
    assert exp.name == name and set(exp.presets) == {"quick", "full"}
    for label in exp.configs:
        assert exp.config_path(label).is_file(), label
        load_config(exp.config_path(label))  # every file loads as it is
    assert set(exp.metrics) <= set(METRIC_NAMES)
    for label, published in exp.published.items():
        assert label in exp.configs and set(published) <= set(METRIC_NAMES), label
        assert all(0.0 < mean <= 1.0 for mean, _ in published.values()), label
    quick = set(exp.labels("quick"))
    for claim in exp.claims:  # every claim names runs of the grid, of both presets
        assert claim.op in OPERATORS and claim.metric in exp.metrics
        assert {claim.left, claim.right} <= quick <= set(exp.labels("full")), claim
    for preset in exp.presets:
        assert set(exp.preset(preset).configs) <= set(exp.configs)
        assert len(grid(exp, preset)) == len(exp.labels(preset)) * len(
            exp.preset(preset).folds
        ) * len(exp.preset(preset).seeds)
    assert exp.preset("quick").simulate is not None  # quick runs on a simulated dataset
    spec = grid(exp, "quick")[-1]  # every config reads the simulated layout
    for label in exp.configs:
        cfg = run_overrides(exp, "quick", dataclasses.replace(spec, label=label), tmp_path, True)
        reader = exp.dataset.simulated_reader
        assert cfg.data.format == reader and cfg.data.root == str(tmp_path)
        assert set(cfg.data.modalities) <= SIMULATED_MODALITIES[reader], label
        assert cfg.train.seed == spec.seed


def test_ofori_reads_the_real_layout_and_one_orbit_on_simulated_data(tmp_path: Path) -> None:
    exp = experiment("ofori2021-table3")
    spec = next(s for s in grid(exp, "full") if s.label == "early")
    real = run_overrides(exp, "full", spec, tmp_path, False)
    assert real.data.format == "pixelset" and real.data.modalities == ["S2", "S1"]
    assert real.data.test_roots == [f"{tmp_path}/s1_data/Brest"]
    simulated = run_overrides(exp, "quick", spec, tmp_path, True, ["train.epochs=3"])
    assert simulated.data.modalities == ["S2", "S1D"] and simulated.train.epochs == 3
    assert simulated.model.fusion == "early" and simulated.data.resample_to == "S2"
    with pytest.raises(ValueError, match="name: 'nope' is not an experiment"):
        experiment("nope")
    with pytest.raises(ValueError, match="k: a PASTIS fold rotation is 1 to 5"):
        pastis_rotation(6)
    assert pastis_rotation(2).overrides[2] == "data.test_folds=[1]"


def test_a_subsequence_of_a_modality_not_read_is_ignored(pastis_r: Path) -> None:
    # seed 000's shared base asks 27 S2 dates of every config, its S1-only one too
    from sitsfusion.data.modules import SITSDataModule

    exp = experiment("ofori2021-table3")
    spec = next(s for s in grid(exp, "quick") if s.label == "s1")
    cfg = run_overrides(exp, "quick", spec, pastis_r, True)
    assert cfg.data.modalities == ["S1D"] and cfg.data.subsequence == {"S2": 27}
    dm = SITSDataModule(cfg.data, target="parcel")
    dm.setup()
    assert set(dm.train[0].modalities) == {"S1D"} and set(dm.test[0].modalities) == {"S1D"}


def test_list_and_one_line_refusals(sitsfusion_main, tmp_path: Path) -> None:
    listed = sitsfusion_main("reproduce", "--list")
    assert listed.code == 0 and all(name in listed.stdout for name in EXPERIMENTS)
    for args, message in [
        (("reproduce", "mars-2030", "--out", tmp_path / "o"), "'mars-2030' is not an experiment"),
        (
            (
                "reproduce",
                "garnot2021-table1",
                "--data",
                tmp_path / "none",
                "--out",
                tmp_path / "o",
            ),
            "--data: ",
        ),
        (
            ("reproduce", "ofori2021-table3", "--data", tmp_path, "--out", tmp_path / "o"),
            "s1_data/Chateaulin not found",
        ),
        (("reproduce", "garnot2021-table1", "--full", "--out", tmp_path / "o"), "needs the real"),
    ]:
        ran = sitsfusion_main(*args)
        text = ran.stdout + ran.stderr
        assert ran.code == 2 and message in text, text
        errors = [line for line in text.splitlines() if line.lower().startswith("error")]
        assert "Traceback" not in text and len(errors) == 1, text  # click's usage + one line
    assert not (tmp_path / "o").exists()  # refused before anything is written


@pytest.mark.slow
def test_tiny_experiment_end_to_end_then_resumed(tmp_path: Path) -> None:
    exp = EXPERIMENTS["garnot2021-table1"]
    tiny = Preset(
        configs=("s2", "late", "late_aux_td"),
        folds=(pastis_rotation(1),),
        seeds=(0,),
        overrides=TINY,
        simulate={"patches": 6, "size": 32, "seed": 2},
        note="tiny test settings",
    )
    exp = dataclasses.replace(exp, presets={**exp.presets, "quick": tiny})
    out = tmp_path / "out"
    table = run_experiment(exp, out)
    assert (out / "data" / ".sitsfusion.json").is_file()  # simulated once, synthetic
    results = pd.read_csv(out / "results.csv")
    assert list(results["config"]) == ["s2", "late", "late_aux_td"] and len(table) == 3
    assert {"experiment", "fold", "seed", "miou", "overall_accuracy"} <= set(results)
    assert results["miou"].between(0, 1).all()
    md = (out / "report.md").read_text()
    assert "SYNTHETIC" in md.splitlines()[2] and "| late_aux_td | 1 |" in md
    assert "0.772" in md  # the paper's late + aux + tdrop mIoU beside ours
    claims = md.split("## The paper's claims")[1]
    assert "late_aux_td > s2 (mIoU)" in claims
    judged = next(line for line in claims.splitlines() if "late_aux_td > s2" in line)
    assert judged.rstrip(" |").endswith(("holds", "does not hold"))
    assert "| not run |" in claims  # s1d, s1a, early ... were not in this grid
    html = (out / "report.html").read_text()
    assert html.index("SYNTHETIC") < html.index("<h1>")
    assert 'src="data:image/png;base64,iVBORw0KGgo' in html  # the PNG, embedded
    assert (out / "figure.png").read_bytes()[:4] == b"\x89PNG"

    checkpoints = sorted(out.glob("runs/*/*/checkpoints/best.ckpt"))
    assert len(checkpoints) == 3
    before = {p: p.stat().st_mtime_ns for p in checkpoints}
    again = run_experiment(exp, out)  # resumed: nothing trained again
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == before
    assert "0 runs trained, 3 read back" in (out / "reproduce.log").read_text()
    pd.testing.assert_frame_equal(again, table)
    shutil.rmtree(out / "runs" / "late")  # a run missing: only it is trained
    run_experiment(exp, out)
    assert "1 runs trained, 2 read back" in (out / "reproduce.log").read_text()
    kept = [p for p in checkpoints if "/late/" not in p.as_posix()]
    assert len(kept) == 2 and all(p.stat().st_mtime_ns == before[p] for p in kept)
    before = {p: p.stat().st_mtime_ns for p in checkpoints}
    with pytest.raises(RunFolderError, match="other settings: choose another --out"):
        run_experiment(exp, out, overrides=["train.lr=0.01"])  # not mixed with other runs
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == before


def _tiny_pastis(name: str, overrides: tuple[str, ...]) -> Experiment:
    """``name`` with a quick preset of tiny settings: its s2 and late_td configs, fold
    rotation 1, one seed, 6 simulated patches of 32 x 32."""
    tiny = Preset(
        configs=("s2", "late_td"),
        folds=(pastis_rotation(1),),
        seeds=(0,),
        overrides=overrides,
        simulate={"patches": 6, "size": 32, "seed": 2},
        note="tiny test settings",
    )
    exp = EXPERIMENTS[name]
    return dataclasses.replace(exp, presets={**exp.presets, "quick": tiny})


@pytest.mark.slow
def test_tiny_semantic_experiment_end_to_end(tmp_path: Path) -> None:
    """garnot2021-table2 (U-TAE semantic segmentation) on tiny settings: its runs train and
    are tested, the paper's numbers are beside ours."""
    exp = _tiny_pastis("garnot2021-table2", (*TINY_UTAE, "model.head=[8]", "train.epochs=1"))
    out = tmp_path / "out"
    results = run_experiment(exp, out)
    assert list(results["config"]) == ["s2", "late_td"]
    assert results["miou"].between(0, 1).all() and results["epochs"].tolist() == [1, 1]
    md = (out / "report.md").read_text()
    assert "0.658" in md and "0.631" in md  # the paper's late_td and S2 mIoU beside ours
    assert "late_td > s2 (mIoU)" in md.split("## The paper's claims")[1]


def test_wenger_quick_preset_shrinks_each_unet_and_simulates_the_split_tiles(
    tmp_path: Path,
) -> None:
    from sitsfusion.simulate.multisenge import SPLIT_TILES

    exp = experiment("wenger2022-table4")
    assert tuple(exp.preset("quick").simulate["tiles"]) == SPLIT_TILES
    runs = {s.label: s for s in grid(exp, "quick")}
    single = run_overrides(exp, "quick", runs["convlstm_s2_10classes"], tmp_path, True)
    both = run_overrides(exp, "quick", runs["convlstm_inception_s1s2_6classes"], tmp_path, True)
    assert single.model.unet_widths == [16, 32, 64, 128, 128]
    assert both.model.encoder["unet_widths"] == [16, 32, 64, 128, 128]
    assert both.model.encoder["use_inception"] is True and both.model.num_classes == 7
    full = run_overrides(exp, "full", runs["convlstm_s2_10classes"], tmp_path, False)
    assert full.model.unet_widths == [64, 128, 256, 512, 512]  # the paper's


@pytest.mark.slow
def test_tiny_multisenge_experiment_end_to_end(tmp_path: Path) -> None:
    """wenger2022-table4 on tiny settings: simulated MultiSenGE on the split tiles, one
    single-sensor and one two-sensor config, kappa and weighted F1 beside the paper's."""
    exp = EXPERIMENTS["wenger2022-table4"]
    tiny_unet = "[8, 8, 8, 8, 8]"
    tiny = Preset(
        configs=("convlstm_s2_10classes", "convlstm_s1s2_10classes"),
        folds=exp.preset("quick").folds,
        seeds=(0,),
        overrides=("train.epochs=1", "data.batch_size=2"),
        simulate={**exp.preset("quick").simulate, "patches": 8, "size": 32},
        note="tiny test settings",
        label_overrides={
            "convlstm_s2_10classes": (
                "model.encoder={name: convlstm, hidden: 4}",
                f"model.unet_widths={tiny_unet}",
            ),
            "convlstm_s1s2_10classes": (
                "model.encoder={name: convlstm_inception, hidden: 4, use_inception: false, "
                f"unet_widths: {tiny_unet}}}",
            ),
        },
    )
    exp = dataclasses.replace(exp, presets={**exp.presets, "quick": tiny})
    out = tmp_path / "out"
    results = run_experiment(exp, out)
    assert list(results["config"]) == ["convlstm_s2_10classes", "convlstm_s1s2_10classes"]
    assert results["kappa"].between(-1, 1).all() and results["weighted_f1"].between(0, 1).all()
    md = (out / "report.md").read_text()
    assert "SYNTHETIC" in md and "MultiSenGE" in md
    assert "0.7482" in md or "0.748" in md  # the paper's S1S2 kappa beside ours


def _panoptic_runs(out: Path) -> pd.DataFrame:
    """Two made-up runs of garnot2021-table3's s2 and one of late_td, with their class-wise
    scores files (not a result): class 'b' never seen by late_td."""
    import json

    nan = float("nan")
    per_run = {
        "runs/s2/fold_1_seed_0": ("s2", [0.5, 0.2], [0.8, 0.6], [0.625, 1 / 3]),
        "runs/s2/fold_1_seed_1": ("s2", [0.3, nan], [0.6, nan], [0.5, nan]),
        "runs/late_td/fold_1_seed_0": ("late_td", [0.6, nan], [0.9, nan], [2 / 3, nan]),
    }
    rows = []
    for run, (label, pq, sq, rq) in per_run.items():
        test = out / run / "test"
        test.mkdir(parents=True)
        scores = {"class_names": ["a", "b"], "PQ_per_class": pq, "SQ_per_class": sq}
        scores["RQ_per_class"] = rq
        (test / "test_panoptic.json").write_text(json.dumps(scores))
        means = {k: float(pd.Series(v).mean()) for k, v in (("PQ", pq), ("SQ", sq), ("RQ", rq))}
        rows.append({"config": label, "fold": "1", "seed": 0, "run": run, **means})
    return pd.DataFrame(rows)


def test_a_panoptic_report_shows_each_class(tmp_path: Path) -> None:
    from sitsfusion.reproduce.report import panoptic_per_class, write_report

    exp = experiment("garnot2021-table3")
    results = _panoptic_runs(tmp_path)
    per_class = panoptic_per_class(results, tmp_path).set_index(["config", "class"])
    assert per_class.loc[("s2", "a"), "PQ"] == pytest.approx(0.4)  # mean of the two runs
    assert per_class.loc[("s2", "b"), "SQ"] == pytest.approx(0.6)  # the run that saw it
    assert per_class.loc[("s2", "a"), "runs"] == 2
    assert pd.isna(per_class.loc[("late_td", "b"), "PQ"])
    md_path, html_path, _ = write_report(exp, results, tmp_path, "sim", True, "quick")
    md = md_path.read_text()
    section = md.split("## Per class")[1]
    assert "| a | 40.0 (70.0 / 56.2) | 60.0 (90.0 / 66.7) |" in section
    assert "| b | 20.0 (60.0 / 33.3) | — |" in section
    assert "0.404" in md  # the paper's S2 PQ beside ours
    assert (tmp_path / "per_class.csv").is_file() and (tmp_path / "per_class.png").is_file()
    assert html_path.read_text().count("data:image/png;base64,") == 2
    assert panoptic_per_class(results.assign(run="elsewhere"), tmp_path) is None


@pytest.mark.slow
def test_tiny_panoptic_experiment_end_to_end(tmp_path: Path) -> None:
    """garnot2021-table3 (U-TAE + PaPs) on tiny settings: PQ / SQ / RQ per run, the paper's
    beside, and the class-wise section of the report."""
    exp = _tiny_pastis(
        "garnot2021-table3",
        (
            *TINY_UTAE,
            "train.epochs=2",
            "train.warmup_epochs=1",
            "train.milestones=[1]",
            "train.val_every=1",
            "train.val_after=0",
        ),
    )
    out = tmp_path / "out"
    results = run_experiment(exp, out)
    assert list(results["config"]) == ["s2", "late_td"]
    for metric in ("PQ", "SQ", "RQ", "miou"):
        assert results[metric].between(0, 1).all(), metric
    md = (out / "report.md").read_text()
    assert "0.404" in md and "0.416" in md  # the paper's S2 and late_td PQ
    assert "## Per class" in md and (out / "per_class.csv").is_file()


def test_sparse_s2_runs_sample_the_papers_numbers_of_observations(tmp_path: Path) -> None:
    """ofori2021-table4: n % of the 27 S2 observations per parcel (5, 11, 16, 22, 27), the
    config of each fusion level; quick runs 20 / 60 / 100 %, full all five."""
    exp = experiment("ofori2021-table4")
    assert len(exp.labels("full")) == 21 and len(exp.labels("quick")) == 13
    runs = {s.label: s for s in grid(exp, "full")}
    expected = {"s2_20": 5, "s2_40": 11, "tae_60": 16, "late_80": 22, "early_100": 27}
    for label, n in expected.items():
        for preset in ("quick", "full") if label.endswith(("_20", "_100")) else ("full",):
            cfg = run_overrides(exp, preset, runs[label], tmp_path, preset == "quick")
            assert cfg.data.subsequence == {"S2": n}, (label, preset)
    early = run_overrides(exp, "quick", runs["early_20"], tmp_path, True)
    assert early.model.fusion == "early" and early.data.resample_to == "S2"
    s1 = run_overrides(exp, "quick", runs["s1"], tmp_path, True)
    assert s1.data.modalities == ["S1D"]  # seed 000's S1 series on the simulated stand-in
    assert exp.published["tae_20"]["macro_f1"] == (0.558, 0.010)


def test_early_season_runs_cut_the_series_at_each_quarter(tmp_path: Path) -> None:
    """ofori2021-fig7: S1, S2 and early fusion on the series cut at the end of each quarter
    from October 2018 (data.until); a figure without printed numbers reports ours alone."""
    from sitsfusion.reproduce.report import write_report

    exp = experiment("ofori2021-fig7")
    assert len(exp.labels("full")) == 15 and not exp.published
    runs = {s.label: s for s in grid(exp, "full")}
    for label, until in (("s1_q1", "2018-12-31"), ("early_q2", "2019-03-31")):
        cfg = run_overrides(exp, "quick", runs[label], tmp_path, True)
        assert cfg.data.until == until
    assert run_overrides(exp, "full", runs["s2_q4"], tmp_path, False).data.until == "2019-09-30"
    rows = [
        {"config": s.label, "fold": "regional", "seed": s.seed, "run": s.folder.as_posix()}
        | {"macro_f1": 0.3 + 0.01 * i, "overall_accuracy": 0.6}
        for i, s in enumerate(grid(exp, "quick"))
    ]
    md_path, _, _ = write_report(exp, pd.DataFrame(rows), tmp_path, "sim", True, "quick")
    md = md_path.read_text()
    assert "early_q5 > s2_q5 (macro F1)" in md and "holds" in md


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "labels"),
    [("ofori2021-fig7", ("s1_q1", "early_q1")), ("ofori2021-table4", ("tae_20",))],
)
def test_tiny_seed_000_variants_end_to_end(name: str, labels: tuple[str, ...], tmp_path: Path):
    """The first quarter alone (data.until) and 20 % of the S2 observations train and test on
    simulated parcels (the CropTypeMapping stand-in)."""
    exp = EXPERIMENTS[name]
    quick = exp.preset("quick")
    tiny = dataclasses.replace(
        quick,
        configs=labels,
        seeds=(0,),
        overrides=TINY,
        simulate={"patches": 6, "size": 32, "seed": 2},
    )
    exp = dataclasses.replace(exp, presets={**exp.presets, "quick": tiny})
    results = run_experiment(exp, tmp_path / "out")
    assert list(results["config"]) == list(labels)
    assert results["macro_f1"].between(0, 1).all()


def test_a_cloud_cover_report_redraws_the_curves(tmp_path: Path) -> None:
    """garnot2021-fig8's report: the score against the share of S2 kept, per config, and
    claims on the scores with S2 removed (made-up runs, not a result)."""
    from sitsfusion.reproduce.report import robustness_table, write_report

    exp = experiment("garnot2021-fig8")
    rows = []
    for spec in grid(exp, "quick"):
        fused = spec.label not in ("s2", "s1d")
        full = 0.7 if spec.label != "s1d" else 0.55
        row = {"config": spec.label, "fold": "1", "seed": spec.seed, "miou": full}
        for pct in (90, 70, 50, 30, 10):
            lost = 0.0 if spec.label == "s1d" else (0.5 if not fused else 0.1) * (1 - pct / 100)
            row[f"miou_kept_{pct}"] = full - lost
        row["miou_drop"] = full - row["miou_kept_10"]
        rows.append(row)
    results = pd.DataFrame(rows)
    table = robustness_table(exp, results)
    assert set(table["kept"]) == {1.0, 0.9, 0.7, 0.5, 0.3, 0.1}
    assert len(table) == 6 * len(results) and "mIoU" in table
    md_path, html_path, _ = write_report(exp, results, tmp_path, "sim", True, "quick")
    md = md_path.read_text()
    assert "## Varying cloud cover" in md and (tmp_path / "robustness.png").is_file()
    line = next(x for x in md.splitlines() if x.startswith("| s1d > s2 (mIoU, 30 % of S2)"))
    assert "| holds |" in line  # 0.55 against 0.7 - 0.35
    assert html_path.read_text().count("data:image/png;base64,") == 2


@pytest.mark.slow
def test_tiny_cloud_cover_experiment_end_to_end_then_read_back(tmp_path: Path) -> None:
    """garnot2021-fig8 on tiny settings: each run is tested again with half and a tenth of
    its S2 observations (a radar model keeps its score); run again, all is read back."""
    exp = EXPERIMENTS["garnot2021-fig8"]
    tiny = Preset(
        configs=("s2", "s1d"),
        folds=(pastis_rotation(1),),
        seeds=(0,),
        overrides=TINY,
        simulate={"patches": 6, "size": 32, "seed": 2},
        note="tiny test settings",
    )
    exp = dataclasses.replace(exp, presets={**exp.presets, "quick": tiny}, robustness=(0.5, 0.1))
    out = tmp_path / "out"
    first = run_experiment(exp, out).set_index("config")
    for label in ("s2", "s1d"):
        drop = first.loc[label, "miou"] - first.loc[label, "miou_kept_10"]
        assert first.loc[label, "miou_drop"] == pytest.approx(drop)
    assert first.loc["s1d", "miou_kept_50"] == first.loc["s1d", "miou"]  # no S2 to remove
    assert (out / "robustness" / "s2" / "fold_1_seed_0" / "robustness.csv").is_file()
    assert not (out / "robustness" / "s1d").exists()
    again = run_experiment(exp, out).set_index("config")
    pd.testing.assert_frame_equal(
        first.drop(columns=["started", "finished"]), again.drop(columns=["started", "finished"])
    )
    assert "finished before, read back" in (out / "reproduce.log").read_text()
