"""The paper-style figures, drawn with seaborn from runs.csv and saved test logits."""
from __future__ import annotations

from pathlib import Path

import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def save(fig, paths: list[str | Path]) -> None:
    from ..files import atomic_path

    for path in paths:
        suffix = Path(path).suffix
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=150, bbox_inches="tight")


def _t95(values) -> tuple[float, float]:
    """The 95 % t-interval of the mean (tkd.statistics.stats), the interval a row alone is judged by."""
    from ..statistics.stats import t_interval

    lo, hi = t_interval(values)
    mean = float(pd.Series(values).mean())
    return (mean, mean) if pd.isna(lo) else (lo, hi)


def accuracy_vs_generation(runs: pd.DataFrame, reported: pd.DataFrame, paths) -> None:
    """Test top-1 per generation, one line per method: every seed a point, the mean with its 95 %
    t-interval (the interval a row alone is judged by; drawn up to 100 %), the methods side by side;
    reported values as crosses (a generation) or dashed lines ("best")."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    methods = sorted(runs.method.unique())
    colors = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    width = min(0.5, 0.8 / max(1, runs.generation.nunique() - 1 or 1))
    for i, method in enumerate(methods):
        part = runs[runs.method == method]
        shift = (i - (len(methods) - 1) / 2) * width / max(1, len(methods))
        stats = part.groupby("generation").test_top1.agg(list)
        x = stats.index.to_numpy(float) + shift
        means = [sum(v) / len(v) for v in stats]
        bounds = [_t95(v) for v in stats]
        ax.errorbar(x, means, yerr=[[m - lo for m, (lo, _) in zip(means, bounds)],
                                    [hi - m for m, (_, hi) in zip(means, bounds)]],
                    color=colors[method], marker="o", capsize=3, label=method)
        ax.scatter(part.generation + shift, part.test_top1, color=colors[method], s=10, alpha=0.5, zorder=3)
    from .paper import reported_accuracy

    for method in methods:
        (dataset, arch), color = runs[["dataset", "arch"]].iloc[0], colors[method]
        for g in sorted(runs.generation.unique()):
            value = reported_accuracy(reported, dataset, arch, method, str(g))
            if value is not None:
                ax.scatter([g], [value], marker="X", s=80, color=color, edgecolor="black", zorder=5)
        best = reported_accuracy(reported, dataset, arch, method, "best")
        if best is not None:
            ax.axhline(best, ls="--", color=color, lw=1)
    ax.set(xlabel="generation (0 = patriarch)", ylabel="test top-1 accuracy (%)",
           title=f"{runs.dataset.iloc[0]} / {runs.arch.iloc[0]}: seeds, mean and 95 % interval")
    ax.set_xticks(sorted(runs.generation.unique()))
    ax.set_ylim(top=min(ax.get_ylim()[1], 100.0))  # an accuracy has no values above 100 %
    ax.legend(title="method")
    save(fig, paths)
    plt.close(fig)


def top1_probability(logit_files: list[str], runs: list[dict]) -> pd.DataFrame:
    """Per test image of each listed run (``runs``: the keys of each file's run, in order): the
    largest softmax probability, i.e. how peaked the model is."""
    from ..files import read_npz
    from ..training.measures import softmax

    frames = []
    for f, run in zip(logit_files, runs, strict=True):
        p = softmax(read_npz(f, ("logits",), "test logits")["logits"])
        frames.append(pd.DataFrame({"method": run["method"], "seed": run["seed"], "generation": run["generation"],
                                    "p_top1": p.max(axis=1)}))
    return pd.concat(frames, ignore_index=True)


def tolerance(probs: pd.DataFrame, title: str, paths) -> None:
    """How tolerant each patriarch is: its top-1 probability on the test set, per method."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.violinplot(data=probs, x="method", y="p_top1", hue="method", cut=0, inner="quartile", ax=ax,
                   order=sorted(probs.method.unique()), legend=False)
    ax.set(xlabel="patriarch method", ylabel="top-1 probability on test images", ylim=(0, 1), title=title)
    save(fig, paths)
    plt.close(fig)


def secondary(runs: pd.DataFrame, k: int, paths) -> None:
    """Probability mass on ranks 2..K, and the share of it inside the true superclass (harness measures)."""
    plt, sns = _plt()
    long = runs.melt(id_vars=["method", "generation"], value_vars=["secondary_mass", "secondary_in_superclass"],
                     var_name="measure", value_name="value")
    long["measure"] = long["measure"].map({"secondary_mass": f"mass on ranks 2..{k}",
                                           "secondary_in_superclass": "share of it in the true superclass"})
    g = sns.relplot(data=long, x="generation", y="value", hue="method", col="measure", kind="line",
                    errorbar="sd", marker="o", facet_kws={"sharey": False}, height=3.5)
    g.set_titles("{col_name}")
    g.set(xticks=sorted(runs.generation.unique()))
    g.figure.suptitle(f"{runs.dataset.iloc[0]} / {runs.arch.iloc[0]} (harness measures, not the paper's "
                      "Dist^C/Dist^S)", y=1.04)
    save(g.figure, paths)
    plt.close(g.figure)


def compute(runs: pd.DataFrame, paths) -> None:
    """Device hours per grid cell (dataset, arch, method), summed over seeds and generations."""
    plt, sns = _plt()
    hours = (runs.assign(hours=runs.wall_seconds / 3600)
             .groupby(["dataset", "arch", "method", "device"], as_index=False)["hours"].sum())
    hours["cell"] = hours.dataset + " / " + hours.arch
    fig, ax = plt.subplots(figsize=(6, 1 + 0.5 * hours.cell.nunique() * max(1, hours.method.nunique() / 3)))
    sns.barplot(data=hours, y="cell", x="hours", hue="method", ax=ax, orient="h")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    devices = ", ".join(sorted(runs.device_name.astype(str).unique()))
    ax.set(xlabel="wall-clock hours of training jobs", ylabel="", title=f"compute per grid cell ({devices})")
    save(fig, paths)
    plt.close(fig)


def ensembles(ens: pd.DataFrame, title: str, paths) -> None:
    """Top-1 of the ensemble of generations 0..m against its size m+1, per method (±1 std over seeds)."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    first = ens[ens.kind == "first"]
    sns.lineplot(data=first, x="size", y="top1", hue="method", errorbar="sd", marker="o", ax=ax)
    ax.set(xlabel="generations in the ensemble (0..m)", ylabel="ensemble test top-1 (%)", title=title)
    ax.set_xticks(sorted(first["size"].unique()))
    save(fig, paths)
    plt.close(fig)


def transfer(tr: pd.DataFrame, title: str, paths) -> None:
    """Linear-probe accuracy of each generation's penultimate features on the transfer task."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    if tr.empty:  # e.g. ImageFolder sources: the probe is for 32x32 sources only
        ax.text(0.5, 0.5, "no transfer probe for this data set", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        save(fig, paths)
        plt.close(fig)
        return
    sns.lineplot(data=tr, x="generation", y="probe_top1", hue="method", errorbar="sd", marker="o", ax=ax)
    ax.set(xlabel="generation (0 = patriarch)", ylabel="linear-probe test top-1 (%)",
           title=f"{title}: transferred features (harness protocol)")
    ax.set_xticks(sorted(tr.generation.unique()))
    save(fig, paths)
    plt.close(fig)


def designs(table: pd.DataFrame, gpus: int, paths) -> None:
    """GPU-hours against calendar days of each design (tkd plan), one panel per scenario, the
    frontier designs labelled, ± one Monte-Carlo standard error as bars."""
    plt, sns = _plt()
    scenarios = list(dict.fromkeys(table.scenario))
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5.5 * len(scenarios), 4.5), squeeze=False)
    for ax, scenario in zip(axes[0], scenarios):
        part = table[table.scenario == scenario]
        sns.scatterplot(data=part, x="days", y="gpu_h", hue="frontier", style="frontier", ax=ax, s=60,
                        palette={True: "C3", False: "C7"}, legend=ax is axes[0][0])
        ax.errorbar(part.days, part.gpu_h, xerr=part.days_se.fillna(0), yerr=part.gpu_h_se.fillna(0), fmt="none",
                    ecolor="C7", lw=0.8)
        for row in part[part.frontier].itertuples():
            ax.annotate(row.design, (row.days, row.gpu_h), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set(xlabel=f"calendar days on {gpus} GPUs", ylabel="GPU-hours", title=scenario)
    save(fig, paths)
    plt.close(fig)
