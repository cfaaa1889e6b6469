"""Command-line options out of range are refused by the option parser, naming the option,
before any folder is made; a command refused after it made its output folder (a bad config
value, a modality the dataset lacks) leaves no folder behind. On copies of the session's
simulated (synthetic) PASTIS-R."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from paths import CONFIGS

PARCEL = str(CONFIGS / "garnot2021" / "parcel" / "s2.yaml")
ROOT = "{root}"  # an empty folder: the option is refused before any data is read

OPTIONS = {
    "simulate --seed -1": (["simulate", "--seed", "-1"], "--seed"),
    "simulate --patches 0": (["simulate", "--patches", "0"], "--patches"),
    "demo --seed -1": (["demo", "--seed", "-1"], "--seed"),
    "demo --epochs -1": (["demo", "--epochs", "-1"], "--epochs"),
    "demo --patches 0": (["demo", "--patches", "0"], "--patches"),
    "real-pixelset --threads 0": (
        ["experiment", "real-pixelset", "--root", ROOT, "--threads", "0"],
        "--threads",
    ),
    "real-pixelset --seeds 0,-1": (
        ["experiment", "real-pixelset", "--root", ROOT, "--seeds", "0,-1"],
        "--seeds",
    ),
    "real-pixelset --epochs 0": (
        ["experiment", "real-pixelset", "--root", ROOT, "--epochs", "0"],
        "--epochs",
    ),
    "real-sequences --trees 0": (
        [
            "experiment",
            "real-sequences",
            "--dataset",
            "rondonia",
            "--root",
            ROOT,
            "--trees",
            "0",
        ],
        "--trees",
    ),
    "real-sequences --repetitions -1": (
        [
            "experiment",
            "real-sequences",
            "--dataset",
            "rondonia",
            "--root",
            ROOT,
            "--repetitions",
            "-1",
        ],
        "--repetitions",
    ),
    "robustness --seeds -1": (
        ["robustness", "--config", PARCEL, "--ckpt", "{ckpt}", "--seeds", "-1"],
        "--seeds",
    ),
}


@pytest.mark.parametrize("case", list(OPTIONS))
def test_an_option_out_of_range_is_refused_naming_it(
    case: str, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    args, option = OPTIONS[case]
    ckpt = tmp_path / "best.ckpt"
    ckpt.write_bytes(b"never read")
    out = tmp_path / "out"
    (tmp_path / "root").mkdir()
    given = [a.replace("{ckpt}", str(ckpt)).replace(ROOT, str(tmp_path / "root")) for a in args]
    ran = sitsfusion_main(*given, "--out", str(out))
    assert ran.code == 2
    text = ran.stdout + ran.stderr
    assert f"Invalid value for '{option}'" in text and "Traceback" not in text
    assert not out.exists()


@pytest.mark.parametrize(
    "sets",
    [["data.modalities=[S9]"], ["data.test_folds=[2]"]],
    ids=["a modality the dataset lacks", "test fold also a training fold"],
)
def test_a_refused_fit_leaves_no_folder_behind(
    sets: list[str], pastis_r: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    out = tmp_path / "runs" / "r1"
    args = ["fit", "--config", PARCEL, "--out", str(out), "--set", f"data.root={pastis_r}"]
    for item in sets:
        args += ["--set", item]
    ran = sitsfusion_main(*args)
    assert ran.code == 2 and len(ran.stdout.strip().splitlines()) == 1, ran.stdout
    assert not out.exists()
