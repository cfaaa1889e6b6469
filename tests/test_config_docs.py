"""docs/configuration.md is generated from the config dataclasses and kept up to date."""

from __future__ import annotations

import dataclasses

from paths import REPO
from sitsfusion.config import DataConfig, ModelConfig, TrainConfig
from sitsfusion.config_docs import DOCS_COMMAND, field_docstrings, key_reference, markdown_page


def test_configuration_page_is_up_to_date() -> None:
    page = REPO / "docs" / "configuration.md"
    assert page.is_file(), f"docs/configuration.md is missing: run `{DOCS_COMMAND}`"
    assert page.read_text(encoding="utf-8") == markdown_page(), (
        f"docs/configuration.md is stale: run `{DOCS_COMMAND}`"
    )


def test_every_key_is_documented_with_its_default() -> None:
    for cls in (DataConfig, ModelConfig, TrainConfig):
        documented = field_docstrings(cls)
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in documented]
        assert not missing, f"{cls.__name__}: fields without a docstring below them: {missing}"
    keys = {k.key: k for k in key_reference()}
    assert len(keys) == 3 + sum(
        len(dataclasses.fields(c)) for c in (DataConfig, ModelConfig, TrainConfig)
    )
    assert keys["data.batch_size"].default == "128"
    assert keys["model.spatial"].default == "{name: pse, mlp1: [32, 64], mlp2: [128]}"
    assert keys["data.resample_to"].type == "str or null"
    assert "seed 001, Sec. 4.2" in keys["data.batch_size"].doc
    assert keys["train.out_dir"].doc.endswith("run folders are ``<out_dir>/<task>/<name>``.")
    page = markdown_page()
    for key in keys:
        assert f"| `{key}` |" in page
