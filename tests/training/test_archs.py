"""The architecture registry: parameter counts, shapes, the initialisation recipes, and the
schema's list of architectures equal to the registry's."""
import pytest
import torch
import yaml

from helpers import REPO
from tkd.training import archs


@pytest.mark.parametrize("name,count", [
    ("densenet_bc_100_cifar", 800_032),
    ("densenet_bc_190_cifar", 25_821_620),
    ("resnet56_cifar", 858_868),
    ("resnet110_cifar", 1_733_812),
])
def test_parameter_counts_with_100_classes(name, count):
    model = archs.create(name, num_classes=100)
    assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize("name", ["resnet20_cifar", "resnet32_cifar", "densenet_bc_100_cifar"])
def test_forward_cifar_shape(name):
    model = archs.create(name, num_classes=100).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_densenet_uses_timm_class_with_cifar_stem():
    from timm.models.densenet import DenseNet

    model = archs.create("densenet_bc_100_cifar", num_classes=100)
    assert isinstance(model, DenseNet)
    conv0 = model.features.conv0
    assert (conv0.kernel_size, conv0.stride, conv0.out_channels) == ((3, 3), (1, 1), 24)
    assert isinstance(model.features.pool0, torch.nn.Identity)


def test_resnet18_has_torchvisions_initialisation():
    """timm zero-initialises the last BatchNorm of every block by default; torchvision and He et al.
    (the paper's ResNet-18 baseline) do not."""
    model = archs.create("resnet18", num_classes=10)
    assert model.fc.out_features == 10
    last_bns = [block.bn2.weight for layer in (model.layer1, model.layer2, model.layer3, model.layer4)
                for block in layer]
    assert all(torch.all(w == 1) for w in last_bns)


def test_unknown_arch_lists_names():
    with pytest.raises(ValueError, match="resnet56_cifar"):
        archs.create("resnet57_cifar", num_classes=100)


def test_the_config_knows_the_architectures_from_the_registry_alone():
    """The registry is the one list: a config naming another architecture fails, naming the key
    and listing the registry's names (the schema only checks the spelling)."""
    from tkd.grid.config import check, load
    from tkd.errors import SpecError

    schema = yaml.safe_load((REPO / "tkd/grid/schemas/config.schema.yaml").read_text())
    assert "enum" not in schema["$defs"]["arch_name"]
    config = load([])
    config["grid"][0]["archs"] = ["resnet57_cifar"]
    with pytest.raises(SpecError, match=r"grid\[0\]\.archs: 'resnet57_cifar'.*resnet56_cifar"):
        check(config)


def test_a_training_job_does_not_import_timm():
    """timm pulls in torchvision: start-up time in every CIFAR job."""
    import subprocess
    import sys

    code = ("import sys, tkd.training.train, tkd.training.archs; tkd.training.archs.create('resnet20_cifar', 100); "
            "print(sorted(m for m in ('timm', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
