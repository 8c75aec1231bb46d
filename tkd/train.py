"""One training run of the paper: a patriarch (generation 0) or a student.

``train(spec)`` trains, evaluates every ``eval_every`` epochs, and writes the run
directory atomically. It keeps a resume state in ``<out_dir>/resume/state.pt``
(deliberately *not* a declared workflow output, which a scheduler would delete
on failure): every ``checkpoint_every`` epochs, and when SIGTERM, SIGINT or
SIGUSR1 arrives, after which it exits non-zero. Running the same spec again
continues from that state; with ``deterministic: true`` on CPU the result is
bit-identical to an uninterrupted run.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import data as tkd_data
from . import io as tkd_io
from .losses import patriarch_loss, student_loss
from .models import create
from .spec import SpecError, TrainSpec

__all__ = ["train", "TrainingInterrupted", "NonFiniteLoss", "OUTPUTS", "resume_path", "load_weights"]

# The files a finished run directory holds (the workflow's declared outputs).
OUTPUTS = ("model.pt", "metrics.json", "history.csv", "test_logits.npz", "provenance.json")
HISTORY_FIELDS = ("epoch", "lr", "train_loss", "train_top1", "test_top1", "test_top5", "seconds", "images_per_s")


class TrainingInterrupted(RuntimeError):
    """A signal stopped training after the resume state was saved."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; resume state saved, run again to continue")


class NonFiniteLoss(RuntimeError):
    pass


def resume_path(out_dir: str | Path) -> Path:
    return Path(out_dir) / "resume" / "state.pt"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"device={name!r} is invalid: CUDA is not available on this machine")
    return device


def load_weights(path: str | Path, arch: str, num_classes: int, what: str = "teacher") -> torch.nn.Module:
    """A model of ``arch`` with the state dict in ``path``, with one clear error for any mismatch."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SpecError(f"{what}={str(path)!r} does not exist") from None
    except Exception as err:  # torch raises many types for a torn or foreign file
        raise SpecError(f"{what}={str(path)!r} is not a readable checkpoint: {err}") from None
    if not isinstance(state, dict):
        raise SpecError(f"{what}={str(path)!r} does not hold a state dict")
    model = create(arch, num_classes=num_classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[:3]
        raise SpecError(f"{what}={str(path)!r} is not a {arch} with {num_classes} classes: "
                        + " ".join(s.strip() for s in first)) from None
    return model


@contextlib.contextmanager
def _stop_on_signals():
    """Turn SIGTERM/SIGINT/SIGUSR1 into a flag the step loop polls."""
    caught: list[int] = []
    sigs = [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1]
    try:
        old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in sigs}
    except ValueError:  # not the main thread: leave signals alone
        yield caught
        return
    try:
        yield caught
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _topk_correct(logits: torch.Tensor, target: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    top = logits.topk(max(ks), dim=1).indices
    hit = top == target[:, None]
    return [hit[:, :k].any(dim=1).sum() for k in ks]


@torch.inference_mode()
def evaluate_model(model: torch.nn.Module, loader: tkd_data.DeviceLoader, amp: bool) -> tuple[float, float, torch.Tensor]:
    """Test top-1 and top-5 accuracy (%) and the logits, in data order."""
    model.eval()
    outs = []
    for x, _ in loader.batches(loader.order()):
        with _autocast(x.device, amp):
            outs.append(model(_layout(x, amp)).float())
    logits = torch.cat(outs)
    c1, c5 = _topk_correct(logits, loader.labels)
    n = len(loader.labels)
    return 100.0 * c1.item() / n, 100.0 * c5.item() / n, logits


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _layout(x: torch.Tensor, amp: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if amp and x.is_cuda else x


def make_train_step(model, optimizer, criterion, teacher, lam: float, temperature: float, amp: bool):
    """One optimisation step on a batch: the patriarch's ``criterion``, or, with a ``teacher``, the
    student loss against the frozen teacher's output on the same batch. Returns (loss, logits),
    both detached, left on the device (no host sync)."""

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = _layout(x, amp)
        with _autocast(x.device, amp):
            logits = model(x).float()
            if teacher is None:
                loss = criterion(logits, y)
            else:
                with torch.no_grad():
                    teacher_logits = teacher(x).float()
                loss = student_loss(logits, teacher_logits, y, lam, temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach(), logits.detach()

    return step


def _log(msg: str) -> None:
    print(msg, flush=True)


def train(spec: TrainSpec | dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) one training run and return its metrics."""
    spec = spec if isinstance(spec, TrainSpec) else TrainSpec.from_dict(spec)
    spec.validate()
    device = resolve_device(spec.device)
    amp = spec.amp and device.type == "cuda"
    if spec.threads:
        torch.set_num_threads(spec.threads)
    if spec.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True
    # Each generation draws its own init and data order; all are fixed by (seed, generation).
    run_seed = spec.seed * 1000 + spec.generation
    torch.manual_seed(run_seed)
    out_dir = Path(spec.out_dir)

    # Everything that can fail on bad input fails here, before training starts.
    try:
        dataset = tkd_data.load(spec.dataset, spec.data_path, download=spec.download, verify=spec.verify_checksums)
    except FileNotFoundError as err:
        raise SpecError(f"data_path: {err}") from None
    num_classes = int(dataset.train.fine.max()) + 1
    model = create(spec.arch, num_classes=num_classes)
    teacher = None
    if spec.generation > 0:
        teacher = load_weights(spec.teacher, spec.arch, num_classes, "teacher").to(device).eval()
        teacher.requires_grad_(False)
    if teacher is not None and spec.student_init == "teacher":
        model.load_state_dict(teacher.state_dict())
    model.to(device)
    if amp:
        model.to(memory_format=torch.channels_last)
        if teacher is not None:
            teacher.to(memory_format=torch.channels_last)
    try:
        criterion = None if teacher is not None else patriarch_loss(spec.loss, num_classes, **spec.loss_params)
    except ValueError as err:
        raise SpecError(f"loss: {err}") from None

    mean, std = tkd_data.channel_stats(dataset.train.images)
    train_loader = tkd_data.DeviceLoader(dataset.train, spec.batch_size, device, mean, std, train=True)
    test_loader = tkd_data.DeviceLoader(dataset.test, max(512, spec.batch_size), device, mean, std, train=False)
    train_loader.generator.manual_seed(run_seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum,
                                weight_decay=spec.weight_decay, nesterov=spec.nesterov, foreach=True)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, spec.milestone_epochs(), spec.lr_gamma)

    digest = spec.digest()
    state_file = resume_path(out_dir)
    progress: dict[str, Any] = {"epoch": 0, "step": 0, "order": None, "history": [], "best": None,
                                "train_seconds": 0.0, "images": 0}
    state = _read_state(state_file)
    if state is not None:
        if state.get("digest") == digest:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            train_loader.generator.set_state(state["loader_rng"])
            progress = state["progress"]
            _log(f"resuming {out_dir} at epoch {progress['epoch'] + 1}, step {progress['step']}")
        else:
            _log(f"ignoring resume state of another spec in {state_file}")

    def save_state() -> None:
        tkd_io.torch_save({
            "digest": digest,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "loader_rng": train_loader.generator.get_state(),
            "progress": progress,
        }, state_file)

    train_step = make_train_step(model, optimizer, criterion, teacher, spec.lam, spec.temperature, amp)
    steps = len(train_loader)
    interactive = sys.stderr.isatty()
    role = f"generation {spec.generation} " + ("(patriarch, %s)" % spec.loss if teacher is None else "(student)")
    _log(f"training {spec.arch} on {spec.dataset}, {role}, {spec.epochs} epochs, device {device}")
    with _stop_on_signals() as caught:
        for epoch in range(progress["epoch"], spec.epochs):
            model.train()
            t0 = time.perf_counter()
            if progress["order"] is None:
                progress.update(order=train_loader.order().cpu(), step=0, images=0,
                                loss_sum=torch.zeros((), dtype=torch.float64), correct=torch.zeros((), dtype=torch.long))
            order = progress["order"].to(device)
            start = progress["step"]
            # running sums stay on the device (no per-step sync) and resume exactly
            loss_sum = progress["loss_sum"].to(device)
            correct = progress["correct"].to(device)
            finite = torch.ones(steps, dtype=torch.bool, device=device)
            batches = train_loader.batches(order, start)
            if interactive:
                from tqdm import tqdm
                batches = tqdm(batches, total=steps, initial=start, desc=f"epoch {epoch + 1}/{spec.epochs}",
                               leave=False, dynamic_ncols=True)
            images = 0
            for step, (x, y) in enumerate(batches, start):
                loss, logits = train_step(x, y)
                finite[step] = torch.isfinite(loss.detach())
                loss_sum += loss.double() * len(y)
                correct += (logits.argmax(1) == y).sum()
                images += len(y)
                if caught:
                    _check_finite(finite, epoch)
                    progress.update(step=step + 1, images=progress["images"] + images,
                                    loss_sum=loss_sum.cpu(), correct=correct.cpu(),
                                    train_seconds=progress["train_seconds"] + time.perf_counter() - t0)
                    save_state()
                    _log(f"signal {signal.Signals(caught[0]).name} at epoch {epoch + 1}, step {step + 1}: "
                         f"resume state saved to {state_file}")
                    raise TrainingInterrupted(caught[0])
            _check_finite(finite, epoch)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - t0
            n_seen = images + progress["images"]
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum.item() / n_seen,
                   "train_top1": 100.0 * correct.item() / n_seen,
                   "test_top1": math.nan, "test_top5": math.nan, "seconds": seconds,
                   "images_per_s": images / seconds}
            progress["train_seconds"] += seconds
            last = epoch + 1 == spec.epochs
            if last or (epoch + 1) % spec.eval_every == 0:
                top1, top5, logits = evaluate_model(model, test_loader, amp)
                row.update(test_top1=top1, test_top5=top5)
                if progress["best"] is None or top1 > progress["best"]["test_top1"]:
                    progress["best"] = {"epoch": epoch + 1, "test_top1": top1, "test_top5": top5}
            progress["history"].append(row)
            progress.update(epoch=epoch + 1, step=0, order=None)
            tested = "" if math.isnan(row["test_top1"]) else " test {test_top1:.2f}% top5 {test_top5:.2f}%".format(**row)
            _log("epoch {epoch}/{n} lr {lr:.4g} loss {train_loss:.4f} train {train_top1:.2f}%{tested} "
                 "{images_per_s:.0f} img/s".format(n=spec.epochs, tested=tested, **row))
            if not last and (epoch + 1) % spec.checkpoint_every == 0:
                save_state()

    history = progress["history"]
    final = history[-1]
    total_images = len(dataset.train) * spec.epochs
    metrics = {
        "test_top1": final["test_top1"], "test_top5": final["test_top5"],
        "best_epoch": progress["best"]["epoch"], "best_test_top1": progress["best"]["test_top1"],
        "best_test_top5": progress["best"]["test_top5"],
        "train_loss": final["train_loss"], "epochs": spec.epochs,
        "train_seconds": progress["train_seconds"],
        "images_per_s": total_images / max(progress["train_seconds"], 1e-9),
        "num_params": sum(p.numel() for p in model.parameters()),
        "device": str(device), "spec_digest": digest,
    }
    _write_run(out_dir, spec, model, metrics, history, logits, dataset.test, device)
    shutil.rmtree(state_file.parent, ignore_errors=True)
    _log(f"done: test top-1 {metrics['test_top1']:.2f}% (best {metrics['best_test_top1']:.2f}% "
         f"at epoch {metrics['best_epoch']}) -> {out_dir}")
    return metrics


def _read_state(path: Path) -> dict | None:
    """The resume state, or None when there is none or it cannot be read (then training starts over)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # e.g. written by another tkd version
        _log(f"ignoring unreadable resume state {path}: {err}")
        return None


def _check_finite(finite: torch.Tensor, epoch: int) -> None:
    if not bool(finite.all()):
        step = int((~finite).nonzero()[0])
        raise NonFiniteLoss(f"the loss became non-finite at epoch {epoch + 1}, step {step + 1}; "
                            "no outputs written (lower lr, or check the data)")


def _write_run(out_dir: Path, spec: TrainSpec, model, metrics, history, logits, test: tkd_data.ImageSet,
               device) -> None:
    from . import provenance

    out_dir.mkdir(parents=True, exist_ok=True)
    tkd_io.torch_save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out_dir / "model.pt")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, HISTORY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    tkd_io.write_text(out_dir / "history.csv", buf.getvalue())
    with tkd_io.atomic_path(out_dir / "test_logits.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, logits=logits.cpu().numpy().astype(np.float16), fine=test.fine, coarse=test.coarse)
    tkd_io.write_text(out_dir / "spec.yaml", _yaml(spec.to_dict()))
    tkd_io.write_json(out_dir / "provenance.json",
                      provenance.collect(device, seed=spec.seed, spec_digest=metrics["spec_digest"]))
    tkd_io.write_json(out_dir / "metrics.json", metrics)  # last: its presence means the run is whole


def _yaml(d: dict) -> str:
    import yaml

    return yaml.safe_dump(d, sort_keys=False)
