"""One student training step as a DDP rank (run by tests/test_launch.py through torchrun).

BatchNorm is put in eval mode so that a sample's output does not depend on which
rank's batch it is in: then 2 ranks must take exactly the step that 1 process takes.
"""
import sys

import torch
import torch.distributed as dist

from tkd.training.archs import create
from tkd.training.data import make_synthetic
from tkd.training.loaders import DeviceLoader
from tkd.training.losses import patriarch_loss
from tkd.training.runtime import Ranks, make_train_step


def step(ranks: Ranks) -> dict:
    torch.manual_seed(0)
    data = make_synthetic(seed=0, train_per_class=2, test_per_class=1)
    model, teacher = create("resnet8_cifar", num_classes=100), create("resnet8_cifar", num_classes=100)
    model.eval(), teacher.eval()
    net = model
    if ranks.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-4, foreach=True)
    loader = DeviceLoader(data.train, 64, torch.device("cpu"), [0.5] * 3, [0.25] * 3, train=True, seed=3,
                          rank=ranks.rank, world=ranks.world)
    patriarch = make_train_step(model, opt, patriarch_loss("tsd", 100, eta=0.6), None, 0.6, 1.0, amp=False)
    student = make_train_step(model, opt, None, teacher, 0.6, 2.0, amp=False)
    batches = loader.epoch(0)
    for s in (patriarch, student, patriarch):
        s(*next(batches))
    return net.state_dict()


if __name__ == "__main__":
    ranks = Ranks.from_env()
    dist.init_process_group("gloo", rank=ranks.rank, world_size=ranks.world)
    state = step(ranks)
    if ranks.main:
        torch.save(state, sys.argv[1])
    dist.barrier()  # neither rank leaves the group while the other may still use it
    dist.destroy_process_group()
