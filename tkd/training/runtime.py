"""What a training run stands on: the device, its inputs, batches, optimizer and step.

The trainer (:mod:`tkd.training.train`), ``tkd evaluate``, the transfer probe and the throughput
benchmark all import these, so what they measure is what training does.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from . import data as tkd_data
from . import loaders
from .archs import create
from ..errors import SpecError
from .losses import patriarch_loss, student_loss, total
from .spec import TrainSpec

__all__ = ["resolve_device", "Ranks", "load_weights", "load_data", "load_teacher", "load_inputs", "make_loaders",
           "make_optimizer", "compile_mode", "loss_terms", "make_train_step", "evaluate_model", "prepare_model"]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError(f"device={name!r} is invalid: CUDA is not available on this machine")
    return device


@dataclass(frozen=True)
class Ranks:
    """This process's place among the DDP ranks of a run (world 1: no DDP)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "Ranks":  # as torchrun (and tkd.training.launch) set them
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
        """Every rank's rows of a :func:`tkd.training.loaders.shard` split, back in data order."""
        if self.world == 1:
            return local[:n]
        import torch.distributed as dist

        parts = [torch.empty_like(local) for _ in range(self.world)]
        dist.all_gather(parts, local.contiguous())
        return loaders.unshard(parts, n)


# --------------------------------------------------------------------------- inputs
def load_weights(path: str | Path, arch: str, num_classes: int, what: str = "teacher") -> torch.nn.Module:
    """A model of ``arch`` with the state dict in ``path``, with one clear error for any mismatch."""
    from ..files import read_state

    state = read_state(path, what)
    model = create(arch, num_classes=num_classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[:3]
        raise SpecError(f"{what}={str(path)!r} is not a {arch} with {num_classes} classes: "
                        + " ".join(s.strip() for s in first)) from None
    return model


def load_data(spec: TrainSpec):
    """The data set of ``spec`` (an ImageFolder set is indexed, not read)."""
    try:
        return tkd_data.load(spec.dataset, spec.data_path, download=spec.download, verify=spec.verify_checksums)
    except FileNotFoundError as err:
        raise SpecError(f"data_path: {err}") from None


def load_teacher(spec: TrainSpec, num_classes: int, device: torch.device) -> torch.nn.Module:
    """The frozen teacher of a student: eval mode (BatchNorm uses its running statistics), no gradients."""
    teacher = load_weights(spec.teacher, spec.arch, num_classes, "teacher").to(device).eval()
    return teacher.requires_grad_(False)


def load_inputs(spec: TrainSpec, device: torch.device):
    """The data set, class count, frozen teacher (students) or loss (patriarchs); every bad input fails here."""
    dataset = load_data(spec)
    num_classes = dataset.num_classes
    if spec.generation > 0:
        return dataset, num_classes, load_teacher(spec, num_classes, device), None
    try:
        criterion = patriarch_loss(spec.loss, num_classes, **spec.loss_params)
    except ValueError as err:
        raise SpecError(f"loss: {err}") from None
    return dataset, num_classes, None, criterion


def make_loaders(spec: TrainSpec, dataset, device: torch.device, ranks: Ranks = Ranks(), run_seed: int = 0):
    """The training and test batches of ``spec`` on ``device``, for this rank. Inputs are normalised
    with the statistics of the training images (ImageNet's for ImageFolder sets)."""
    if isinstance(dataset, tkd_data.FolderSet):
        workers = spec.workers
        if workers is None:  # the CPUs this job may use, shared by its ranks, one kept for the rank itself
            workers = max(0, len(os.sched_getaffinity(0)) // ranks.world - 1)
        train_tf, test_tf = loaders.folder_transforms(spec.image_size, spec.eval_resize)
        common = dict(device=device, seed=run_seed, rank=ranks.rank, world=ranks.world, workers=workers)
        return (loaders.FolderLoader(dataset.train, train_tf, spec.batch_size, train=True, **common),
                loaders.FolderLoader(dataset.test, test_tf, max(64, spec.batch_size // ranks.world), train=False,
                                     **common))
    mean, std = loaders.channel_stats(dataset.train.images)
    common = dict(device=device, mean=mean, std=std, seed=run_seed, rank=ranks.rank, world=ranks.world)
    return (loaders.DeviceLoader(dataset.train, spec.batch_size, train=True, **common),
            loaders.DeviceLoader(dataset.test, max(512, spec.batch_size), train=False, **common))


# --------------------------------------------------------------------------- the step
def autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def layout(x: torch.Tensor, amp: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if amp and x.is_cuda else x


def prepare_model(model: torch.nn.Module, device: torch.device, amp: bool) -> torch.nn.Module:
    """On the device, channels_last with amp on CUDA (the layout bf16 convolutions are fast in)."""
    model.to(device)
    if amp and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def make_optimizer(model: torch.nn.Module, lr: float, momentum: float, weight_decay: float, nesterov: bool,
                   device: torch.device) -> torch.optim.SGD:
    """SGD updating all parameters in a few fused kernels (CUDA) or multi-tensor ops (CPU)."""
    fused = dict(fused=True) if device.type == "cuda" else dict(foreach=True)
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay,
                           nesterov=nesterov, **fused)


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


def loss_terms(criterion, teacher, num_classes: int) -> tuple[str, ...]:
    """The names of the step's loss terms, in the order the step returns them (the history's
    ``loss_<name>`` columns): the patriarch criterion's, or Eq. 2's ``ce`` and ``kl``."""
    logits, target = torch.zeros(2, num_classes), torch.zeros(2, dtype=torch.long)
    terms = criterion(logits, target) if teacher is None else student_loss(logits, logits, target, 0.5)
    return tuple(terms)


def make_train_step(model, optimizer, criterion, teacher, lam: float, temperature: float, amp: bool,
                    mode: str | None = None):
    """One optimisation step on a batch: the patriarch's ``criterion``, or, with a ``teacher``, the
    student loss against the frozen teacher's output on the same batch. Returns (loss, logits,
    terms), detached and left on the device (no host sync); ``terms`` holds the loss's named terms
    in the order of :func:`loss_terms`. ``mode``: a torch.compile mode for the student's and the
    teacher's forward and backward (see :func:`compile_mode`), None for eager."""
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
        x = layout(x, amp)
        with autocast(x.device, amp):
            logits = model(x).float()
            if teacher is None:
                terms = criterion(logits, y)
            else:
                # no_grad, not inference_mode: the KL term saves the teacher's probabilities for backward
                with torch.no_grad():
                    teacher_logits = teacher(x).float()
                terms = student_loss(logits, teacher_logits, y, lam, temperature)
            loss = total(terms)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach(), logits.detach(), torch.stack([t.detach() for t in terms.values()])

    return step


# --------------------------------------------------------------------------- evaluation
def topk_correct(logits: torch.Tensor, target: torch.Tensor, ks=(1, 5)) -> list[torch.Tensor]:
    top = logits.topk(min(max(ks), logits.shape[1]), dim=1).indices
    hit = top == target[:, None]
    return [hit[:, :k].any(dim=1).sum() for k in ks]  # k beyond the classes: every sample is a hit


@torch.inference_mode()
def evaluate_model(model: torch.nn.Module, loader, ranks: Ranks = Ranks()) -> tuple[float, float, torch.Tensor]:
    """Test top-1 and top-5 accuracy (%) and the logits, in data order (all ranks get all).

    In float32: the saved test logits feed every later measure, so no bf16 rounding here."""
    model.eval()
    outs = []
    for x, _ in loader.batches():
        outs.append(model(x).float())
    logits = ranks.gather(torch.cat(outs), loader.n)
    c1, c5 = topk_correct(logits, loader.labels)
    return 100.0 * c1.item() / loader.n, 100.0 * c5.item() / loader.n, logits
