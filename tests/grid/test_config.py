"""Loading the workflow's config outside Snakemake: merged like --configfile, validated with the
schema's defaults, cross-checked; every problem names the file or key."""
import pytest
import yaml

from helpers import REPO
from tkd.grid.config import load
from tkd.errors import SpecError

CONFIG = str(REPO / "config.yaml")


def test_files_merge_in_order_and_defaults_are_filled(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"results": "elsewhere", "execution": {"threads": 2}}))
    config = load([CONFIG, str(site)])
    assert config["results"] == "elsewhere" and config["execution"]["threads"] == 2
    assert config["execution"]["device"] == "auto", "the rest of the section stays"
    assert config["methods"]["tsd-0.6"]["student_init"] == "random"
    assert config["grid"][0]["enabled"] is True, "a schema default"


@pytest.mark.parametrize("override,match", [
    ({"grid": [{"dataset": "cifar100", "archs": ["resnet56_cifar"], "methods": ["nope"], "seeds": [0],
                "generations": 1}]}, "grid\\[0\\].methods: 'nope' is not defined in methods"),
    ({"archs": {"resnet56_cifar": {"recipe": "fast"}}}, "archs.resnet56_cifar.recipe: 'fast'"),
    ({"transfer": {"dataset": "mnist"}}, "transfer.dataset: 'mnist'"),
    ({"execution": {"compile": "sometimes"}}, "config: "),
    ({"paper": {"delta": {"points": 1.0}}}, r"paper.delta.points: 1 is above the smallest gain the paper claims "
                                            r"\(0.9 points, C7\)"),
    ({"paper": {"tolerance": 0.95}}, "paper.delta.points: 0.95"),  # delta follows the tolerance by default
    ({"paper": {"boundary": 0.7}}, "config: "),
])
def test_bad_config_names_the_key(tmp_path, override, match):
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(override))
    with pytest.raises(SpecError, match=match):
        load([CONFIG, str(site)])


def test_missing_or_torn_files(tmp_path):
    with pytest.raises(SpecError, match="--configfile '/no/config.yaml' does not exist"):
        load(["/no/config.yaml"])
    torn = tmp_path / "torn.yaml"
    torn.write_text("grid: [unclosed")
    with pytest.raises(SpecError, match="torn.yaml"):
        load([CONFIG, str(torn)])
