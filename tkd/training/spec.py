"""What one training run is: a plain, validated :class:`TrainSpec`.

A spec is plain data (YAML, a dict, or the params of a Snakemake rule). Every
field is checked before any work starts, and each problem is one error that
names the offending key.

Fields are of two kinds, marked once here: those that shape the result (the
default) and those that only say *how* a job runs (``how=True``: where it
writes, on which device, with how many threads or processes, compiled or not,
how often it checkpoints). The resume digest, the workflow's rule params and
the job adapter all derive from :data:`RESULT_FIELDS` and :data:`HOW_FIELDS`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..errors import SpecError

__all__ = ["TrainSpec", "SpecError", "load_spec", "parse_set", "run_spec", "RESULT_FIELDS", "HOW_FIELDS",
           "PATRIARCH_FIELDS", "STUDENT_FIELDS", "switch"]


def _how(default: Any) -> Any:
    """A field that says how a job runs, not what it computes: outside the digest, no rerun."""
    return field(default=default, metadata={"how": True})


def _only(role: str, default: Any = None, factory=None) -> Any:
    """A field that only a patriarch (generation 0) or only a student (generation >= 1) has."""
    if factory is not None:
        return field(default_factory=factory, metadata={"role": role})
    return field(default=default, metadata={"role": role})


@dataclass
class TrainSpec:
    # the data and the model; out_dir says only where the run is written
    dataset: str  # synthetic | cifar100 | cifar10 | imagefolder
    data_path: str  # synthetic: the .npz file; cifar100: the folder holding cifar-100-python/;
    # imagefolder: the folder holding train/ and val/ (ILSVRC2012)
    arch: str
    out_dir: str = field(metadata={"how": True})
    download: bool = False  # cifar100 only
    verify_checksums: bool = True  # cifar100 only; off only for hand-made test files
    image_size: int = 224  # imagefolder: RandomResizedCrop / center-crop size
    eval_resize: int = 256  # imagefolder: evaluation images are resized to this, then center-cropped
    # generation 0 is the patriarch; m >= 1 a student of generation m-1
    generation: int = 0
    teacher: str | None = _only("student")  # the teacher's model.pt (its bytes enter the digest)
    loss: str = _only("patriarch", "ce")  # the patriarch's loss: a name of tkd.training.losses.PATRIARCH_LOSSES
    loss_params: dict = _only("patriarch", factory=dict)  # its parameters (epsilon | beta | eta, k)
    lam: float = _only("student", 0.6)  # weight of CE against KL to the teacher (Eq. 2)
    temperature: float = _only("student", 1.0)
    student_init: str = _only("student", "random")  # random | teacher
    # recipe (docs/paper.md: standard CIFAR recipes, not confirmed for the paper)
    epochs: int = 164
    batch_size: int = 128
    lr: float = 0.1
    lr_reference_batch: int = 0  # > 0: the lr is for this batch and scales linearly (lr x batch / ref)
    lr_milestones: list = field(default_factory=lambda: [0.5, 0.75])  # fractions of epochs
    lr_gamma: float = 0.1
    weight_decay: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = False
    # execution; the fields marked _how (how the job runs) stay out of the digest
    seed: int = 0  # with the generation, fixes init, data order and augmentation
    device: str = _how("auto")  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast and channels_last for training on CUDA; ignored on CPU
    compile: str = _how("auto")  # torch.compile the step: auto (CUDA only, with CUDA graphs) | on | off
    deterministic: bool = False
    checkpoint_every: int = _how(1)  # epochs between resume states
    eval_every: int = 1  # epochs between test evaluations (the last is always evaluated)
    threads: int = _how(0)  # CPU threads for torch (split over processes); 0 keeps torch's default
    processes: int = _how(0)  # DDP processes; 0: one per visible CUDA device (all GPUs of a SLURM job), 1 on CPU
    workers: int | None = _how(None)  # imagefolder: DataLoader workers per process; None: CPUs per process - 1
    tensorboard: bool = _how(False)  # training curves as TensorBoard event files in the run directory (tkd.training.curves)

    def __post_init__(self) -> None:
        self.compile = switch(self.compile, "compile", auto=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainSpec":
        """A validated spec; the keys are the fields, unknown or missing ones are one error."""
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a mapping, not {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise SpecError(f"unknown spec key {unknown[0]!r}; known keys: {sorted(names)}")
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.name not in data and f.default is dataclasses.MISSING
                         and f.default_factory is dataclasses.MISSING)
        if missing:
            raise SpecError(f"spec key {missing[0]!r} is required")
        spec = cls(**data)
        spec.validate()
        return spec

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def role(self) -> str:
        return "patriarch" if self.generation == 0 else "student"

    def record(self) -> dict[str, Any]:
        """The spec as its run directory records it: without the fields of the other role (a
        student has no loss of its own: its lineage carries the patriarch's)."""
        other = STUDENT_FIELDS if self.role == "patriarch" else PATRIARCH_FIELDS
        return {k: v for k, v in self.to_dict().items() if k not in other}

    def digest(self) -> str:
        """A hash of every field that shapes this run's result (:data:`RESULT_FIELDS` of its role);
        the teacher by content."""
        d = {k: v for k, v in self.record().items() if k in RESULT_FIELDS}
        if self.teacher:
            d["teacher"] = _file_sha256(self.teacher)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Check every value (no file is opened: see :meth:`check_files`)."""
        from .archs import ARCHS
        from .data import DATASET_KINDS

        def need(ok: bool, key: str, rule: str) -> None:
            if not ok:
                raise SpecError(f"{key}={getattr(self, key)!r} is invalid: {rule}")

        def is_int(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        need(self.dataset in DATASET_KINDS, "dataset", f"choose one of {list(DATASET_KINDS)}")
        need(self.arch in ARCHS, "arch", f"choose one of {sorted(ARCHS)}")
        need(isinstance(self.data_path, str) and bool(self.data_path), "data_path", "a path")
        need(is_int(self.generation) and self.generation >= 0, "generation", "an integer >= 0")
        if self.generation > 0:
            need(bool(self.teacher), "teacher", f"generation {self.generation} needs the model of "
                 f"generation {self.generation - 1} as its teacher")
        need(isinstance(self.loss, str), "loss", "a loss name")
        need(isinstance(self.loss_params, dict), "loss_params", "a mapping of parameter names to values")
        need(is_num(self.lam) and 0 <= self.lam <= 1, "lam", "0 <= lam <= 1")
        need(is_num(self.temperature) and self.temperature > 0, "temperature", "temperature > 0")
        need(self.student_init in ("random", "teacher"), "student_init", "random or teacher")
        need(is_int(self.epochs) and self.epochs >= 1, "epochs", "an integer >= 1")
        need(is_int(self.batch_size) and self.batch_size >= 1, "batch_size", "an integer >= 1")
        need(is_num(self.lr) and self.lr > 0, "lr", "lr > 0")
        need(isinstance(self.lr_milestones, list) and all(is_num(m) and 0 < m < 1 for m in self.lr_milestones),
             "lr_milestones", "a list of fractions of the epochs, each in (0, 1)")
        need(is_num(self.lr_gamma) and 0 < self.lr_gamma <= 1, "lr_gamma", "0 < lr_gamma <= 1")
        need(is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", ">= 0")
        need(is_num(self.momentum) and 0 <= self.momentum < 1, "momentum", "0 <= momentum < 1")
        need(isinstance(self.nesterov, bool), "nesterov", "true or false")
        need(not self.nesterov or self.momentum > 0, "nesterov", "Nesterov needs momentum > 0")
        need(is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0")
        need(isinstance(self.device, str) and (self.device in ("auto", "cpu", "cuda")
             or self.device.startswith("cuda:")), "device", "auto, cpu, cuda or cuda:N")
        need(is_int(self.checkpoint_every) and self.checkpoint_every >= 1, "checkpoint_every", ">= 1")
        need(is_int(self.eval_every) and self.eval_every >= 1, "eval_every", ">= 1")
        need(is_int(self.threads) and self.threads >= 0, "threads", "an integer >= 0")
        need(is_int(self.processes) and self.processes >= 0, "processes", "an integer >= 0 (0: one per GPU)")
        need(self.workers is None or (is_int(self.workers) and self.workers >= 0), "workers", "null or an integer >= 0")
        need(is_int(self.image_size) and self.image_size >= 8, "image_size", "an integer >= 8")
        need(is_int(self.eval_resize) and self.eval_resize >= self.image_size, "eval_resize", ">= image_size")
        need(is_int(self.lr_reference_batch) and self.lr_reference_batch >= 0, "lr_reference_batch", "an integer >= 0")
        need(isinstance(self.tensorboard, bool), "tensorboard", "true or false")

    def check_files(self) -> None:
        """The data and the teacher are there (their contents are checked when they are loaded),
        and what the spec asks for is installed."""
        import importlib.util

        if self.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise SpecError("tensorboard=True needs the tensorboard package: pip install 'tkd[tensorboard]' "
                            "(or set execution.tensorboard: false)")
        if not (self.download and self.dataset == "cifar100") and not os.path.exists(self.data_path):
            raise SpecError(f"data_path={self.data_path!r} does not exist")
        if self.generation > 0 and not os.path.isfile(self.teacher):
            raise SpecError(f"teacher={self.teacher!r} does not exist")

    def scaled_lr(self) -> float:
        """The lr of this batch size (the linear scaling rule when ``lr_reference_batch`` is set)."""
        return self.lr * self.batch_size / self.lr_reference_batch if self.lr_reference_batch else self.lr

    def milestone_epochs(self) -> list[int]:
        return sorted({max(1, round(m * self.epochs)) for m in self.lr_milestones})


HOW_FIELDS = tuple(f.name for f in dataclasses.fields(TrainSpec) if f.metadata.get("how"))
RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(TrainSpec) if not f.metadata.get("how"))
PATRIARCH_FIELDS = tuple(f.name for f in dataclasses.fields(TrainSpec) if f.metadata.get("role") == "patriarch")
STUDENT_FIELDS = tuple(f.name for f in dataclasses.fields(TrainSpec) if f.metadata.get("role") == "student")


def run_spec(config: dict, run: dict, data_path: str) -> dict[str, Any]:
    """Every setting that shapes one run of the workflow's grid (the train rule's params, so a change
    reruns exactly the runs it touches): the data, the architecture's recipe, the execution
    settings that shape results, and the method's fields of the run's role — a patriarch's loss
    and its parameters, or a student's lam, temperature and initialisation."""
    ds, method = config["datasets"][run["dataset"]], config["methods"][run["method"]]
    spec = dict(dataset=ds["kind"], data_path=data_path, arch=run["arch"], generation=int(run["generation"]),
                seed=int(run["seed"]), **{k: v for k, v in config["execution"].items() if k in RESULT_FIELDS},
                **config["recipes"][config["archs"][run["arch"]]["recipe"]])
    if ds["kind"] == "cifar100":
        spec["download"] = ds["download"]
        if not ds["checksums"]:  # hand-made test files only (the data rule checks real ones)
            spec["verify_checksums"] = False
    if ds["kind"] == "imagefolder":
        spec.update(image_size=ds["image_size"], eval_resize=ds["eval_resize"])
    fields = {f.name for f in dataclasses.fields(TrainSpec)}
    if spec["generation"] == 0:  # a patriarch learns from labels: its loss, and the loss's parameters
        spec.update(loss=method["loss"], loss_params={k: v for k, v in method.items() if k not in fields})
    else:  # a student learns from its teacher, the rule's input
        spec.update({k: v for k, v in method.items() if k in STUDENT_FIELDS})
    return spec

_ON, _OFF = ("on", "true", "yes"), ("off", "false", "no")


def switch(value: Any, key: str, auto: bool = False) -> str:
    """An on/off value as users write it (YAML reads ``off`` as false): "on", "off" or "auto"."""
    word = str(value).strip().lower() if not isinstance(value, bool) else ("true" if value else "false")
    if word in _ON:
        return "on"
    if word in _OFF:
        return "off"
    if auto and word == "auto":
        return "auto"
    raise SpecError(f"{key}={value!r} is invalid: choose {'auto, ' if auto else ''}on or off")


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_set(items: list[str]) -> dict[str, Any]:
    """``key=value`` overrides; values are parsed as YAML (``lr=0.05``, ``nesterov=true``)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--set {item!r}: expected key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def load_spec(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> TrainSpec:
    from ..files import read_yaml

    data = read_yaml(path, "spec file")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"spec file {str(path)!r} must hold a mapping")
    data.update(overrides or {})
    return TrainSpec.from_dict(data)
