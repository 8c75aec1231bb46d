"""The grid a config asks for: the runs, chains and cells, blocks off while their data is null."""
import yaml

from helpers import REPO
from tkd import grid


def config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_the_paper_grid():
    c = config()
    runs = grid.runs(c)
    assert len(runs) == 4 * 5 * 3 * 6 and set(runs[0]) == set(grid.KEYS)
    assert len(grid.chains(runs)) == 4 * 5 * 3 and len(grid.cells(runs)) == 4
    assert grid.datasets_used(c, runs) == ["cifar10", "cifar100"], "the transfer target counts"
    assert grid.archs_used(c) == sorted(["resnet56_cifar", "resnet110_cifar", "densenet_bc_100_cifar",
                                         "densenet_bc_190_cifar"])


def test_a_block_is_off_while_its_data_path_is_null_or_it_is_disabled():
    c = config()
    c["datasets"]["ilsvrc2012"]["path"] = "/data/ilsvrc2012"
    runs = grid.runs(c)
    assert sum(r["dataset"] == "ilsvrc2012" for r in runs) == 1 * 2 * 1 * 4
    assert not grid.transfer_chains(c, [("ilsvrc2012", "resnet18", "ce", 0)]), "no probe for ImageFolder sources"
    c["grid"][1]["enabled"] = False
    assert all(r["dataset"] != "ilsvrc2012" for r in grid.runs(c))
    c["transfer"]["enabled"] = False
    assert grid.datasets_used(c, grid.runs(c)) == ["cifar100"]
