"""The model registry: every encoder registers itself where it is defined, the registry is
complete once ``sitsfusion.models`` is imported, every registered model builds with its
defaults, and a config naming an unknown model gets a one-line error listing the names."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import sitsfusion.models
from sitsfusion.config import ConfigError, ModelConfig
from sitsfusion.data.sample import PaddedSeries
from sitsfusion.models import create_model, list_models, register_model, registry
from sitsfusion.models.builder import build_parcel_model, build_semantic_model

MODELS_DIR = Path(sitsfusion.models.__file__).parent

BUILTIN = {
    "spatial": ["mean", "pse"],
    "temporal": ["lstm", "ltae", "tae", "tempcnn", "transformer"],
    "spatiotemporal": ["convlstm", "convstar", "unet_stack", "utae"],
    "network": ["convlstm_inception"],
}

B, T, H, W, S = 2, 4, 16, 16, 5  # tiny inputs: H, W divisible by U-TAE's 8 and the U-Net's 16
C, F, K = 3, 128, 5  # F = 128: the TAE's defaults take 4 heads x 128 = mlp[0] = 512 channels

# arguments without a default, given the tiniest sensible values
REQUIRED = {
    ("temporal", "tempcnn"): {"max_len": T},
    ("spatiotemporal", "unet_stack"): {"num_dates": T},
}


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A copy of the registry for a test that registers models; restored afterwards."""
    copy = {kind: dict(models) for kind, models in registry._MODELS.items()}
    monkeypatch.setattr(registry, "_MODELS", copy)
    yield


def _series(channels: int, dense: bool = True) -> PaddedSeries:
    g = torch.Generator().manual_seed(0)
    shape = (B, T, channels, H, W) if dense else (B, T, channels, S)
    dates = torch.arange(T).repeat(B, 1) * 10
    return PaddedSeries(torch.randn(*shape, generator=g), dates, torch.zeros(B, T, dtype=bool))


def _fixed(kind: str) -> dict[str, Any]:
    """The builder's keyword arguments for a model of ``kind``."""
    if kind == "network":
        return {
            "s2_channels": C,
            "s1_channels": 2,
            "num_classes": K,
            "s2_name": "S2",
            "s1_name": "S1",
        }
    return {"in_channels": F if kind == "temporal" else C}


def _run(kind: str, model: nn.Module) -> tuple[Tensor, tuple[int, ...]]:
    """The model's output on a tiny input of its kind, and the output shape its kind promises."""
    out_channels = int(model.out_channels)
    if kind == "spatial":
        series = _series(C, dense=False)
        valid = torch.ones(B, T, S, dtype=torch.bool)
        return model(series.values, valid), (B, T, out_channels)
    if kind == "temporal":
        x = torch.randn(B, T, F)
        return model(x, torch.arange(T).repeat(B, 1) * 10, torch.zeros(B, T, dtype=bool)), (
            B,
            out_channels,
        )
    if kind == "spatiotemporal":
        return model(_series(C)), (B, out_channels, H, W)
    return model({"S2": _series(C), "S1": _series(2)}), (B, K, H, W)


def test_the_builtin_models_are_registered_by_kind() -> None:
    assert {kind: list_models(kind) for kind in BUILTIN} == BUILTIN
    assert list_models() == sorted(f"{k}/{n}" for k, names in BUILTIN.items() for n in names)


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, names in BUILTIN.items() for n in names])
def test_every_registered_model_builds_with_its_defaults(kind: str, name: str) -> None:
    model = create_model(kind, name, **_fixed(kind), **REQUIRED.get((kind, name), {}))
    model.eval()
    with torch.no_grad():
        out, expected = _run(kind, model)
    assert tuple(out.shape) == expected
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("kind", "section"),
    [("spatial", "spatial"), ("temporal", "temporal"), ("spatiotemporal", "encoder")],
)
def test_an_unknown_name_is_a_one_line_error_listing_the_names(kind: str, section: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_model(kind, "gur", in_channels=3)
    message = str(info.value)
    assert "\n" not in message
    assert message == f"model.{section}.name: 'gur' is not one of {BUILTIN[kind]}"


def test_a_bad_option_names_the_config_section() -> None:
    with pytest.raises(ConfigError, match=r"^model\.temporal: .*'n_heads'"):
        create_model("temporal", "ltae", in_channels=8, n_heads=2)
    with pytest.raises(ConfigError, match=r"^model\.spatial\.name: None is not one of"):
        create_model("spatial", None, in_channels=8)


def test_the_builder_reports_unknown_names_and_options_of_the_config() -> None:
    channels = {"S2": 10}
    with pytest.raises(ConfigError, match=r"^model\.temporal\.name: 'gur' is not one of \["):
        build_parcel_model(ModelConfig(temporal={"name": "gur"}), channels)
    with pytest.raises(ConfigError, match=r"^model\.spatial: \['in_channels'\] are set by"):
        build_parcel_model(ModelConfig(spatial={"name": "mean", "in_channels": 3}), channels)
    # a whole network is no dense encoder, and a dense encoder no whole network
    with pytest.raises(ConfigError, match=r"^model\.encoder\.name: 'convlstm_inception' is not"):
        build_semantic_model(ModelConfig(encoder={"name": "convlstm_inception"}), channels)
    feature = ModelConfig(fusion="feature", encoder={"name": "utae"})
    with pytest.raises(ConfigError, match=r"\['convlstm_inception'\]"):
        build_semantic_model(feature, {"S2": 10, "S1": 2})


def test_unknown_kinds_and_bad_names_are_refused() -> None:
    with pytest.raises(ValueError, match="kind 'head' is not one of"):
        register_model("head", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind 'head' is not one of"):
        create_model("head", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty string"):
        register_model("temporal", "")


@pytest.mark.usefixtures("scratch_registry")
def test_a_name_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match=r"temporal model 'ltae' is already registered \(sitsf"):

        @register_model("temporal", "ltae")
        class Other(nn.Module):
            pass


@pytest.mark.usefixtures("scratch_registry")
def test_a_user_model_registers_itself_and_the_builder_finds_it() -> None:
    @register_model("temporal", "last_date")
    class LastDate(nn.Module):
        """``x [B, T, F] -> [B, F]``: the features of each sample's last real date."""

        def __init__(self, in_channels: int) -> None:
            super().__init__()
            self.out_channels = in_channels

        def forward(self, x: Tensor, dates: Tensor, pad_mask: Tensor) -> Tensor:
            last = (~pad_mask).sum(dim=1) - 1
            return x[torch.arange(x.shape[0]), last]

    assert "last_date" in list_models("temporal")
    cfg = ModelConfig(
        num_classes=K, spatial={"name": "mean"}, temporal={"name": "last_date"}, decoder=[4]
    )
    model = build_parcel_model(cfg, {"S2": C})
    assert isinstance(model.encoders["S2"].temporal, LastDate)
    model.eval()
    assert model({"S2": _series(C, dense=False)}).logits.shape == (B, K)


def _registering_modules() -> set[str]:
    """Modules of ``sitsfusion.models`` whose source decorates something with register_model."""
    found = set()
    for path in MODELS_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", None) == "register_model"
                for d in node.decorator_list
            ):
                parts = path.relative_to(MODELS_DIR.parents[1]).with_suffix("").parts
                found.add(".".join(parts))
    return found


@pytest.mark.slow
def test_registration_is_complete_whichever_module_is_imported_first() -> None:
    """In a fresh interpreter, importing one leaf module already registers every model."""
    modules = sorted(_registering_modules())
    assert len(modules) == 12
    code = (
        "import importlib, json, sys\n"
        "import sitsfusion.models.temporal.lstm\n"
        "from sitsfusion.models.registry import list_models\n"
        "first = list_models()\n"
        "loaded = [m for m in json.loads(sys.argv[1]) if m in sys.modules]\n"
        "print(json.dumps([first, loaded]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(modules)],
        capture_output=True,
        text=True,
        check=True,
    )
    first, loaded = json.loads(done.stdout)
    assert first == sorted(f"{k}/{n}" for k, names in BUILTIN.items() for n in names)
    assert loaded == modules
