"""Statistics, verdicts and tables on hand-made runs with answers worked out by hand."""
import math

import pandas as pd
import pytest

from tkd import paper

T_975_DF2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom (tables)


def runs_frame():
    rows = []
    for seed, (a0, a1, b0, b1) in enumerate([(70, 73, 68, 74), (72, 74, 69, 76), (74, 75, 70, 78)]):
        rows += [dict(dataset="cifar100", arch="resnet56_cifar", method="ce", seed=seed, generation=0, test_top1=a0,
                      test_top5=90.0),
                 dict(dataset="cifar100", arch="resnet56_cifar", method="ce", seed=seed, generation=1, test_top1=a1,
                      test_top5=91.0),
                 dict(dataset="cifar100", arch="resnet56_cifar", method="tsd-0.6", seed=seed, generation=0,
                      test_top1=b0, test_top5=89.0),
                 dict(dataset="cifar100", arch="resnet56_cifar", method="tsd-0.6", seed=seed, generation=1,
                      test_top1=b1, test_top5=92.0)]
    rows.append(dict(dataset="cifar100", arch="resnet110_cifar", method="ce", seed=0, generation=0, test_top1=73.5,
                     test_top5=92.0))
    return pd.DataFrame(rows)


def reported_frame(rows):
    df = pd.DataFrame(rows)
    for col, default in [("upper", math.nan), ("source", "test"), ("note", ""), ("generation", "0")]:
        if col not in df:
            df[col] = default
    df["generation"] = df["generation"].astype(str)
    return df[paper.REPORTED_COLUMNS]


def test_cell_stats_mean_std_and_t_interval():
    cells = paper.cell_stats(runs_frame())
    c = cells[(cells.method == "ce") & (cells.generation == "0") & (cells.arch == "resnet56_cifar")].iloc[0]
    assert (c["n"], c["mean"], c["std"]) == (3, 72.0, 2.0)
    half = T_975_DF2 * 2.0 / math.sqrt(3)
    assert c["ci_low"] == pytest.approx(72 - half) and c["ci_high"] == pytest.approx(72 + half)


def test_best_generation_is_the_highest_mean():
    cells = paper.cell_stats(runs_frame())
    best = cells[(cells.generation == "best") & (cells.arch == "resnet56_cifar")].set_index("method")
    assert best.loc["ce", "best_of"] == "1" and best.loc["ce", "mean"] == 74.0
    assert best.loc["tsd-0.6", "best_of"] == "1" and best.loc["tsd-0.6", "mean"] == 76.0


def test_single_seed_has_no_interval():
    cells = paper.cell_stats(runs_frame())
    c = cells[(cells.arch == "resnet110_cifar") & (cells.generation == "0")].iloc[0]
    assert c["n"] == 1 and math.isnan(c["std"]) and math.isnan(c["ci_low"]) and math.isnan(c["ci_high"])


@pytest.mark.parametrize("value,upper,tol,expected", [
    (73.72, math.nan, 0.0, "reproduced"),        # inside [67.03, 76.97]
    (80.0, math.nan, 0.5, "not reproduced"),     # outside, beyond tolerance
    (77.2, math.nan, 0.5, "reproduced"),         # outside the interval, within the tolerance of its edge
    (60.0, 66.0, 0.0, "not reproduced"),         # a range entirely below
    (60.0, 68.0, 0.0, "reproduced"),             # a range that meets the interval
    (math.nan, math.nan, 0.0, "no reported value"),
])
def test_verdicts_with_an_interval(value, upper, tol, expected):
    half = T_975_DF2 * 2.0 / math.sqrt(3)
    v, _ = paper.verdict(72.0, 72 - half, 72 + half, 3, value, upper, tol)
    assert v == expected


def test_single_seed_verdict_uses_tolerance_and_says_so():
    v, why = paper.verdict(73.5, math.nan, math.nan, 1, 73.72, tolerance=0.5)
    assert v == "reproduced" and "no interval" in why
    v, _ = paper.verdict(73.5, math.nan, math.nan, 1, 75.0, tolerance=0.5)
    assert v == "not reproduced"


def test_compare_converts_errors_and_flags_missing_cells():
    reported = reported_frame([
        dict(dataset="cifar100", arch="resnet56_cifar", method="ce", generation="0", metric="top1_err", value=27.0),
        dict(dataset="cifar100", arch="resnet56_cifar", method="ce", generation="0", metric="top1_acc", value=80.0),
        dict(dataset="cifar100", arch="resnet110_cifar", method="ce", generation="0", metric="top1_acc", value=73.7),
        dict(dataset="cifar100", arch="densenet_bc_100_cifar", method="ce", generation="0", metric="top1_err",
             value=22.27),
        dict(dataset="cifar100", arch="", method="tsd-0.6", generation="best", metric="top1_acc", value=73.72),
    ])
    out = paper.compare(runs_frame(), reported, tolerance=0.5)
    err, acc, single, missing, unnamed = (out.iloc[i] for i in range(5))
    assert err["ours"] == pytest.approx(28.0) and err["verdict"] == "reproduced"
    half = T_975_DF2 * 2.0 / math.sqrt(3)
    assert err["ci_low"] == pytest.approx(28 - half) and err["diff"] == pytest.approx(1.0)
    assert acc["verdict"] == "not reproduced" and acc["diff"] == pytest.approx(-8.0)
    assert single["verdict"] == "reproduced" and single["n"] == 1 and "no interval" in single["why"]
    assert missing["verdict"] == "not run"
    assert unnamed["verdict"] == "not compared"


def test_gain_over_the_ce_patriarch():
    reported = reported_frame([dict(dataset="cifar100", arch="resnet56_cifar", method="tsd-0.6", generation="best",
                                    metric="top1_gain", value=1.0, upper=2.0)])
    row = paper.compare(runs_frame(), reported).iloc[0]
    assert row["ours"] == pytest.approx(76.0 - 72.0)  # best tsd generation minus ce generation 0
    assert row["ci_low"] < 4.0 < row["ci_high"]


def test_packaged_reported_numbers_are_exactly_those_of_the_notes():
    rep = paper.load_reported()
    assert sorted(rep.value.tolist()) == sorted([73.72, 71.5, 30.50, 29.60, 11.07, 10.11, 22.27, 17.18, 15.5,
                                                 1.0, 1.0])
    assert set(rep.metric) <= set(paper.METRICS)
    assert (rep.source != "").all()


def test_reported_file_with_a_bad_metric_names_it(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text(",".join(paper.REPORTED_COLUMNS) + "\ncifar100,x,ce,0,top1_accuracy,1,,s,n\n")
    with pytest.raises(ValueError, match="top1_accuracy"):
        paper.load_reported(f)


def _markdown_table(text, heading):
    block = text.split(heading)[1].split("\n\n")[1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block.strip().splitlines()]


def test_markdown_table_rows_columns_best_and_verdicts():
    reported = reported_frame([dict(dataset="cifar100", arch="resnet56_cifar", method="ce", generation="0",
                                    metric="top1_err", value=27.0)])
    runs = runs_frame()
    text = paper.render("tables.md.j2", tables=paper.generation_tables(runs, reported, 0.5),
                        comparison=paper.compare(runs, reported, 0.5).to_dict("records"), tolerance=0.5,
                        transfer_tables=[])
    table = _markdown_table(text, "## cifar100 / resnet56_cifar")
    assert table[0] == ["method", "gen 0", "gen 1", "best"]
    assert [r[0] for r in table[2:]] == ["ce", "tsd-0.6"]
    ce, tsd = table[2], table[3]
    assert ce[1].startswith("**72.00 ± 2.00 (n=3)**") and "paper 73.00" in ce[1] and "reproduced" in ce[1]
    assert tsd[2] == "**76.00 ± 2.00 (n=3)**" and tsd[3] == "**76.00 ± 2.00 (n=3)** [gen 1]"
    single = _markdown_table(text, "## cifar100 / resnet110_cifar")
    assert single[2][1] == "**73.50 (n=1)**"


def test_latex_and_html_render():
    runs = runs_frame()
    reported = paper.load_reported()
    ctx = dict(tables=paper.generation_tables(runs, reported), comparison=paper.compare(runs, reported).to_dict(
        "records"), tolerance=0.5, transfer_tables=[])
    tex = paper.render("tables.tex.j2", **ctx)
    assert r"\toprule" in tex and r"\textbf{76.00" in tex and "tsd-0.6" in tex.replace(r"\_", "_")
    html = paper.render("tables.html.j2", **ctx)
    assert html.count("<table>") == 3 and "<b>76.00" in html


def test_ensemble_columns_in_the_tables():
    runs = runs_frame()
    ens = pd.DataFrame([dict(dataset="cifar100", arch="resnet56_cifar", method=m, seed=s, kind=k, size=z, top1=v)
                        for m, base in (("ce", 70), ("tsd-0.6", 74)) for s in range(3)
                        for k, z, v in (("first", 1, base), ("first", 2, base + 2 + s), ("last", 2, base + 1))])
    tables = paper.generation_tables(runs, paper.load_reported(), ensembles=ens)
    t = next(t for t in tables if t["arch"] == "resnet56_cifar")
    assert t["generations"] == ["0", "1", "best", "ens 0-1", "ens last 2"]
    tsd = t["rows"][1]["cells"]
    assert (tsd[3]["mean"], tsd[3]["std"], tsd[3]["n"], tsd[3]["best"]) == (77.0, 1.0, 3, True)
    text = paper.render("tables.md.j2", tables=tables, comparison=[], tolerance=0.5, transfer_tables=[])
    assert "| method | gen 0 | gen 1 | best | ens 0-1 | ens last 2 |" in text
    assert "Transferred features" not in text
