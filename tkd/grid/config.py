"""The workflow's config outside Snakemake: load, validate and cross-check it.

The Snakefile validates ``config.yaml`` against ``tkd/grid/schemas/config.schema.yaml`` and
then calls :func:`check`; the commands that read a results folder (``tkd status``,
``tkd tables``, ``tkd slurm-check``) call :func:`load`, which does both, the same way.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import SpecError

PACKAGE = Path(str(resources.files("tkd")))
SCHEMA = PACKAGE / "grid" / "schemas" / "config.schema.yaml"  # package data: the commands work from a wheel
DEFAULT = PACKAGE / "grid" / "config.yaml"  # the repository's config.yaml is a link to it
BASE = "config.yaml"  # the Snakefile's `configfile:`, which every --configfile is laid over


def merge(base: dict, over: dict) -> dict:
    """``over`` laid on ``base`` as Snakemake lays a second ``--configfile`` on the first."""
    for k, v in over.items():
        base[k] = merge(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def base_config() -> Path:
    """The config the Snakefile starts from: ./config.yaml where one is (Snakemake reads it from the
    working directory), else the packaged one (the repository's)."""
    return Path(BASE) if Path(BASE).is_file() else DEFAULT


def data_file(path: str) -> Path:
    """A data file the config names (paper.claims, paper.reported): as given where it exists, else
    the packaged one that the default ``tkd/...`` path names (from an installed wheel)."""
    given = Path(path)
    if given.is_file() or given.is_absolute() or given.parts[:1] != ("tkd",):
        return given
    return PACKAGE.joinpath(*given.parts[1:])


def load(configfiles: list[str], base: bool = True) -> dict:
    """Config files merged in order over the Snakefile's ``config.yaml`` (``base``), as
    ``snakemake --configfile`` lays them, then validated (defaults filled in) and cross-checked."""
    from ..files import read_yaml

    config: dict = {}
    for f in ([str(base_config())] if base else []) + list(configfiles):
        if not Path(f).is_file():
            raise SpecError(f"--configfile {f!r} does not exist")
        data = read_yaml(f, "config file") or {}
        if not isinstance(data, dict):
            raise SpecError(f"config file {f!r} must hold a mapping")
        merge(config, data)
    validate(config)
    check(config)
    return config


def validate(config: dict) -> None:
    """Against the JSON schema, filling in its defaults (as the Snakefile does)."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate as schema_validate

    try:
        schema_validate(config, str(SCHEMA))
    except WorkflowError as err:
        raise SpecError(f"config: {str(err).strip().splitlines()[0]}") from None


def check(config: dict) -> None:
    """What the schema cannot say: names that must refer to other sections, or to tkd's registries."""
    from ..training.archs import ARCHS

    for arch, a in config["archs"].items():
        if arch not in ARCHS:
            raise SpecError(f"archs.{arch}: no such architecture; tkd builds {sorted(ARCHS)}")
        if a["recipe"] not in config["recipes"]:
            raise SpecError(f"archs.{arch}.recipe: {a['recipe']!r} is not defined in recipes")
    for name, ds in config["datasets"].items():
        if ds["kind"] == "imagefolder" and ds["eval_resize"] < ds["image_size"]:
            raise SpecError(f"datasets.{name}.eval_resize: {ds['eval_resize']} is smaller than "
                            f"image_size {ds['image_size']}; the center crop needs eval_resize >= image_size")
    _check_delta(config["paper"])
    transfer = config["transfer"]
    if transfer["enabled"] and transfer["dataset"] not in config["datasets"]:
        raise SpecError(f"transfer.dataset: {transfer['dataset']!r} is not defined in datasets")
    for i, block in enumerate(config["grid"]):
        seeds = block["seeds"]
        if isinstance(seeds, dict) and seeds["max"] < seeds["start"]:
            raise SpecError(f"grid[{i}].seeds.max: {seeds['max']} is below start {seeds['start']}")
        if block["dataset"] not in config["datasets"]:
            raise SpecError(f"grid[{i}].dataset: {block['dataset']!r} is not defined in datasets")
        for arch in block["archs"]:
            if arch not in ARCHS:
                raise SpecError(f"grid[{i}].archs: {arch!r} is no architecture of tkd; choose one of {sorted(ARCHS)}")
        for key, section in (("archs", "archs"), ("methods", "methods")):
            for name in block[key]:
                if name not in config[section]:
                    raise SpecError(f"grid[{i}].{key}: {name!r} is not defined in {section}")


def _check_delta(paper: dict) -> None:
    """The smallest effect worth claiming (delta) must not exceed a gain the paper itself claims:
    that claim's own effect would be called negligible."""
    import csv

    delta = paper["tolerance"] if paper["delta"]["points"] is None else paper["delta"]["points"]
    path = data_file(paper["claims"])
    if not path.is_file():
        return  # the rules that read it name it as an input: Snakemake reports it missing
    with path.open() as f:
        sized = [(min(abs(float(r["claimed_low"])), abs(float(r["claimed_high"]))), r["claim"])
                 for r in csv.DictReader(f) if r.get("claimed_low") and r.get("quantity") != "mean_top1_prob"]
    if sized and delta > min(sized)[0]:
        size, claim = min(sized)
        raise SpecError(f"paper.delta.points: {delta:g} is above the smallest gain the paper claims ({size:g} points, "
                        f"{claim}); a smallest effect worth claiming must not call the paper's own claim negligible")
