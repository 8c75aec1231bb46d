"""One training run of the paper: a patriarch (generation 0) or a student.

``train(spec)`` sets the run up, resumes it if it was interrupted, trains epoch by
epoch (evaluating every ``eval_every`` epochs) and writes the run directory
atomically (:data:`tkd.layout.RUN_FILES`, ``metrics.json`` last).

It keeps a resume state in ``<out_dir>/resume/state.pt`` (deliberately *not* a
declared workflow output, which a scheduler would delete on failure): every
``checkpoint_every`` epochs, and when SIGTERM, SIGINT or SIGUSR1 arrives, after
which it exits non-zero. Running the same spec again continues from that state;
with ``deterministic: true`` on CPU the result is bit-identical to an
uninterrupted run.

With several processes (``processes``, by default one per visible GPU, so every
GPU of a SLURM job) the run is data-parallel with torch's DDP: ``train`` starts
the ranks itself (:mod:`tkd.training.launch`), or joins the ranks that ``torchrun``
started (``WORLD_SIZE`` in the environment). Every rank holds the model and the
frozen teacher and trains on its share of each global batch; rank 0 alone writes.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .. import files, runstate
from .archs import create
from .data import labels_of
from ..errors import NonFiniteLoss, SpecError, TrainingInterrupted
from .launch import init_method, launch, process_count, report_rank, stop_on_signals
from ..layout import RUN_FILES, resume_path
from .runtime import (Ranks, compile_mode, evaluate_model, load_inputs, make_loaders, make_optimizer, loss_terms, make_train_step, prepare_model, resolve_device)
from .spec import TrainSpec

__all__ = ["train", "rank_main", "TrainingInterrupted", "NonFiniteLoss", "RUN_FILES", "resume_path"]

# history.csv: these columns, with the loss's named terms (loss_ce, loss_tsd, loss_kl, ...) after train_loss
HISTORY_FIELDS = ("epoch", "lr", "train_loss", "train_top1", "test_top1", "test_top5", "seconds", "images_per_s")
# With several ranks, a signal is acted on only when all ranks agree, which costs a collective:
# every this many steps.
AGREE_EVERY = 20


def train(spec: TrainSpec | dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) one training run and return its metrics.

    Several processes: started here, one fresh interpreter per rank, unless ``torchrun``
    already started this one as a rank.
    """
    if isinstance(spec, TrainSpec):
        spec.validate()
    else:
        spec = TrainSpec.from_dict(spec)
    spec.check_files()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # a rank torchrun started: rank 0 keeps the run's state
        ranks = Ranks.from_env()
        with _marked(spec, ranks.main):
            return _train(spec, ranks)
    world = process_count(spec)
    if world > 1:
        load_inputs(spec, torch.device("cpu"))  # bad data, teacher or loss: one clear error before any rank starts
    with _marked(spec):
        return _train(spec, Ranks()) if world == 1 else launch(spec.to_dict(), world)


@contextlib.contextmanager
def _marked(spec: TrainSpec, main: bool = True):
    """While training: the run directory says so, and why it failed if it does (tkd.runstate).
    Bad input found while setting up (a damaged file) leaves nothing behind, as before any start."""
    if not main:
        yield
        return
    out = Path(spec.out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with runstate.running(out):
            yield
    except (TrainingInterrupted, SpecError):
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    except BaseException as err:
        runstate.failed(out, err)
        raise


def rank_main() -> None:
    """Entry point of one rank started by :func:`tkd.training.launch.launch`."""
    report_rank(train)


def _train(spec: TrainSpec, ranks: Ranks) -> dict[str, Any]:
    device = resolve_device(spec.device)
    if ranks.world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", ranks.local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=init_method(),
                                rank=ranks.rank, world_size=ranks.world)
    try:
        run = _setup(spec, ranks, device)
        _resume(run)
        if spec.tensorboard and ranks.main:
            import yaml

            from .curves import Curves

            run.curves = Curves(spec.out_dir, run.progress["epoch"], yaml.safe_dump(spec.record(), sort_keys=False))
        try:
            with stop_on_signals() as caught:
                for epoch in range(run.progress["epoch"], spec.epochs):
                    _epoch(run, epoch, caught)
            return _finish(run)
        finally:
            if run.curves is not None:
                run.curves.close()
    finally:
        if ranks.world > 1:
            dist.destroy_process_group()


@dataclass
class _Run:
    """Everything one run's epochs share."""

    spec: TrainSpec
    ranks: Ranks
    device: torch.device
    net: torch.nn.Module  # the bare model: what is saved and evaluated
    model: torch.nn.Module  # what trains: the net, or DDP around it
    dataset: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_loader: Any
    test_loader: Any
    step: Callable
    terms: tuple[str, ...]  # the names of the loss terms the step returns
    log: Callable[[str], None]
    digest: str
    progress: dict = field(default_factory=lambda: {
        "epoch": 0, "step": 0, "history": [], "best": None, "train_seconds": 0.0, "images": 0, "images_total": 0})
    logits: torch.Tensor | None = None  # of the last evaluation
    curves: Any = None  # TensorBoard's, where asked for (tkd.training.curves)

    def __post_init__(self):
        self.progress.update(_running_sums(len(self.terms)))

    @property
    def out_dir(self) -> Path:
        return Path(self.spec.out_dir)

    @property
    def state_file(self) -> Path:
        return resume_path(self.out_dir)


def _log(msg: str) -> None:
    print(msg, flush=True)


def _setup(spec: TrainSpec, ranks: Ranks, device: torch.device) -> _Run:
    """Seeds, inputs, model, batches, optimizer and the step; every bad input fails here."""
    amp = spec.amp and device.type == "cuda"
    if spec.threads:
        torch.set_num_threads(max(1, spec.threads // ranks.world))
    if spec.deterministic:
        torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = not spec.deterministic
    # Each generation draws its own init and data order; all are fixed by (seed, generation).
    run_seed = spec.seed * 1000 + spec.generation
    torch.manual_seed(run_seed)
    dataset, num_classes, teacher, criterion = load_inputs(spec, device)
    net = create(spec.arch, num_classes=num_classes)
    if teacher is not None and spec.student_init == "teacher":
        net.load_state_dict(teacher.state_dict())
    prepare_model(net, device, amp)
    if teacher is not None:
        prepare_model(teacher, device, amp)
    train_loader, test_loader = make_loaders(spec, dataset, device, ranks, run_seed)
    if len(train_loader) == 0:
        raise SpecError(f"batch_size={spec.batch_size} is invalid: larger than the training set")
    optimizer = make_optimizer(net, spec.scaled_lr(), spec.momentum, spec.weight_decay, spec.nesterov, device)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, spec.milestone_epochs(), spec.lr_gamma)
    model = net
    if ranks.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None)
    mode = compile_mode(spec.compile, device, ranks.world)
    step = make_train_step(model, optimizer, criterion, teacher, spec.lam, spec.temperature, amp, mode)
    run = _Run(spec, ranks, device, net, model, dataset, optimizer, scheduler, train_loader, test_loader, step,
               loss_terms(criterion, teacher, num_classes), _log if ranks.main else (lambda msg: None), spec.digest())
    role = f"generation {spec.generation} " + ("(patriarch, %s)" % spec.loss if teacher is None else "(student)")
    where = f"device {device}" if ranks.world == 1 else f"{ranks.world} processes (DDP), {device.type}"
    where += f", torch.compile {mode}" if mode else ", eager"
    run.log(f"training {spec.arch} on {spec.dataset}, {role}, {spec.epochs} epochs, {where}")
    return run


def _resume(run: _Run) -> None:
    """Continue from the resume state when it belongs to this very spec; otherwise start over."""
    state = _read_state(run.state_file)
    if state is None:
        return
    if state.get("digest") != run.digest:
        run.log(f"ignoring resume state of another spec in {run.state_file}")
        return
    run.net.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    run.progress.update(state["progress"])
    if not run.ranks.main:  # the saved running sums are the global ones: count them once
        run.progress.update(_running_sums(len(run.terms)))
    run.log(f"resuming {run.out_dir} at epoch {run.progress['epoch'] + 1}, step {run.progress['step']}")


def _read_state(path: Path) -> dict | None:
    """The resume state, or None when there is none or it cannot be read (then training starts over)."""
    if not path.exists():
        return None
    try:
        return files.read_state(path, "resume state")
    except SpecError as err:  # torn, or written by another tkd version
        _log(f"ignoring unreadable resume state: {err}")
        return None


def _save_state(run: _Run) -> None:
    if run.ranks.main:
        files.torch_save({"digest": run.digest, "model": run.net.state_dict(), "optimizer": run.optimizer.state_dict(),
                          "scheduler": run.scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                          "progress": run.progress}, run.state_file)


def _epoch(run: _Run, epoch: int, caught: list[int]) -> None:
    """One epoch from the saved step on; then its history row, evaluation and checkpoint."""
    spec, ranks, device, progress = run.spec, run.ranks, run.device, run.progress
    run.model.train()
    t0 = time.perf_counter()
    start = done = progress["step"]
    steps = len(run.train_loader)
    # running sums stay on the device (no per-step sync) and resume exactly
    sums = {k: progress[k].to(device) for k in _running_sums(0)}
    finite = torch.ones(steps, dtype=torch.int32, device=device)
    batches = run.train_loader.epoch(epoch, start)
    if sys.stderr.isatty() and ranks.main:
        from tqdm import tqdm

        batches = tqdm(batches, total=steps, initial=start, desc=f"epoch {epoch + 1}/{spec.epochs}", leave=False,
                       dynamic_ncols=True)
    for step, (x, y) in enumerate(batches, start):
        loss, logits, terms = run.step(x, y)
        finite[step] = torch.isfinite(loss)
        sums["loss_sum"] += loss.double() * len(y)
        sums["term_sums"] += terms.double() * len(y)
        sums["correct"] += (logits.argmax(1) == y).sum()
        done = step + 1
        if _stop_requested(caught, ranks, done, steps, device):
            _check_finite(ranks.reduce(finite, "min"), epoch)
            progress.update({k: ranks.reduce(v).cpu() for k, v in sums.items()}, step=done,
                            images=progress["images"] + (done - start) * spec.batch_size,
                            train_seconds=progress["train_seconds"] + time.perf_counter() - t0)
            _save_state(run)
            signum = caught[0] if caught else signal.SIGTERM  # another rank's signal
            run.log(f"signal {signal.Signals(signum).name} at epoch {epoch + 1}, step {done}: "
                    f"resume state saved to {run.state_file}")
            raise TrainingInterrupted(signum)
    _check_finite(ranks.reduce(finite, "min"), epoch)
    for v in sums.values():
        ranks.reduce(v)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    _end_epoch(run, epoch, time.perf_counter() - t0, (done - start) * spec.batch_size, sums)


def _running_sums(n_terms: int) -> dict[str, torch.Tensor]:
    """An epoch's running sums (over its images) at zero: the loss, each loss term, the correct count."""
    return {"loss_sum": torch.zeros((), dtype=torch.float64), "term_sums": torch.zeros(n_terms, dtype=torch.float64),
            "correct": torch.zeros((), dtype=torch.long)}


def _end_epoch(run: _Run, epoch: int, seconds: float, images: int, sums: dict[str, torch.Tensor]) -> None:
    spec, progress = run.spec, run.progress
    n_seen = images + progress["images"]
    lr = run.optimizer.param_groups[0]["lr"]
    run.scheduler.step()
    row = {"epoch": epoch + 1, "lr": lr, "train_loss": sums["loss_sum"].item() / n_seen,
           **{f"loss_{name}": v / n_seen for name, v in zip(run.terms, sums["term_sums"].tolist())},
           "train_top1": 100.0 * sums["correct"].item() / n_seen, "test_top1": math.nan, "test_top5": math.nan,
           "seconds": seconds, "images_per_s": images / seconds}
    progress["train_seconds"] += seconds
    progress["images_total"] += images
    last = epoch + 1 == spec.epochs
    if last or (epoch + 1) % spec.eval_every == 0:
        top1, top5, run.logits = evaluate_model(run.net, run.test_loader, run.ranks)
        row.update(test_top1=top1, test_top5=top5)
        if progress["best"] is None or top1 > progress["best"]["test_top1"]:
            progress["best"] = {"epoch": epoch + 1, "test_top1": top1, "test_top5": top5}
    progress["history"].append(row)
    if run.curves is not None:
        run.curves.log(row)
    progress.update(_running_sums(len(run.terms)), epoch=epoch + 1, step=0, images=0)
    tested = "" if math.isnan(row["test_top1"]) else " test {test_top1:.2f}% top5 {test_top5:.2f}%".format(**row)
    run.log("epoch {epoch}/{n} lr {lr:.4g} loss {train_loss:.4f} train {train_top1:.2f}%{tested} "
            "{images_per_s:.0f} img/s".format(n=spec.epochs, tested=tested, **row))
    if not last and (epoch + 1) % spec.checkpoint_every == 0:
        _save_state(run)


def _stop_requested(caught: list, ranks: Ranks, done: int, steps: int, device) -> bool:
    """Whether to stop now; with several ranks, all must stop at the same step, so they vote."""
    if ranks.world == 1:
        return bool(caught)
    if done % AGREE_EVERY and done != steps:
        return False
    return bool(ranks.reduce(torch.tensor(int(bool(caught)), device=device)).item())


def _check_finite(finite: torch.Tensor, epoch: int) -> None:
    if not bool(finite.bool().all()):
        step = int((finite == 0).nonzero()[0])
        raise NonFiniteLoss(f"the loss became non-finite at epoch {epoch + 1}, step {step + 1}; "
                            "no outputs written (lower lr, or check the data)")


def _finish(run: _Run) -> dict[str, Any]:
    """The run's metrics; rank 0 writes the run directory and removes the resume state."""
    progress, final = run.progress, run.progress["history"][-1]
    metrics = {
        "test_top1": final["test_top1"], "test_top5": final["test_top5"],
        "test_top1_err": 100.0 - final["test_top1"], "test_top5_err": 100.0 - final["test_top5"],
        "best_epoch": progress["best"]["epoch"], "best_test_top1": progress["best"]["test_top1"],
        "best_test_top5": progress["best"]["test_top5"],
        "train_loss": final["train_loss"], "epochs": run.spec.epochs,
        "train_seconds": progress["train_seconds"],
        "images_per_s": progress["images_total"] / max(progress["train_seconds"], 1e-9),
        "num_params": sum(p.numel() for p in run.net.parameters()),
        "device": str(run.device) if run.ranks.world == 1 else f"{run.ranks.world}x{run.device.type}",
        "processes": run.ranks.world, "spec_digest": run.digest,
    }
    if run.ranks.main:
        _write_run(run, metrics)
        shutil.rmtree(run.state_file.parent, ignore_errors=True)
    run.log(f"done: test top-1 {metrics['test_top1']:.2f}% (best {metrics['best_test_top1']:.2f}% "
            f"at epoch {metrics['best_epoch']}), written to\n  {run.out_dir}")
    return metrics


def _write_run(run: _Run, metrics: dict) -> None:
    import yaml

    from .. import provenance

    out_dir = run.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    path = {name: out_dir / file for name, file in RUN_FILES.items()}
    files.torch_save({k: v.detach().cpu() for k, v in run.net.state_dict().items()}, path["model"])
    buf = io.StringIO()
    fields = HISTORY_FIELDS[:3] + tuple(f"loss_{name}" for name in run.terms) + HISTORY_FIELDS[3:]
    writer = csv.DictWriter(buf, fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(run.progress["history"])
    files.write_text(path["history"], buf.getvalue())
    fine, coarse = labels_of(run.dataset.test)
    with files.atomic_path(path["logits"]) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, logits=run.logits.cpu().numpy().astype(np.float32), fine=fine, coarse=coarse)
    files.write_text(path["spec"], yaml.safe_dump(run.spec.record(), sort_keys=False))
    files.write_json(path["provenance"],
                     provenance.collect(run.device, seed=run.spec.seed, spec_digest=metrics["spec_digest"]))
    files.write_json(path["metrics"], metrics)  # last: its presence means the run is whole
