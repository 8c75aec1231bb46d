"""Every reader of a runs table refuses a malformed one with one message that names its lines, and
exit code 2 from the command line: keys (test_not_reproduced.py) and, here, values, methods,
columns and empty files; a run that has not finished stays "not run"."""
import numpy as np
import pandas as pd
import pytest

from helpers import tkd
from tkd.statistics import simulate
from tkd.statistics.claims import claims_table
from tkd.cli import main
from tkd.errors import SpecError


@pytest.fixture(scope="module")
def good(config):
    """A small paper grid (two architectures, three seeds) with every column real runs have."""
    small = dict(config, grid=[dict(config["grid"][0], archs=config["grid"][0]["archs"][:2], seeds=[0, 1, 2])])
    return simulate.grid_runs(small, simulate.flat(72.0), simulate.REGIMES["realistic"], np.random.default_rng(0))


def at(runs, line, **values):
    """``runs`` with ``values`` set on the CSV line ``line`` (the header is line 1)."""
    runs = runs.copy()
    for column, value in values.items():
        runs[column] = runs[column].astype(object)
        runs.loc[runs.index[line - 2], column] = value
    return runs


CASES = {  # name: (edit, the message's words)
    "unknown method in one row": (lambda r: at(r, 3, method="tsd-0.66"),
                                  "method 'tsd-0.66' on line 3 is not one of"),
    "a whole chain under an unknown method": (
        lambda r: r.assign(method=r.method.where(~((r.method == "ls") & (r.seed == 1)), "label-smoothing")),
        "method 'label-smoothing' on line"),
    "text in an accuracy": (lambda r: at(r, 4, test_top1="n/a"), "test_top1 is not a finite number on line 4"),
    "NaN in an accuracy": (lambda r: at(r, 5, test_top1_b=np.nan), "test_top1_b is not a finite number on line 5"),
    "an infinite accuracy": (lambda r: at(r, 6, test_top5=np.inf), "test_top5 is not a finite number on line 6"),
    "a negative accuracy": (lambda r: at(r, 7, test_top1_a=-3.0), "test_top1_a lies outside [0, 100] on line 7"),
    "an accuracy above 100": (lambda r: at(r, 8, test_top5_b=100.5), "test_top5_b lies outside [0, 100] on line 8"),
    "a probability above 1": (lambda r: at(r, 9, mean_top1_prob=1.2), "mean_top1_prob lies outside [0, 1] on line 9"),
    "a missing half column": (lambda r: r.drop(columns="test_top1_b"), "the column 'test_top1_b' is missing"),
    "a header-only file": (lambda r: r.iloc[:0], "no runs"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_runs_table_is_refused_with_one_message(case, good, tmp_path, capsys):
    edit, words = CASES[case]
    path = tmp_path / "runs.csv"
    edit(good).to_csv(path, index=False)
    assert main(["claims", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    if case not in ("a header-only file",) and "method" not in words:  # the library refuses it too
        with pytest.raises(SpecError, match="runs table"):
            claims_table(edit(good))


def test_the_command_exits_2_on_a_malformed_table(good, tmp_path):
    path = tmp_path / "runs.csv"
    at(good, 4, test_top1="n/a").to_csv(path, index=False)
    out = tkd("claims", str(path))
    assert out.returncode == 2 and "test_top1 is not a finite number on line 4" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_many_bad_lines_are_named_with_a_count(good):
    bad = good.assign(test_top1=np.where(good.index % 2 == 0, np.nan, good.test_top1))
    with pytest.raises(SpecError, match=r"on line 2, 4, 6, 8, 10 and \d+ more"):
        claims_table(bad)


def test_a_run_not_finished_is_not_run_not_an_error(good, claims):
    """A run that has not finished is absent from runs.csv: the rows that need it read "not run"."""
    table = claims_table(good[good.method != "tsd-0.7"], claims=claims, plan=False)
    assert table.verdict.isin(["not run", "inconclusive", "supported", "negligible", "contradicted"]).all()
    c4 = table[table.claim == "C4"]
    assert (c4.verdict == "not run").all() and c4.why.str.contains("no method of the grid matches").all()


def test_the_methods_are_the_configs(good, tmp_path, capsys):
    """A runs table of another config's methods is refused against config.yaml and accepted with
    that config laid over it (--configfile, as the other commands)."""
    renamed = good.assign(method=good.method.replace({"tsd-0.6": "tsd"}))
    path = tmp_path / "runs.csv"
    renamed.to_csv(path, index=False)
    assert main(["claims", str(path)]) == 2 and "method 'tsd'" in capsys.readouterr().err
    assert main(["claims", str(path), "--configfile", "workflow/demo.yaml"]) == 0
    assert "C3" in capsys.readouterr().out


def test_the_transfer_table_is_checked_too(good, claims):
    transfer = pd.DataFrame(dict(dataset="cifar100", arch="resnet56_cifar", method="ce", seed=0, generation=0,
                                 probe_top1=[101.0]))
    with pytest.raises(SpecError, match="transfer table: probe_top1 lies outside"):
        claims_table(good, transfer=transfer, claims=claims, plan=False)
