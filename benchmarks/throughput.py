"""Training throughput: the tkd trainer's step against the standard recipe, same model, batch, device.

Standard recipe: a torchvision-style Dataset (PIL image, RandomCrop(32, padding=4),
RandomHorizontalFlip, ToTensor, Normalize) behind a DataLoader with workers, fp32, plain SGD.
tkd: the data set lives on the device and is cropped/flipped/normalised there in batched tensor
ops (tkd.training.loaders.DeviceLoader); the step is tkd.training.runtime.make_train_step with the trainer's optimizer
(fused SGD on CUDA, foreach on CPU), bf16 autocast and channels_last on CUDA, and torch.compile
as the trainer chooses it (--compile auto: CUDA graphs on CUDA, eager on CPU). tkd is timed
eager too, so the gain of compilation shows on its own. All run in this one process; prints
images/s of each and the ratios, and on CUDA the peak GPU memory of each, then the same as JSON
on the last line (and in --json-out).

    python benchmarks/throughput.py --arch resnet56_cifar --batch-size 128
    python benchmarks/throughput.py --arch densenet_bc_100_cifar --batch-size 64
    python benchmarks/throughput.py --student        # the distillation step: teacher forward too
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tkd from this checkout, installed or not


def standard_loader(images, labels, batch_size, workers, mean, std, pin):
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize(mean, std)])

    class Cifar(Dataset):  # what torchvision.datasets.CIFAR100.__getitem__ does
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return tf(Image.fromarray(images[i])), int(labels[i])

    return DataLoader(Cifar(), batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                      pin_memory=pin, persistent_workers=workers > 0)


def timed(batches, step, warmup, steps, device, batch_size, peaks=None, name=None):
    """Images/s of ``steps`` steps after ``warmup``; the peak GPU memory (MiB) into ``peaks[name]``."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    it = iter(batches)
    for _ in range(warmup):
        step(*next(it))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(*next(it))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        if peaks is not None:
            peaks[name] = max(peaks.get(name, 0), round(torch.cuda.max_memory_allocated(device) / 2**20))
    return steps * batch_size / (time.perf_counter() - t0)


def main() -> None:
    from tkd.training.archs import create
    from tkd.training.data import make_synthetic
    from tkd.training.loaders import DeviceLoader, channel_stats
    from tkd.training.losses import cross_entropy
    from tkd.training.runtime import compile_mode, make_optimizer, make_train_step, prepare_model, resolve_device

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet56_cifar")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", default="auto", choices=["auto", "on", "off"], help="tkd's torch.compile setting")
    ap.add_argument("--student", action="store_true", help="time the student step (with the teacher's forward)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians are reported")
    ap.add_argument("--json-out", help="also write the JSON line here")
    args = ap.parse_args()
    device = resolve_device(args.device)
    n_needed = (args.steps + args.warmup + 11) * args.batch_size  # + the compiled warm-up
    data = make_synthetic(seed=0, train_per_class=max(1, -(-n_needed // 100)), test_per_class=1).train
    mean, std = channel_stats(data.images)
    peaks: dict[str, int] = {}  # peak GPU memory (MiB) of each variant

    def standard():
        torch.manual_seed(0)
        model = create(args.arch, num_classes=100).to(device)
        teacher = create(args.arch, num_classes=100).to(device).eval() if args.student else None
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

        def step(x, y):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            logits = model(x)
            if teacher is None:
                loss = F.cross_entropy(logits, y)
            else:  # lambda CE + (1 - lambda) KL(teacher || student), as written in most KD code
                with torch.no_grad():
                    soft = F.softmax(teacher(x), 1)
                loss = 0.6 * F.cross_entropy(logits, y) + 0.4 * F.kl_div(F.log_softmax(logits, 1), soft,
                                                                         reduction="batchmean")
            opt.zero_grad()
            loss.backward()
            opt.step()

        loader = standard_loader(data.images, data.fine, args.batch_size, args.workers, mean, std,
                                 device.type == "cuda")
        return timed(loader, step, args.warmup, args.steps, device, args.batch_size, peaks, "standard")

    def tkd(mode):
        torch.manual_seed(0)
        amp = device.type == "cuda"
        model = prepare_model(create(args.arch, num_classes=100), device, amp)
        teacher = None
        if args.student:  # as the trainer holds it: frozen, eval mode, same layout
            teacher = prepare_model(create(args.arch, num_classes=100), device, amp).eval().requires_grad_(False)
        opt = make_optimizer(model, 0.1, 0.9, 1e-4, False, device)
        step = make_train_step(model, opt, None if args.student else cross_entropy, teacher, 0.6, 1.0, amp, mode)
        loader = DeviceLoader(data, args.batch_size, device, mean, std, train=True)
        warmup = args.warmup + (10 if mode else 0)  # compilation and CUDA-graph recording happen here
        return timed(loader.epoch(0), step, warmup, args.steps, device, args.batch_size, peaks, mode or "eager")

    mode = compile_mode(args.compile, device)
    rounds = []  # interleaved, so a slow spell of a shared machine hits every variant alike
    for _ in range(args.repeats):
        standard_ips, eager_ips = standard(), tkd(None)  # not `std`: that is the channel std the loaders use
        rounds.append((standard_ips, eager_ips, tkd(mode) if mode else eager_ips))
    std_ips, eager_ips, fast_ips = (statistics.median(r[i] for r in rounds) for i in range(3))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    what = "student step" if args.student else "patriarch step"
    print(f"{args.arch}, batch {args.batch_size}, {what}, {name}: standard recipe {std_ips:.0f} img/s, "
          f"tkd eager {eager_ips:.0f} img/s ({eager_ips / std_ips:.2f}x), "
          f"tkd {mode or 'eager'} {fast_ips:.0f} img/s, ratio {fast_ips / std_ips:.2f}x")
    result = {"arch": args.arch, "batch_size": args.batch_size, "step": what, "device": name,
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "compile": mode or "eager",
              "standard_img_s": round(std_ips, 1), "tkd_eager_img_s": round(eager_ips, 1),
              "tkd_img_s": round(fast_ips, 1), "ratio": round(fast_ips / std_ips, 3), "repeats": args.repeats,
              "ratio_per_round": [round(f / s, 3) for s, _, f in rounds], "peak_mib": peaks}
    print(json.dumps(result))
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
