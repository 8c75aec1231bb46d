"""``tkd tables``: the claims, tables and figures of whatever runs have finished, while a grid
still runs (:func:`tkd.grid.finished.collect`), into ``<results>/summary/partial/``; every page
says how many runs it covers.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import grid, layout
from ..files import write_text
from ..grid.aggregate import summary_markdown
from ..grid.finished import collect
from ..grid.waves import looks_param
from .paper_outputs import draw_cell_figures, write_tables


def write(config: dict, out_dir: str | Path | None = None) -> tuple[Path, pd.DataFrame, dict]:
    """Everything of the paper outputs over the finished runs, into ``out_dir``."""
    results = Path(config["results"])
    out = Path(out_dir) if out_dir else results / layout.PARTIAL
    runs, ensembles, transfer, done, total = collect(config)
    partial = dict(done=len(done), total=total)
    if not done:
        return out, pd.DataFrame(), partial
    write_text(out / "runs.csv", runs.to_csv(index=False))
    write_text(out / "summary.md", summary_markdown(runs, f"PARTIAL ({len(done)} of {total} runs): test top-1 "
                                                          "accuracy (%), mean ± std over seeds"))
    paper = config["paper"]
    outputs = {fmt: out / f"tables.{fmt}" for fmt in ("md", "tex", "html")}
    outputs.update(claims=out / "claims.csv", comparison=out / "comparison.csv")
    waves = None
    if grid.sequential(config):  # judged group-sequentially, each cell through the wave its finished runs reach
        waves = dict(looks=looks_param(config), possible=len(grid.runs(config)))
    claims = write_tables(runs, ensembles, transfer, outputs, paper["reported"], paper["claims"], paper, partial, waves)
    tables = dict(runs=runs, ensembles=ensembles, transfer=transfer)
    for dataset, arch in grid.cells(done):
        patriarchs = [r for r in done if (r["dataset"], r["arch"], r["generation"]) == (dataset, arch, 0)]
        names = [n for n in layout.CELL_FIGURES if n != "transfer" or len(transfer)]
        outputs = layout.figure_files(out / "figures" / dataset / arch, names)
        draw_cell_figures(dataset, arch, tables, paper["reported"],
                          [layout.run_path(results, r, "logits") for r in patriarchs], patriarchs,
                          config["analysis"]["secondary_k"], outputs)
    return out, claims, partial
