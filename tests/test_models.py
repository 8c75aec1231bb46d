import pytest
import timm
import torch

import tkd.models as models


@pytest.mark.parametrize("name,count", [
    ("densenet_bc_100_cifar", 800_032),
    ("densenet_bc_190_cifar", 25_821_620),
    ("resnet56_cifar", 858_868),
    ("resnet110_cifar", 1_733_812),
])
def test_parameter_counts_with_100_classes(name, count):
    model = timm.create_model(name, num_classes=100)
    assert sum(p.numel() for p in model.parameters()) == count


@pytest.mark.parametrize("name", ["resnet20_cifar", "resnet32_cifar", "densenet_bc_100_cifar"])
def test_forward_cifar_shape_and_registry(name):
    assert name in timm.list_models("*_cifar")
    model = models.create(name, num_classes=100).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_densenet_uses_timm_class_with_cifar_stem():
    from timm.models.densenet import DenseNet

    model = models.create("densenet_bc_100_cifar", num_classes=100)
    assert isinstance(model, DenseNet)
    conv0 = model.features.conv0
    assert (conv0.kernel_size, conv0.stride, conv0.out_channels) == ((3, 3), (1, 1), 24)
    assert isinstance(model.features.pool0, torch.nn.Identity)


def test_resnet18_from_timm():
    model = models.create("resnet18", num_classes=10)
    assert model.fc.out_features == 10


def test_unknown_arch_lists_names():
    with pytest.raises(ValueError, match="resnet56_cifar"):
        models.create("resnet57_cifar", num_classes=100)


@pytest.mark.parametrize("name", ["resnet8_tiny_cifar", "resnet56_cifar"])
def test_trainer_builds_cifar_resnets_without_timm_exactly_as_timm_does(name):
    from tkd import archs

    torch.manual_seed(0)
    direct = archs.create(name, num_classes=100)
    torch.manual_seed(0)
    registered = timm.create_model(name, num_classes=100)
    a, b = direct.state_dict(), registered.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 32, 32)
    direct.eval(), registered.eval()
    with torch.no_grad():
        assert torch.equal(direct(x), registered(x))
        feats = direct.forward_head(direct.forward_features(x), pre_logits=True)
    assert feats.shape == (2, direct.num_features)


def test_a_training_job_does_not_import_timm():
    """timm pulls in torchvision: start-up time in every CIFAR job."""
    import subprocess
    import sys

    code = ("import sys, tkd.train, tkd.archs; tkd.archs.create('resnet20_cifar', 100); "
            "print(sorted(m for m in ('timm', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
