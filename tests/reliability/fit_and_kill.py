"""``fit`` a tiny parcel model that kills its own process with SIGKILL when training reaches
(epoch, batch) — a real kill, no clean-up runs. Used by test_resume.py as a subprocess:

    python fit_and_kill.py CONFIG ROOT OUT EPOCH BATCH [KEY=VALUE ...]
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from lightning.pytorch.callbacks import Callback

from sitsfusion.config import load_config
from sitsfusion.training import fit


class KillAt(Callback):
    """SIGKILL this process before training batch ``batch`` of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_train_batch_start(self, trainer: Any, module: Any, batch: Any, idx: int) -> None:
        if trainer.current_epoch == self.epoch and idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    config, root, out, epoch, batch, *sets = sys.argv[1:]
    cfg = load_config(config, [*sets, f"data.root={root}"])
    fit(cfg, out, callbacks=[KillAt(int(epoch), int(batch))])
    sys.exit(3)  # not killed: the test fails on this code
