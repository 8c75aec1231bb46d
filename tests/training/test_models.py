"""Every architecture of the registry in timm's model registry, built exactly as tkd builds it."""
import pytest
import timm
import torch

import tkd.training.models  # noqa: F401  registers the entrypoints
from tkd.training.archs import ARCHS, create


def test_every_registry_entry_has_a_timm_entrypoint():
    ours = {name for name in ARCHS if ARCHS[name].family != "timm"}
    assert ours <= set(timm.list_models("*_cifar")) and ours == set(timm.list_models("*_cifar")) & set(ARCHS)


@pytest.mark.parametrize("name", ["resnet8_tiny_cifar", "resnet56_cifar", "densenet_bc_100_cifar"])
def test_timm_builds_what_tkd_builds(name):
    torch.manual_seed(0)
    direct = create(name, num_classes=100)
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


def test_no_pretrained_weights():
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("resnet56_cifar", pretrained=True)
