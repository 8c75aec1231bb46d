"""One training run of the paper: a patriarch (generation 0) or a student.

``train(spec)`` trains, evaluates every ``eval_every`` epochs, and writes the run
directory atomically. It keeps a resume state in ``<out_dir>/resume/state.pt``
(deliberately *not* a declared workflow output, which a scheduler would delete
on failure): every ``checkpoint_every`` epochs, and when SIGTERM, SIGINT or
SIGUSR1 arrives, after which it exits non-zero. Running the same spec again
continues from that state; with ``deterministic: true`` on CPU the result is
bit-identical to an uninterrupted run.

With several processes (``processes``, by default one per visible GPU, so every
GPU of a SLURM job) the run is data-parallel with torch's DDP: ``train`` starts
the ranks itself, or joins the ranks that ``torchrun`` started (``WORLD_SIZE``
in the environment). Every rank holds the model and the frozen teacher and
trains on its share of each global batch; rank 0 alone writes files.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import data as tkd_data
from . import io as tkd_io
from .losses import patriarch_loss, student_loss
from .archs import create
from .spec import SpecError, TrainSpec

__all__ = ["train", "TrainingInterrupted", "NonFiniteLoss", "OUTPUTS", "resume_path", "load_weights", "Ranks"]

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
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hit = top == target[:, None]
    return [hit[:, :k].any(dim=1).sum() for k in ks]  # k beyond the classes: every sample is a hit


@dataclass(frozen=True)
class Ranks:
    """This process's place among the DDP ranks of a run (world 1: no DDP)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Ranks":  # as torchrun (and our own launcher) set them
        return cls(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def reduce(self, t: torch.Tensor, op: str = "sum") -> torch.Tensor:
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(t, op=dist.ReduceOp.MIN if op == "min" else dist.ReduceOp.SUM)
        return t

    def gather(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """Every rank's rows of a :func:`tkd.data.shard` split, back in data order."""
        if self.world == 1:
            return local[:n]
        import torch.distributed as dist

        parts = [torch.empty_like(local) for _ in range(self.world)]
        dist.all_gather(parts, local.contiguous())
        return tkd_data.unshard(parts, n)


@torch.inference_mode()
def evaluate_model(model: torch.nn.Module, loader, amp: bool, ranks: Ranks = Ranks()) -> tuple[float, float, torch.Tensor]:
    """Test top-1 and top-5 accuracy (%) and the logits, in data order (all ranks get all)."""
    model.eval()
    outs = []
    for x, _ in loader.batches():
        with _autocast(x.device, amp):
            outs.append(model(_layout(x, amp)).float())
    logits = ranks.gather(torch.cat(outs), loader.n)
    c1, c5 = _topk_correct(logits, loader.labels)
    return 100.0 * c1.item() / loader.n, 100.0 * c5.item() / loader.n, logits


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _layout(x: torch.Tensor, amp: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if amp and x.is_cuda else x


def compile_mode(setting: str, device: torch.device, world: int = 1) -> str | None:
    """The torch.compile mode of the training step, or None for eager.

    ``auto`` compiles on CUDA only (on CPU compilation costs more than it saves for short runs).
    One process on CUDA gets CUDA graphs (``reduce-overhead``): small CIFAR models are bound by
    kernel launches, and shapes are static because training drops the last partial batch. DDP
    gets plain compilation: its bucketed gradient all-reduce does not go into a CUDA graph.
    """
    if setting == "off" or (setting == "auto" and device.type != "cuda"):
        return None
    return "reduce-overhead" if device.type == "cuda" and world == 1 else "default"


def make_optimizer(model: torch.nn.Module, lr: float, momentum: float, weight_decay: float, nesterov: bool,
                   device: torch.device) -> torch.optim.SGD:
    """SGD updating all parameters in a few fused kernels (CUDA) or multi-tensor ops (CPU)."""
    fused = dict(fused=True) if device.type == "cuda" else dict(foreach=True)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
                           nesterov=nesterov, **fused)


def make_train_step(model, optimizer, criterion, teacher, lam: float, temperature: float, amp: bool,
                    mode: str | None = None):
    """One optimisation step on a batch: the patriarch's ``criterion``, or, with a ``teacher``, the
    student loss against the frozen teacher's output on the same batch. Returns (loss, logits),
    both detached, left on the device (no host sync). ``mode``: a torch.compile mode for the
    student's and the teacher's forward and backward (see :func:`compile_mode`), None for eager."""
    if mode is not None:
        from torch._dynamo import config as dynamo_config

        # a model or a torch build that dynamo cannot compile runs eager (with a warning), not fails
        dynamo_config.suppress_errors = True
        model = torch.compile(model, mode=mode, dynamic=False)
        teacher = None if teacher is None else torch.compile(teacher, mode=mode, dynamic=False)
    graphs = mode == "reduce-overhead"

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if graphs:  # the last step's graph outputs (already consumed) may be overwritten now
            torch.compiler.cudagraph_mark_step_begin()
        x = _layout(x, amp)
        with _autocast(x.device, amp):
            logits = model(x).float()
            if teacher is None:
                loss = criterion(logits, y)
            else:
                # no_grad, not inference_mode: the KL term saves the teacher's probabilities for backward
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
    """Run (or resume) one training run and return its metrics.

    Several processes: started here (one fresh interpreter per rank, :func:`_launch`) unless
    ``torchrun`` already started this one as a rank.
    """
    spec = spec if isinstance(spec, TrainSpec) else TrainSpec.from_dict(spec)
    spec.validate()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return _train(spec, Ranks.from_env())
    world = process_count(spec)
    if world == 1:
        return _train(spec, Ranks())
    load_inputs(spec, torch.device("cpu"))  # bad data, teacher or loss: one clear error before any rank starts
    return _launch(spec, world)


def process_count(spec: TrainSpec) -> int:
    device = resolve_device(spec.device)
    visible = torch.cuda.device_count() if device.type == "cuda" else 0
    n = spec.processes or max(1, visible)
    if device.type == "cuda" and n > 1:
        if device.index is not None:
            raise SpecError(f"device={spec.device!r} names one GPU; use device: cuda (or auto) with processes > 1")
        if n > visible:
            raise SpecError(f"processes={n} is invalid: only {visible} CUDA device(s) are visible")
    if spec.batch_size % n:
        raise SpecError(f"batch_size={spec.batch_size} is invalid: it does not split over {n} processes")
    return n


def load_inputs(spec: TrainSpec, device: torch.device):
    """The data set, class count, frozen teacher and patriarch loss; every bad input fails here."""
    try:
        dataset = tkd_data.load(spec.dataset, spec.data_path, download=spec.download, verify=spec.verify_checksums)
    except FileNotFoundError as err:
        raise SpecError(f"data_path: {err}") from None
    num_classes = dataset.num_classes
    teacher = None
    if spec.generation > 0:
        teacher = load_weights(spec.teacher, spec.arch, num_classes, "teacher").to(device).eval()
        teacher.requires_grad_(False)
    try:
        criterion = None if teacher is not None else patriarch_loss(spec.loss, num_classes, **spec.loss_params)
    except ValueError as err:
        raise SpecError(f"loss: {err}") from None
    return dataset, num_classes, teacher, criterion


def make_loaders(spec: TrainSpec, dataset, device: torch.device, ranks: Ranks = Ranks(), run_seed: int = 0):
    """The training and test batches of ``spec`` on ``device``, for this rank."""
    if isinstance(dataset, tkd_data.FolderSet):
        workers = spec.workers
        if workers is None:  # the CPUs this job may use, shared by its ranks, one kept for the rank itself
            workers = max(0, len(os.sched_getaffinity(0)) // ranks.world - 1)
        train_tf, test_tf = tkd_data.folder_transforms(spec.image_size, spec.eval_resize)
        common = dict(device=device, seed=run_seed, rank=ranks.rank, world=ranks.world, workers=workers)
        return (tkd_data.FolderLoader(dataset.train, train_tf, spec.batch_size, train=True, **common),
                tkd_data.FolderLoader(dataset.test, test_tf, max(64, spec.batch_size // ranks.world), train=False,
                                      **common))
    mean, std = tkd_data.channel_stats(dataset.train.images)
    common = dict(device=device, mean=mean, std=std, seed=run_seed, rank=ranks.rank, world=ranks.world)
    return (tkd_data.DeviceLoader(dataset.train, spec.batch_size, train=True, **common),
            tkd_data.DeviceLoader(dataset.test, max(512, spec.batch_size), train=False, **common))


def _train(spec: TrainSpec, ranks: Ranks) -> dict[str, Any]:
    device = resolve_device(spec.device)
    if ranks.world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", ranks.local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=ranks.rank, world_size=ranks.world)
    try:
        return _run(spec, ranks, device)
    finally:
        if ranks.world > 1:
            dist.destroy_process_group()


# With several ranks, a signal is acted on only when all ranks agree, which costs a collective:
# every this many steps.
_AGREE_EVERY = 20


def _run(spec: TrainSpec, ranks: Ranks, device: torch.device) -> dict[str, Any]:
    amp = spec.amp and device.type == "cuda"
    if spec.threads:
        torch.set_num_threads(max(1, spec.threads // ranks.world))
    if spec.deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True
    # Each generation draws its own init and data order; all are fixed by (seed, generation).
    run_seed = spec.seed * 1000 + spec.generation
    torch.manual_seed(run_seed)
    out_dir = Path(spec.out_dir)
    log = _log if ranks.main else (lambda msg: None)

    dataset, num_classes, teacher, criterion = load_inputs(spec, device)
    model = create(spec.arch, num_classes=num_classes)
    if teacher is not None and spec.student_init == "teacher":
        model.load_state_dict(teacher.state_dict())
    model.to(device)
    if amp:
        model.to(memory_format=torch.channels_last)
        if teacher is not None:
            teacher.to(memory_format=torch.channels_last)
    train_loader, test_loader = make_loaders(spec, dataset, device, ranks, run_seed)
    optimizer = make_optimizer(model, spec.scaled_lr(), spec.momentum, spec.weight_decay, spec.nesterov, device)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, spec.milestone_epochs(), spec.lr_gamma)

    digest = spec.digest()
    state_file = resume_path(out_dir)
    progress: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "best": None, "train_seconds": 0.0,
                                "images": 0, "images_total": 0, "loss_sum": torch.zeros((), dtype=torch.float64),
                                "correct": torch.zeros((), dtype=torch.long)}
    state = _read_state(state_file)
    if state is not None:
        if state.get("digest") == digest:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
            progress = {**progress, **state["progress"]}
            if not ranks.main:  # the saved running sums are the global ones: count them once
                progress.update(loss_sum=torch.zeros_like(progress["loss_sum"]),
                                correct=torch.zeros_like(progress["correct"]))
            log(f"resuming {out_dir} at epoch {progress['epoch'] + 1}, step {progress['step']}")
        else:
            log(f"ignoring resume state of another spec in {state_file}")
    net = model  # the bare model: what is saved and evaluated
    if ranks.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    def save_state() -> None:
        if not ranks.main:
            return
        tkd_io.torch_save({
            "digest": digest,
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "progress": progress,
        }, state_file)

    mode = compile_mode(spec.compile, device, ranks.world)
    train_step = make_train_step(model, optimizer, criterion, teacher, spec.lam, spec.temperature, amp, mode)
    steps = len(train_loader)
    if steps == 0:
        raise SpecError(f"batch_size={spec.batch_size} is invalid: larger than the training set")
    interactive = sys.stderr.isatty() and ranks.main
    role = f"generation {spec.generation} " + ("(patriarch, %s)" % spec.loss if teacher is None else "(student)")
    where = f"device {device}" if ranks.world == 1 else f"{ranks.world} processes (DDP), {device.type}"
    where += f", torch.compile {mode}" if mode else ", eager"
    log(f"training {spec.arch} on {spec.dataset}, {role}, {spec.epochs} epochs, {where}")
    with _stop_on_signals() as caught:
        for epoch in range(progress["epoch"], spec.epochs):
            model.train()
            t0 = time.perf_counter()
            start = progress["step"]
            # running sums stay on the device (no per-step sync) and resume exactly
            loss_sum = progress["loss_sum"].to(device)
            correct = progress["correct"].to(device)
            finite = torch.ones(steps, dtype=torch.int32, device=device)
            batches = train_loader.epoch(epoch, start)
            if interactive:
                from tqdm import tqdm
                batches = tqdm(batches, total=steps, initial=start, desc=f"epoch {epoch + 1}/{spec.epochs}",
                               leave=False, dynamic_ncols=True)
            done = start
            for step, (x, y) in enumerate(batches, start):
                loss, logits = train_step(x, y)
                finite[step] = torch.isfinite(loss)
                loss_sum += loss.double() * len(y)
                correct += (logits.argmax(1) == y).sum()
                done = step + 1
                if _stop_requested(caught, ranks, done, steps, device):
                    _check_finite(ranks.reduce(finite, "min"), epoch)
                    images = (done - start) * spec.batch_size
                    progress.update(step=done, images=progress["images"] + images,
                                    loss_sum=ranks.reduce(loss_sum).cpu(), correct=ranks.reduce(correct).cpu(),
                                    train_seconds=progress["train_seconds"] + time.perf_counter() - t0)
                    save_state()
                    signum = caught[0] if caught else signal.SIGTERM  # another rank's signal
                    log(f"signal {signal.Signals(signum).name} at epoch {epoch + 1}, step {done}: "
                        f"resume state saved to {state_file}")
                    raise TrainingInterrupted(signum)
            _check_finite(ranks.reduce(finite, "min"), epoch)
            ranks.reduce(loss_sum)
            ranks.reduce(correct)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - t0
            images = (done - start) * spec.batch_size
            n_seen = images + progress["images"]
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum.item() / n_seen,
                   "train_top1": 100.0 * correct.item() / n_seen,
                   "test_top1": math.nan, "test_top5": math.nan, "seconds": seconds,
                   "images_per_s": images / seconds}
            progress["train_seconds"] += seconds
            progress["images_total"] += images
            last = epoch + 1 == spec.epochs
            if last or (epoch + 1) % spec.eval_every == 0:
                top1, top5, logits = evaluate_model(net, test_loader, amp, ranks)
                row.update(test_top1=top1, test_top5=top5)
                if progress["best"] is None or top1 > progress["best"]["test_top1"]:
                    progress["best"] = {"epoch": epoch + 1, "test_top1": top1, "test_top5": top5}
            progress["history"].append(row)
            progress.update(epoch=epoch + 1, step=0, images=0, loss_sum=torch.zeros((), dtype=torch.float64),
                            correct=torch.zeros((), dtype=torch.long))
            tested = "" if math.isnan(row["test_top1"]) else " test {test_top1:.2f}% top5 {test_top5:.2f}%".format(**row)
            log("epoch {epoch}/{n} lr {lr:.4g} loss {train_loss:.4f} train {train_top1:.2f}%{tested} "
                "{images_per_s:.0f} img/s".format(n=spec.epochs, tested=tested, **row))
            if not last and (epoch + 1) % spec.checkpoint_every == 0:
                save_state()

    history = progress["history"]
    final = history[-1]
    metrics = {
        "test_top1": final["test_top1"], "test_top5": final["test_top5"],
        "test_top1_err": 100.0 - final["test_top1"], "test_top5_err": 100.0 - final["test_top5"],
        "best_epoch": progress["best"]["epoch"], "best_test_top1": progress["best"]["test_top1"],
        "best_test_top5": progress["best"]["test_top5"],
        "train_loss": final["train_loss"], "epochs": spec.epochs,
        "train_seconds": progress["train_seconds"],
        "images_per_s": progress["images_total"] / max(progress["train_seconds"], 1e-9),
        "num_params": sum(p.numel() for p in net.parameters()),
        "device": str(device) if ranks.world == 1 else f"{ranks.world}x{device.type}",
        "processes": ranks.world, "spec_digest": digest,
    }
    if ranks.main:
        labels = tkd_data.labels_of(dataset.test)
        _write_run(out_dir, spec, net, metrics, history, logits, labels, device)
        shutil.rmtree(state_file.parent, ignore_errors=True)
    log(f"done: test top-1 {metrics['test_top1']:.2f}% (best {metrics['best_test_top1']:.2f}% "
        f"at epoch {metrics['best_epoch']}) -> {out_dir}")
    return metrics


def _stop_requested(caught: list, ranks: Ranks, done: int, steps: int, device) -> bool:
    """Whether to stop now; with several ranks, all must stop at the same step, so they vote."""
    if ranks.world == 1:
        return bool(caught)
    if done % _AGREE_EVERY and done != steps:
        return False
    return bool(ranks.reduce(torch.tensor(int(bool(caught)), device=device)).item())


# --------------------------------------------------------------------------- launching ranks
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main() -> None:
    """Entry point of one rank started by :func:`_launch` (spec and report file in the environment)."""
    import json

    report = Path(os.environ["TKD_RANK_REPORT"])
    try:
        metrics = train(json.loads(os.environ["TKD_RANK_SPEC"]))
        report.write_text(json.dumps({"kind": "ok", "metrics": metrics}))
    except SpecError as err:
        report.write_text(json.dumps({"kind": "spec", "message": str(err)}))
        sys.exit(2)
    except TrainingInterrupted as err:
        sys.exit(128 + err.signum)
    except BaseException as err:
        traceback.print_exc()
        report.write_text(json.dumps({"kind": "error", "message": f"{type(err).__name__}: {err}"}))
        sys.exit(1)


def _launch(spec: TrainSpec, world: int) -> dict[str, Any]:
    """Start ``world`` ranks on this machine, pass signals on to them, and wait for all.

    Ranks are fresh interpreters (not multiprocessing's spawn, which re-runs the
    caller's main script), so this works from any script, Snakemake's included.
    """
    import json
    import subprocess
    import tempfile

    port = _free_port()
    # the ranks import the tkd this process runs, even where it is on sys.path only (Snakemake's
    # script adapters put the repository there, e.g. under --sdm conda)
    package_root = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="tkd-ranks-") as tmp, _stop_on_signals() as caught:
        reports = [Path(tmp) / f"rank{r}.json" for r in range(world)]
        procs = []
        _log(f"starting {world} DDP processes")
        for r in range(world):
            env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(r),
                   "WORLD_SIZE": str(world), "LOCAL_RANK": str(r), "TKD_RANK_REPORT": str(reports[r]),
                   "TKD_RANK_SPEC": json.dumps(spec.to_dict()), "PYTHONPATH": pythonpath}
            procs.append(subprocess.Popen([sys.executable, "-c", "from tkd.train import _rank_main; _rank_main()"],
                                          env=env))
        forwarded, deadline = 0, None
        while any(p.poll() is None for p in procs):
            time.sleep(0.2)
            for signum in caught[forwarded:]:
                for p in procs:
                    if p.poll() is None:
                        p.send_signal(signum)
            forwarded = len(caught)
            if deadline is None and any(p.returncode for p in procs):
                # a rank has ended badly: the others may wait forever in a collective
                deadline = time.monotonic() + (120 if caught else 30)
            if deadline is not None and time.monotonic() > deadline:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
        results = {r: json.loads(f.read_text()) for r, f in enumerate(reports) if f.exists()}
    codes = [p.returncode for p in procs]
    if all(c == 0 for c in codes) and results.get(0, {}).get("kind") == "ok":
        return results[0]["metrics"]
    for kind, error in (("spec", SpecError), ("error", RuntimeError)):
        for r, res in sorted(results.items()):
            if res["kind"] == kind:
                raise error(f"rank {r}: {res['message']}")
    interrupted = [c - 128 for c in codes if c and c > 128]
    if interrupted:
        raise TrainingInterrupted(interrupted[0])
    raise RuntimeError(f"DDP processes ended with exit codes {codes}")


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
    if not bool(finite.bool().all()):
        step = int((finite == 0).nonzero()[0])
        raise NonFiniteLoss(f"the loss became non-finite at epoch {epoch + 1}, step {step + 1}; "
                            "no outputs written (lower lr, or check the data)")


def _write_run(out_dir: Path, spec: TrainSpec, model, metrics, history, logits, labels, device) -> None:
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
            np.savez(f, logits=logits.cpu().numpy().astype(np.float16), fine=labels[0], coarse=labels[1])
    tkd_io.write_text(out_dir / "spec.yaml", _yaml(spec.to_dict()))
    tkd_io.write_json(out_dir / "provenance.json",
                      provenance.collect(device, seed=spec.seed, spec_digest=metrics["spec_digest"]))
    tkd_io.write_json(out_dir / "metrics.json", metrics)  # last: its presence means the run is whole


def _yaml(d: dict) -> str:
    import yaml

    return yaml.safe_dump(d, sort_keys=False)
