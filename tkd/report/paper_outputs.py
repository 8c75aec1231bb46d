"""The paper's outputs drawn from tidy frames: the claims table, the paper tables (Markdown,
LaTeX, HTML), the comparison with reported numbers, and the figures of one cell.

The workflow's paper rules call these on the finished grid; ``tkd tables`` calls the same on
whatever runs have finished, with the page marked partial.
"""
from __future__ import annotations

import pandas as pd

from ..statistics.claims import Criteria, claims_table, load_claims, summary_text
from ..files import write_text
from .paper import compare, generation_tables, load_reported, render


def _cells_reached(runs: pd.DataFrame, looks: list[dict]) -> list[dict]:
    """Per sequential cell: its seeds, the wave they reach and its most waves (for the tables)."""
    out = []
    for record in looks:
        if len(record["looks"]) < 2:
            continue
        part = runs[(runs.dataset == record["dataset"]) & (runs.arch == record["arch"])]
        seeds = part.seed.nunique()
        out.append(dict(dataset=record["dataset"], arch=record["arch"], seeds=seeds, most=len(record["looks"]),
                        wave=max(1, sum(n <= seeds for n in record["looks"]))))
    return out


def write_tables(runs: pd.DataFrame, ensembles: pd.DataFrame, transfer: pd.DataFrame, outputs: dict,
                 reported: str, claims: str, paper: dict, partial: dict | None = None,
                 waves: dict | None = None) -> pd.DataFrame:
    """Write ``outputs`` (md, tex, html, claims, comparison: paths) and return the claims table,
    judged as a family by the config's ``paper`` section (:class:`~tkd.statistics.claims.Criteria`).
    ``partial``: {"done": n, "total": N} marks every page as covering only finished runs.
    ``waves``: a sequential grid's {looks (each cell's, as records), possible}: the claims are judged
    group-sequentially, each cell through the last wave its seeds reach
    (:func:`tkd.statistics.wave_claims.final_table`)."""
    reported, criteria, tolerance = load_reported(reported), Criteria.of(paper), paper["tolerance"]
    family: list = []
    if waves:
        from ..statistics.wave_claims import final_table

        claims_df, fam = final_table(runs, ensembles, transfer, load_claims(claims), criteria, waves["looks"],
                                     paper["boundary"], strict=partial is None)
        family.append(fam)
        waves = dict(waves, trainings=len(runs), saved=1 - len(runs) / waves["possible"],
                     cells=_cells_reached(runs, waves["looks"]))
    else:
        claims_df = claims_table(runs, ensembles, transfer, load_claims(claims), criteria, family_out=family)
    comparison = compare(runs, reported, tolerance)
    probes = transfer.rename(columns={"probe_top1": "test_top1"})
    context = dict(claims=claims_df.to_dict("records"), tables=generation_tables(runs, reported, tolerance, ensembles),
                   comparison=comparison.to_dict("records"), tolerance=tolerance, partial=partial,
                   family=family[0], waves=waves,
                   transfer_tables=generation_tables(probes, reported.iloc[0:0], best=False) if len(probes) else [])
    for fmt in ("md", "tex", "html"):
        write_text(outputs[fmt], render(f"tables.{fmt}.j2", **context))
    write_text(outputs["claims"], claims_df.to_csv(index=False))
    write_text(outputs["comparison"], comparison.to_csv(index=False))
    print(summary_text(claims_df, family[0].caption()), flush=True)
    return claims_df


def draw_cell_figures(dataset: str, arch: str, tables: dict, reported: str, logits: list[str],
                      patriarchs: list[dict], k: int, outputs: dict) -> None:
    """Every figure of one (dataset, arch) cell: ``tables`` holds runs, ensembles and transfer;
    ``logits`` the patriarchs' test logits with their keys in ``patriarchs``."""
    from . import figures

    def cell(df):
        return df[(df.dataset == dataset) & (df.arch == arch)]

    runs, title = cell(tables["runs"]), f"{dataset} / {arch}"
    figures.accuracy_vs_generation(runs, load_reported(reported), [outputs["accuracy"], outputs["accuracy_svg"]])
    figures.tolerance(figures.top1_probability(logits, patriarchs), f"{title}: patriarchs",
                      [outputs["tolerance"], outputs["tolerance_svg"]])
    figures.secondary(runs, k, [outputs["secondary"], outputs["secondary_svg"]])
    figures.ensembles(cell(tables["ensembles"]), title, [outputs["ensembles"], outputs["ensembles_svg"]])
    if "transfer" in outputs:
        figures.transfer(cell(tables["transfer"]), title, [outputs["transfer"], outputs["transfer_svg"]])
