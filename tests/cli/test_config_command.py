"""``sitsfusion config show / keys / docs`` and several ``--config`` through the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from paths import CONFIGS
from sitsfusion.cli import cli
from sitsfusion.config import ConfigError, load_config
from sitsfusion.config_docs import markdown_page

LATE_AUX_TD = CONFIGS / "garnot2021" / "parcel" / "late_aux_td.yaml"


def test_show_prints_the_resolved_config_with_its_sources(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["config", "show", str(LATE_AUX_TD), "--set", "train.epochs=2"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    for base in ("garnot2021/base.yaml", "garnot2021/parcel/base.yaml"):
        assert f"#   {CONFIGS / base}" in out  # the files, in merge order
    assert out.index("garnot2021/base.yaml") < out.index("parcel/base.yaml") < out.index("late_aux")
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if ": " in line}
    assert lines["fusion"].endswith(f"# {LATE_AUX_TD}")
    assert lines["batch_size"].endswith(f"# {CONFIGS / 'garnot2021/parcel/base.yaml'}")
    assert lines["epochs"].endswith("# --set train.epochs=2")
    assert "#" not in lines["num_workers"]  # a default
    # the output is itself a config resolving to the same values
    copy = tmp_path / "resolved.yaml"
    copy.write_text(out)
    assert load_config(copy) == load_config(LATE_AUX_TD, ["train.epochs=2"])


def test_show_merges_several_files_and_prints_errors_as_config_errors(tmp_path: Path) -> None:
    overlay = tmp_path / "short.yaml"
    overlay.write_text("train:\n  epochs: 1\n  accelerator: cpu\n")
    result = CliRunner().invoke(cli, ["config", "show", str(LATE_AUX_TD), str(overlay)])
    assert result.exit_code == 0, result.output
    resolved = tmp_path / "resolved.yaml"
    resolved.write_text(result.output)
    cfg = load_config(resolved)
    assert (cfg.name, cfg.train.epochs, cfg.train.accelerator) == (
        "garnot2021_parcel_late_aux_td",
        1,
        "cpu",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: short.yaml\ntrain:\n  epoch: 3\n")
    result = CliRunner().invoke(cli, ["config", "show", str(bad)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "bad.yaml: train: unknown key(s) ['epoch']; did you mean 'epochs'?" in str(
        result.exception
    )


def test_training_commands_take_several_configs(tmp_path: Path) -> None:
    """``params --config s2.yaml --config OVERLAY``: the overlay turns S2-only into late fusion
    (seed 001's late fusion: 334,930 parameters, as configs/garnot2021/parcel/late.yaml)."""
    overlay = tmp_path / "late.yaml"
    overlay.write_text("data:\n  modalities: [S2, S1A, S1D]\nmodel:\n  fusion: late\n")
    s2 = CONFIGS / "garnot2021" / "parcel" / "s2.yaml"
    args = ["params", "--config", str(s2), "--config", str(overlay)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "334,930" in result.output
    result = CliRunner().invoke(cli, ["params", "--config", str(s2)])
    assert "334,930" not in result.output


def test_keys_lists_every_key_with_type_default_and_source() -> None:
    result = CliRunner().invoke(cli, ["config", "keys"])
    assert result.exit_code == 0, result.output
    for line in (
        "train.devices: int or str = 1",
        "train.accelerator: str = auto",
        "train.limit_train_batches: float or int = 1.0",
        "data.normalize: auto / none / zscore = auto",
        "train.out_dir: str = runs",
    ):
        assert line in result.output
    assert "seed 001, Sec. 4.2: batches of 128 parcels" in result.output
    result = CliRunner().invoke(cli, ["config", "keys", "model"])
    assert "model.fusion" in result.output and "train.lr" not in result.output


def test_docs_writes_the_page_and_never_overwrites_another_file(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "configuration.md"
    result = CliRunner().invoke(cli, ["config", "docs", "--out", str(page)])
    assert result.exit_code == 0, result.output
    assert page.read_text() == markdown_page()
    result = CliRunner().invoke(cli, ["config", "docs", "--out", str(page)])  # its own: replaced
    assert result.exit_code == 0, result.output
    mine = tmp_path / "notes.md"
    mine.write_text("my notes\n")
    result = CliRunner().invoke(cli, ["config", "docs", "--out", str(mine)])
    assert result.exit_code != 0 and "not overwritten" in result.output
    assert mine.read_text() == "my notes\n"
