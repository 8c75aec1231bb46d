"""Every command's default output fits a 100-column terminal (the test's own folders counted as a
short path: a user's are theirs); the claims table folds the rows this grid cannot run. `tkd plan`
is held to the same in tests/statistics/test_plan.py, `tkd claims` on the paper's grid in
tests/statistics/test_claims.py (fixed seeds) and test_not_reproduced.py (as waves), the demo's printed tables in
tests/test_workflow.py, `tkd status` with every state in tests/grid/test_status.py, `tkd train` and
`tkd evaluate` in tests/training/test_train.py, `tkd slurm-check` in tests/grid/test_slurm.py."""
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO, tkd, too_wide
from tkd.cli import main
from tkd.grid.config import load
from tkd.statistics import simulate

COMMANDS = ("train", "evaluate", "make-synthetic", "claims", "status", "tables", "plan", "slurm-check")


@pytest.mark.parametrize("command", ("", *COMMANDS))
def test_help_fits(command):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # as a terminal of 100 columns says it
    out = subprocess.run([sys.executable, "-m", "tkd", *filter(None, [command]), "--help"], cwd=REPO,
                         capture_output=True, text=True, env=dict(env, COLUMNS="100"))
    assert out.returncode == 0 and not too_wide(out.stdout), out.stdout


def _runs(tmp_path, config_files, seeds, rng):
    config = load([str(REPO / f) for f in config_files])
    runs = simulate.grid_runs(config, simulate.flat(72.0), simulate.REGIMES["realistic"], np.random.default_rng(rng),
                              seeds=seeds)
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    return path


def _claims(capsys, *args):
    """`tkd claims` in this process (so that a mutation test's mutant is the code it runs): its exit
    status, what it printed and what it said on stderr."""
    code = main(["claims", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


DEMO = REPO / "workflow" / "demo.yaml"


def test_claims_fold_the_rows_this_grid_cannot_run_and_say_why_an_interval_is_wide(tmp_path, capsys):
    """The demo's grid (one synthetic cell, three seeds) against the paper's claims: a table of
    the rows it can judge, the rest in a sentence each, and "few seeds" beside every wide interval."""
    path = _runs(tmp_path, ["config.yaml", "workflow/demo.yaml"], [0, 1, 2], 3)
    code, text, err = _claims(capsys, path, "--configfile", DEMO)
    assert code == 0, err
    assert not too_wide(text, tmp_path), too_wide(text, tmp_path)
    title, table, rest = text.split("\n\n", 2)
    assert title == "synthetic / resnet8_tiny_cifar (3 seeds)"
    assert "not run" not in table and "cifar100" not in table and "C7" not in table
    assert "claim rows need data sets or architectures this grid does not run: " in rest
    assert "C7 (resnet18)" in " ".join(rest.split())
    wide = [line for line in table.splitlines()[2:] if line.endswith("few seeds")]
    assert wide and "few seeds: a t-interval of four seeds or fewer is wide." in rest


def test_make_synthetic_fits(tmp_path):
    """(`tkd train`'s and `tkd evaluate`'s output: tests/training/test_train.py.)"""
    out = tkd("make-synthetic", str(tmp_path / "d.npz"), "--train-per-class", "4", "--test-per-class", "2")
    assert out.returncode == 0 and out.stdout and not too_wide(out.stdout, tmp_path), out.stdout


def test_a_missing_runs_table_is_named_once():
    out = tkd("claims", "/nowhere/runs.csv")
    assert out.returncode == 2 and out.stderr.strip() == "tkd: error: runs table '/nowhere/runs.csv' does not exist"


def test_a_row_of_one_seed_says_so_in_a_word(tmp_path, capsys):
    """A partly finished grid: rows with one seed have no spread, so no interval and no seeds needed;
    the table says "?" and "one seed" in its columns, not a sentence that breaks them."""
    import pandas as pd

    path = _runs(tmp_path, ["config.yaml", "workflow/demo.yaml"], [0, 1, 2], 3)
    runs = pd.read_csv(path)
    runs = runs[~((runs.method == "tsd") & (runs.seed > 0) & (runs.generation > 0))]  # tsd's students: one seed
    runs.to_csv(path, index=False)
    code, text, _ = _claims(capsys, path, "--configfile", DEMO)
    assert code == 0 and not too_wide(text, tmp_path), text
    lone = [line.split() for line in text.splitlines() if line.endswith(" one seed")]
    assert lone and all(words[-3:] == ["?", "one", "seed"] and words[-5] == "1" for words in lone), lone
    assert "one seed: no spread yet, so no interval and no seeds needed (?)." in " ".join(text.split())


def test_a_runs_table_of_another_config_names_the_configfile_it_needs(tmp_path, capsys):
    path = _runs(tmp_path, ["config.yaml", "workflow/demo.yaml"], [0, 1], 3)  # the demo's methods: ce, tsd, ...
    code, _, err = _claims(capsys, path)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "method 'tsd'" in err and "--configfile: none (config.yaml alone)" in err
    code, _, err = _claims(capsys, path, "--configfile", DEMO)
    assert code == 0, err


@pytest.mark.parametrize("text,looks", [("2,4", [2, 4]), ("3,5,9", [3, 5, 9]), ("1,4", "from at least 2"),
                                        ("4,4", "must rise"), ("6,4", "must rise"), ("4,x", "e.g. 4,6,8,10")])
def test_looks_are_seeds_that_rise_from_two(text, looks):
    import argparse

    from tkd.cli import _looks

    if isinstance(looks, list):
        assert _looks(text) == looks
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=looks):
            _looks(text)
    assert _looks("config") == "config"
