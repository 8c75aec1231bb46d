"""Training throughput: the tkd trainer's step against the standard recipe, same model, batch, device.

Standard recipe: a torchvision-style Dataset (PIL image, RandomCrop(32, padding=4),
RandomHorizontalFlip, ToTensor, Normalize) behind a DataLoader with workers, fp32, plain SGD.
tkd: the data set lives on the device and is cropped/flipped/normalised there in batched tensor
ops (tkd.data.DeviceLoader); the step is tkd.train.make_train_step (foreach SGD; bf16 autocast
and channels_last on CUDA). Both run in this one process; prints images/s of each and the ratio,
then the same as JSON on the last line.

    python benchmarks/throughput.py --arch resnet56_cifar --batch-size 128
    python benchmarks/throughput.py --arch densenet_bc_100_cifar --batch-size 64

Not done yet (issue 6): torch.compile / CUDA graphs; no GPU figures were measured so far.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F


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


def timed(batches, step, warmup, steps, device, batch_size):
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
    return steps * batch_size / (time.perf_counter() - t0)


def main() -> None:
    from tkd.data import DeviceLoader, channel_stats, make_synthetic
    from tkd.losses import cross_entropy
    from tkd.models import create
    from tkd.train import make_train_step, resolve_device

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet56_cifar")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)
    n_needed = (args.steps + args.warmup + 1) * args.batch_size
    data = make_synthetic(seed=0, train_per_class=max(1, -(-n_needed // 100)), test_per_class=1).train
    mean, std = channel_stats(data.images)

    def standard():
        torch.manual_seed(0)
        model = create(args.arch, num_classes=100).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

        def step(x, y):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        loader = standard_loader(data.images, data.fine, args.batch_size, args.workers, mean, std,
                                 device.type == "cuda")
        return timed(loader, step, args.warmup, args.steps, device, args.batch_size)

    def tkd():
        torch.manual_seed(0)
        amp = device.type == "cuda"
        model = create(args.arch, num_classes=100).to(device)
        if amp:
            model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, foreach=True)
        step = make_train_step(model, opt, cross_entropy, None, 0.0, 1.0, amp)
        loader = DeviceLoader(data, args.batch_size, device, mean, std, train=True)
        return timed(loader.epoch(0), step, args.warmup, args.steps, device, args.batch_size)

    std_ips, tkd_ips = standard(), tkd()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{args.arch}, batch {args.batch_size}, {name}: standard recipe {std_ips:.0f} img/s, "
          f"tkd {tkd_ips:.0f} img/s, ratio {tkd_ips / std_ips:.2f}x")
    print(json.dumps({"arch": args.arch, "batch_size": args.batch_size, "device": name,
                      "torch_threads": torch.get_num_threads(), "standard_img_s": round(std_ips, 1),
                      "tkd_img_s": round(tkd_ips, 1), "ratio": round(tkd_ips / std_ips, 3)}))


if __name__ == "__main__":
    main()
