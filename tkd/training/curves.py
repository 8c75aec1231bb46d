"""Training curves while a run trains: TensorBoard event files in the run's directory, so that
``tensorboard --logdir results/`` shows every run of a grid live, each under its own path
(dataset/arch/method/seed/generation). An optional extra (``pip install 'tkd[tensorboard]'``,
``execution.tensorboard: true``): the trainer imports it only when asked.

Per epoch (the step is the epoch, from 1): the loss and its named terms, train top-1, test top-1
and top-5 where evaluated, the learning rate and images/s. A resumed run purges what an earlier
attempt logged from the epoch it resumes at, so its curves continue without duplicates.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..errors import SpecError

__all__ = ["Curves", "FOLDER"]

FOLDER = "tensorboard"  # inside the run directory


class Curves:
    def __init__(self, out_dir: str | Path, done_epochs: int, spec_text: str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SpecError("tensorboard=true needs the tensorboard package: pip install 'tkd[tensorboard]' "
                            "(or set execution.tensorboard: false)") from None
        # purge_step: events an earlier attempt wrote at or after the first epoch to come are dropped
        self.writer = SummaryWriter(log_dir=str(Path(out_dir) / FOLDER), purge_step=done_epochs + 1)
        if done_epochs == 0:
            self.writer.add_text("spec", f"```\n{spec_text}\n```", 0)

    def log(self, row: dict) -> None:
        """One epoch's row of history.csv."""
        step = int(row["epoch"])
        for key, value in row.items():
            if key == "epoch" or value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            tag = {"lr": "lr", "images_per_s": "speed/images_per_s", "seconds": "speed/epoch_seconds"}.get(key)
            if tag is None:
                split, _, name = key.partition("_")  # train_loss -> train/loss, loss_ce -> loss/ce, test_top1 -> test/top1
                tag = f"{split}/{name}"
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
