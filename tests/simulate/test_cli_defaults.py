"""``sitsfusion simulate``: defaults per format, checked options, and the MultiSenGE default
output training every ``configs/wenger2022`` run end to end (synthetic data)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from paths import CONFIGS
from sitsfusion.cli import cli
from sitsfusion.simulate import formats
from sitsfusion.simulate.multisenge import SPLIT_TILES

WENGER = sorted((CONFIGS / "wenger2022").glob("*.yaml"))


def _simulate(*args: str) -> Any:
    return CliRunner().invoke(cli, ["simulate", *args])


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace every format's writer by a recorder of its arguments (nothing is written)."""
    seen: list[dict[str, Any]] = []

    def record(out: Path, **kwargs: Any) -> None:
        seen.append({"out": out, **kwargs})

    fake = {k: dataclasses.replace(v, writer=record) for k, v in formats.FORMATS.items()}
    monkeypatch.setattr("sitsfusion.cli.simulate.FORMATS", fake)
    return seen


def test_help_shows_the_defaults_of_every_format() -> None:
    result = _simulate("--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for words in (
        "pastis-r: 128 (a multiple of 8)",
        "sen4agrinet: 366 (a multiple of 366)",
        "multisenge: 256 (>= 16)",
        "pastis-r: west; sen4agrinet: catalonia",
        "sen4agrinet: catalonia|france",
        ",".join(SPLIT_TILES),
        "--subpatch",
    ):
        assert words in text, words


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("pastis-r", {"size": 128, "region": "west", "year": 2019, "progress": True}),
        ("sen4agrinet", {"size": 366, "region": "catalonia", "year": 2019, "progress": True}),
        ("multisenge", {"size": 256, "tiles": SPLIT_TILES}),
    ],
)
def test_defaults_per_format(calls: list, tmp_path: Path, fmt: str, expected: dict) -> None:
    result = _simulate("--format", fmt, "--out", str(tmp_path / "x"))
    assert result.exit_code == 0, result.output
    assert calls == [{"out": tmp_path / "x", "patches": 20, "seed": 0, **expected}]
    assert "synthetic" in result.output and "note:" not in result.output


def test_given_values_reach_the_writer(calls: list, tmp_path: Path) -> None:
    args = ["--out", str(tmp_path / "x"), "--patches", "3", "--seed", "4"]
    result = _simulate(
        *args,
        "--format",
        "sen4agrinet",
        "--region",
        "France",
        "--year",
        "2020",
        "--size",
        "24",
        "--subpatch",
        "12",
        "--cloud-cover",
        "0",
    )
    assert result.exit_code == 0, result.output
    result = _simulate(*args, "--format", "multisenge", "--size", "16", "--tiles", "T31UFQ,31ufp")
    assert result.exit_code == 0, result.output
    assert "no patch falls in the test tiles" in " ".join(result.output.split())
    result = _simulate(*args, "--region", "Morlaix")
    assert "hash of the name" in " ".join(result.output.split())
    assert calls == [
        {
            "out": tmp_path / "x",
            "patches": 3,
            "seed": 4,
            "size": 24,
            "region": "france",
            "year": 2020,
            "cloud_cover": 0.0,
            "progress": True,
        },
        {"out": tmp_path / "x", "patches": 3, "seed": 4, "size": 16, "tiles": ("31UFQ", "31UFP")},
        {
            "out": tmp_path / "x",
            "patches": 3,
            "seed": 4,
            "size": 128,
            "region": "Morlaix",
            "year": 2019,
            "progress": True,
        },
    ]


@pytest.mark.parametrize(
    ("args", "option", "words"),
    [
        (["--format", "sen4agrinet", "--size", "120"], "--size", "multiple of 366"),
        (["--format", "sen4agrinet", "--size", "122"], "--size", "61 x 61 sub-patches"),
        (["--format", "sen4agrinet", "--region", "west"], "--region", "valid: catalonia, france"),
        (["--format", "pastis-r", "--size", "100"], "--size", "multiple of 8"),
        (["--format", "multisenge", "--size", "8"], "--size", ">= 16"),
        (["--format", "multisenge", "--year", "2019"], "--year", "one year only"),
        (["--format", "multisenge", "--tiles", "31UFQ,bad"], "--tiles", "tile names"),
        (["--format", "pastis-r", "--subpatch", "61"], "--subpatch", "no sub-patches"),
        (["--patches", "0"], "--patches", ">= 1"),
    ],
)
def test_bad_options_are_one_line_errors(
    calls: list, tmp_path: Path, args: list[str], option: str, words: str
) -> None:
    result = _simulate("--out", str(tmp_path / "x"), *args)
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"Invalid value for '{option}'" in text and words in text, text
    assert "Traceback" not in text and not calls and not (tmp_path / "x").exists()


# ------------------------------------------------------- MultiSenGE: default output trains


@pytest.fixture(scope="module")
def default_msg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sitsfusion simulate --format multisenge`` with its defaults, tiny: 4 patches, 16 px."""
    pytest.importorskip("rasterio")
    out = tmp_path_factory.mktemp("msg_cli") / "MultiSenGE"
    result = _simulate(
        "--format", "multisenge", "--out", str(out), "--size", "16", "--patches", "4"
    )
    assert result.exit_code == 0, result.output
    assert "note:" not in result.output
    return out


def test_default_tiles_give_every_split_a_patch(default_msg: Path) -> None:
    from sitsfusion.data.readers.multisenge import parse_patch_id, tile_split

    ids = [p.stem for p in (default_msg / "labels").glob("*.json")]
    assert sorted(parse_patch_id(i)[0] for i in ids) == sorted(SPLIT_TILES)
    split = tile_split(ids)  # the paper's tiles, as the configs use them
    assert [len(split[k]) for k in ("train", "val", "test", "unused")] == [2, 1, 1, 0]
    assert all(json.loads(p.read_text())["synthetic"] for p in (default_msg / "labels").iterdir())


@pytest.mark.parametrize("config", WENGER, ids=lambda p: p.stem)
def test_every_wenger2022_config_loads_the_default_output(default_msg: Path, config: Path) -> None:
    from sitsfusion.config import load_config
    from sitsfusion.training import datamodule

    cfg = load_config(config, [f"data.root={default_msg}"])  # the paper's tile split
    dm = datamodule(cfg)
    dm.setup()
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        batch = next(iter(loader))
        assert batch.semantic.shape[-2:] == (16, 16)


@pytest.mark.parametrize("name", ["convlstm_s1_6classes", "convlstm_inception_s1s2_10classes"])
def test_wenger2022_fits_from_the_cli_on_the_default_output(
    default_msg: Path, tmp_path: Path, name: str
) -> None:
    encoder = (
        "{name: convlstm_inception, hidden: 4, inception_branches: [4, 4, 4],"
        " unet_widths: [8, 8, 8, 8, 8], use_inception: true}"
        if "s1s2" in name
        else "{name: convlstm, hidden: 4}"
    )
    sets = [f"data.root={default_msg}", "train.epochs=1", f"model.encoder={encoder}"]
    sets += ["model.unet_widths=[8, 8, 8, 8, 8]"]
    args = ["fit", "--config", str(CONFIGS / "wenger2022" / f"{name}.yaml")]
    args += ["--out", str(tmp_path / "run")]
    for item in sets:
        args += ["--set", item]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "synthetic" in result.output
    assert (tmp_path / "run" / "test" / "test_metrics.json").is_file()
