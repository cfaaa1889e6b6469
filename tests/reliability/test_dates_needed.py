"""Series that do not fit the model are refused before training, from the metadata alone
(:func:`sitsfusion.config_checks.check_dates`): more dates than TempCNN's ``max_len``, other
than the ``num_dates`` a ``unet_stack`` stacks, a patch without dates; fewer dates than
``data.subsequence`` is a warning with the count. On the session's simulated (synthetic)
PASTIS-R (6 patches: 49-51 S2 dates, 68 S1A dates), copied before any change."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from paths import CONFIGS
from sitsfusion.config import load_config
from sitsfusion.config_checks import check_dates
from sitsfusion.errors import DatasetError, DataWarning

PARCEL = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"
SEMANTIC = CONFIGS / "garnot2021" / "semantic" / "s2.yaml"
TEMPCNN = "model.temporal={name: tempcnn, max_len: %d, kernels: [8], kernel_size: 3, hidden: 8}"
UNET_STACK = "model.encoder={name: unet_stack, num_dates: 6, widths: [8, 16]}"


def _config(path: Path, root: Path, *overrides: str):
    return load_config(path, [f"data.root={root}", *overrides])


def test_more_dates_than_tempcnn_takes_is_refused_naming_patches_and_key(pastis_r: Path) -> None:
    cfg = _config(PARCEL, pastis_r, TEMPCNN % 40)
    with pytest.raises(DatasetError) as info:
        check_dates(cfg)
    message = str(info.value)
    assert message.startswith(f"{pastis_r / 'metadata.geojson'}: 6 patch(es) (10000, ")
    assert "give TempCNN up to 51 S2 dates, more than model.temporal.max_len = 40" in message
    assert "raise model.temporal.max_len to 51 or set data.subsequence: {S2: 40}" in message
    assert "\n" not in message


def test_a_subsequence_or_monthly_medians_make_the_series_fit(pastis_r: Path) -> None:
    check_dates(_config(PARCEL, pastis_r, TEMPCNN % 40, "data.subsequence={S2: 40}"))
    check_dates(_config(PARCEL, pastis_r, TEMPCNN % 6, "data.months=[4, 5, 6, 7, 8, 9]"))
    check_dates(_config(PARCEL, pastis_r, TEMPCNN % 51))  # at most max_len: padded


def test_resampling_gives_every_modality_the_reference_dates(pastis_r: Path) -> None:
    both = ["data.modalities=[S2, S1A]", "model.fusion=early", "data.resample_to=S2"]
    check_dates(_config(PARCEL, pastis_r, TEMPCNN % 51, *both))  # S1A: 68 -> S2's dates
    with pytest.raises(DatasetError, match="up to 68 S1A dates"):
        check_dates(_config(PARCEL, pastis_r, TEMPCNN % 51, *both[:2], "model.fusion=late"))


def test_unet_stack_needs_exactly_its_number_of_dates(pastis_r: Path) -> None:
    with pytest.raises(DatasetError) as info:
        check_dates(_config(SEMANTIC, pastis_r, UNET_STACK))
    assert "give 49/50/51 S2 dates; the unet_stack encoder stacks exactly " in str(info.value)
    assert "model.encoder.num_dates = 6: set data.months to 6 months" in str(info.value)
    check_dates(_config(SEMANTIC, pastis_r, UNET_STACK, "data.months=[4, 5, 6, 7, 8, 9]"))


def test_fewer_dates_than_the_subsequence_is_a_warning_with_the_count(pastis_r: Path) -> None:
    with pytest.warns(DataWarning) as caught:
        check_dates(_config(PARCEL, pastis_r, "data.subsequence={S2: 50}"))
    (warning,) = caught
    assert str(warning.message).startswith(f"{pastis_r / 'metadata.geojson'}: 2 patch(es) (")
    assert "fewer S2 dates than data.subsequence.S2 = 50 (fewest: 49)" in str(warning.message)


def test_only_the_configured_folds_are_read(pastis_r: Path) -> None:
    # without fold 1 (patches 10002 and 10004), the 4 other patches are named
    folds = ["data.train_folds=[2, 3]", "data.val_folds=[4]", "data.test_folds=[5]"]
    with pytest.raises(DatasetError, match=r": 4 patch\(es\) \("):
        check_dates(_config(PARCEL, pastis_r, TEMPCNN % 40, *folds))


def test_other_formats_and_a_missing_dataset_are_left_to_the_readers(tmp_path: Path) -> None:
    check_dates(_config(PARCEL, tmp_path / "absent", TEMPCNN % 1))
    check_dates(load_config(PARCEL, ["data.format=pixelset", f"data.root={tmp_path}"]))


def _without_dates(pastis_r: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(pastis_r, root)
    meta = json.loads((root / "metadata.geojson").read_text())
    meta["features"][0]["properties"]["dates-S2"] = {}
    (root / "metadata.geojson").write_text(json.dumps(meta))
    return root


@pytest.mark.parametrize("case", ["tempcnn max_len", "a patch without dates"])
def test_fit_refuses_in_one_line_before_writing_anything(
    case: str, pastis_r: Path, tmp_path: Path, sitsfusion_main: Callable
) -> None:
    if case == "tempcnn max_len":
        root, extra, words = pastis_r, ["--set", TEMPCNN % 40], "model.temporal.max_len = 40"
    else:
        root, extra, words = _without_dates(pastis_r, tmp_path), [], "dates-S2 is empty"
    out = tmp_path / "run"
    ran = sitsfusion_main(
        "fit", "--config", PARCEL, "--set", f"data.root={root}", *extra, "--out", out
    )
    output = ran.stdout + ran.stderr
    lines = [line for line in output.splitlines() if line.strip()]
    assert ran.code == 2 and "Traceback" not in output, output
    assert len(lines) == 1 and lines[0].startswith(f"error: {root / 'metadata.geojson'}: ")
    assert words in lines[0], output
    assert not out.exists()
