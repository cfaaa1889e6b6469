"""Run folders and the provenance of their reports.

A **run folder** is what ``sitsfusion fit`` writes: by default ``<train.out_dir>/<task>/<name>``,
holding ``run.json`` (the resolved config, the sitsfusion version, when it started and ended,
the best checkpoint), ``checkpoints/best.ckpt``, Lightning's ``metrics.csv`` and the test
report in ``test/``. ``sitsfusion test`` and ``validate`` write into the run folder of the
checkpoint they score (``<run>/test/``, ``<run>/val/``) unless told otherwise.

A **report** is the set of ``<split>_*`` files of one split in one folder (``test_metrics.json``,
``val_per_class.csv``, ...) plus ``<split>_report.json``, its stamp: which checkpoint (path and
SHA-256) and which resolved config produced it. A folder never receives the report of another
checkpoint or config over an existing one (:func:`check_report_folder`; only the config
keys that decide the scores are compared, :data:`SCORED_KEYS`); the same checkpoint scored
again with the same config replaces its own report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sitsfusion.errors import DatasetError
from sitsfusion.io import read_json, write_json_atomic

__all__ = [
    "RESUME_FREE_KEYS",
    "RUN_FILE",
    "SCORED_KEYS",
    "ReportStamp",
    "RunFolderError",
    "check_report_folder",
    "config_differences",
    "file_sha256",
    "finished_report",
    "is_run_folder",
    "resume_differences",
    "run_folder",
    "run_folder_of",
    "write_report_stamp",
    "write_run_file",
]

RUN_FILE = "run.json"
"""The file that marks a folder as a run folder written by :func:`sitsfusion.training.fit`."""


class RunFolderError(ValueError):
    """A checkpoint outside a run folder, or a report folder holding another run's report."""


def run_folder(cfg: Any) -> Path:
    """The default run folder of an :class:`~sitsfusion.config.ExperimentConfig`:
    ``<train.out_dir>/<task>/<name>``."""
    return Path(cfg.train.out_dir) / cfg.task / cfg.name


def is_run_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds the ``run.json`` that ``fit`` writes (a task and a config;
    not, say, the ``run.json`` of an experiment's settings)."""
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        return False
    try:
        record = read_json(path)
    except DatasetError:
        return False
    return isinstance(record, dict) and "task" in record and isinstance(record.get("config"), dict)


def run_folder_of(checkpoint: str | Path) -> Path:
    """The run folder holding ``checkpoint`` (``<run>/checkpoints/<file>.ckpt`` beside
    ``<run>/run.json``).

    Raises:
        RunFolderError: the checkpoint is elsewhere (e.g. a copied ``best.ckpt``).
    """
    checkpoint = Path(checkpoint)
    run = checkpoint.parent.parent
    if checkpoint.parent.name != "checkpoints" or not is_run_folder(run):
        raise RunFolderError(
            f"{checkpoint}: not inside a run folder written by sitsfusion fit "
            f"(<run>/checkpoints/*.ckpt beside <run>/{RUN_FILE}); pass --out DIR for its report"
        )
    return run


def write_run_file(folder: str | Path, cfg: Any, **fields: Any) -> Path:
    """Write (or rewrite) ``<folder>/run.json``: the resolved config, the sitsfusion version
    and ``fields`` (e.g. ``started``, ``finished``, ``checkpoint``), atomically."""
    from sitsfusion import __version__

    record = {"name": cfg.name, "task": cfg.task, "sitsfusion": __version__, **fields}
    record["config"] = cfg.to_dict()
    return write_json_atomic(Path(folder) / RUN_FILE, record, indent=2)


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


SCORED_KEYS: dict[str, tuple[str, ...] | None] = {"task": None, "data": None, "train": ("seed",)}
"""The config keys that decide a checkpoint's scores (None: the whole section). The model
comes from the checkpoint itself (its architecture is checked against the config), and the
rest of ``train`` (epochs, lr, where outputs go, ...) changed how it was trained, not how it
scores; ``train.seed`` seeds the evaluation's pixel draws and sub-sequences."""
UNSCORED_DATA_KEYS = ("batch_size", "num_workers", "cache", "temporal_dropout", "augment")
"""``data`` keys that leave the evaluated samples unchanged (loading, training-only
transforms)."""


def _canonical(tree: Any) -> str:
    return json.dumps(tree, sort_keys=True, default=str)


def _scored(config: Any) -> Any:
    """The part of ``config`` that decides a checkpoint's scores (:data:`SCORED_KEYS`), a
    copy."""
    if not isinstance(config, Mapping):
        return config
    tree = json.loads(_canonical(config))
    kept: dict[str, Any] = {}
    for section, keys in SCORED_KEYS.items():
        if section not in tree:
            continue
        value = tree[section]
        if keys is not None and isinstance(value, dict):
            value = {k: value[k] for k in keys if k in value}
        kept[section] = value
    if isinstance(kept.get("data"), dict):
        for key in UNSCORED_DATA_KEYS:
            kept["data"].pop(key, None)
    return kept


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, Mapping) or not tree:
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat |= _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat


RESUME_FREE_KEYS = (
    "data.num_workers",
    "data.cache",
    "train.out_dir",
    "train.accelerator",
    "train.devices",
)
"""Config keys that ``fit --resume`` lets differ from the interrupted run's: where the data
loads and the run runs, not what is trained."""


def resume_differences(stored: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """The dotted keys whose values differ between a run's stored config and ``config``,
    except :data:`RESUME_FREE_KEYS`: a run continues only with the config it started with."""
    fa = _flatten(json.loads(_canonical(stored)))
    fb = _flatten(json.loads(_canonical(config)))
    keys = fa.keys() | fb.keys()
    return sorted(k for k in keys if fa.get(k) != fb.get(k) and k not in RESUME_FREE_KEYS)


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The dotted keys (``data.root``) whose values differ between two config dicts, among
    those that decide a checkpoint's scores (:data:`SCORED_KEYS`)."""
    fa, fb = _flatten(_scored(a)), _flatten(_scored(b))
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k))


@dataclass(frozen=True)
class ReportStamp:
    """Who produced a report: the split, the checkpoint (path, SHA-256) and the resolved config."""

    split: str
    checkpoint: str
    checkpoint_sha256: str
    config: dict[str, Any]

    @classmethod
    def of(cls, split: str, checkpoint: str | Path, config: Mapping[str, Any]) -> ReportStamp:
        path = Path(checkpoint)
        return cls(split, str(path.resolve()), file_sha256(path), dict(config))

    @property
    def file_name(self) -> str:
        return f"{self.split}_report.json"

    def same_source(self, other: Mapping[str, Any]) -> bool:
        """True when the stamp dict ``other`` names the same checkpoint bytes and the same
        config keys that decide the scores (:data:`SCORED_KEYS`)."""
        return other.get("checkpoint_sha256") == self.checkpoint_sha256 and _canonical(
            _scored(other.get("config"))
        ) == _canonical(_scored(self.config))


def check_report_folder(folder: str | Path, stamp: ReportStamp) -> None:
    """Refuse to write ``stamp``'s report into ``folder`` over the report of another checkpoint
    or config (or over ``<split>_*`` files sitsfusion did not stamp). No report there, or one
    of the same checkpoint and config: nothing to say.

    Raises:
        RunFolderError: one line naming the folder, what it holds and what to do.
    """
    folder = Path(folder)
    path = folder / stamp.file_name
    hint = "pass --out DIR to write this report elsewhere"
    if not path.is_file():
        strays = sorted(p.name for p in folder.glob(f"{stamp.split}_*") if p.is_file())
        if strays:
            raise RunFolderError(
                f"{folder}: holds {stamp.split} report files without {stamp.file_name} "
                f"({', '.join(strays[:3])}); not writing over them; {hint}"
            )
        return
    try:
        old = read_json(path)
    except DatasetError as exc:
        raise RunFolderError(f"{exc}; not writing over its report; {hint}") from None
    if not isinstance(old, dict):
        raise RunFolderError(f"{path}: not a report stamp; not writing over its report; {hint}")
    if stamp.same_source(old):
        return
    if old.get("checkpoint_sha256") != stamp.checkpoint_sha256:
        raise RunFolderError(
            f"{folder}: holds the {stamp.split} report of another checkpoint "
            f"({old.get('checkpoint')}); {hint}"
        )
    keys = config_differences(old.get("config") or {}, stamp.config)
    raise RunFolderError(
        f"{folder}: holds the {stamp.split} report of this checkpoint with another config "
        f"(differs in {', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}); {hint}"
    )


def finished_report(folder: str | Path, stamp: ReportStamp) -> dict[str, Any] | None:
    """The scores (``<split>_metrics.json``) of a complete report of ``stamp``'s source in
    ``folder`` (its stamp says ``complete``: it is written before the report's files and again
    after them) or None: multi-run commands skip what is already scored."""
    folder = Path(folder)
    path, metrics = folder / stamp.file_name, folder / f"{stamp.split}_metrics.json"
    if not path.is_file() or not metrics.is_file():
        return None
    try:
        old, scores = read_json(path), read_json(metrics)
    except DatasetError:
        return None
    if not isinstance(old, dict) or not stamp.same_source(old) or not isinstance(scores, dict):
        return None
    if not old.get("complete", True):  # stamped before its files, then again when complete
        return None
    return scores


def write_report_stamp(
    folder: str | Path, stamp: ReportStamp, files: Iterable[str | Path], **fields: Any
) -> Path:
    """Write ``<folder>/<split>_report.json`` (the stamp, the report's files, the sitsfusion
    version, the time and ``fields`` such as the title) and remove the files an earlier report
    of the same source listed but this one did not write."""
    from sitsfusion import __version__

    folder = Path(folder)
    names = sorted({Path(f).name for f in files})
    path = folder / stamp.file_name
    if path.is_file():
        old = read_json(path)
        for stale in {Path(f).name for f in old.get("files", [])} - set(names):
            if stale.startswith(f"{stamp.split}_"):  # only what a report of this split wrote
                (folder / stale).unlink(missing_ok=True)
    record = {
        "split": stamp.split,
        "checkpoint": stamp.checkpoint,
        "checkpoint_sha256": stamp.checkpoint_sha256,
        "written": now(),
        "sitsfusion": __version__,
        **fields,
        "files": names,
        "config": stamp.config,
    }
    return write_json_atomic(path, record, indent=2)
