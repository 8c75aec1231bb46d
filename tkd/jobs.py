"""The bodies of the workflow's jobs; each takes Snakemake's ``snakemake`` object.

Rules only wire files and parameters; everything they run is here, and every path comes in
from the rule (inputs, outputs, params): nothing here rebuilds the results folder's layout.
Module imports stay light: torch is imported only by the jobs that train or embed.
"""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path

from .errors import SpecError
from .terminal import WIDTH


@contextlib.contextmanager
def logged(smk):
    """Send everything the job prints (Python and C level) to its log file. Bad input
    (:class:`SpecError`) is one line there and exit code 2, not a traceback."""
    path = Path(smk.log[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    failed = None
    with open(path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        except SpecError as err:
            print(f"tkd: error: {err}", flush=True)
            failed = err
        except BaseException:
            traceback.print_exc()
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    if failed is not None:
        print(f"tkd: error: {failed}", file=sys.stderr, flush=True)  # also where Snakemake shows it
        sys.exit(2)


def synthetic_data(smk) -> None:
    from .training.data import make_synthetic, save_synthetic

    with logged(smk):
        data = make_synthetic(**smk.params.options)
        save_synthetic(data, smk.output[0])
        print(f"wrote {smk.output[0]}: {len(data.train)} train / {len(data.test)} test images", flush=True)


def data(smk) -> None:
    from .training.data import check_source
    from .files import write_json

    with logged(smk):
        manifest = check_source(smk.wildcards.dataset, **smk.params.source)
        write_json(smk.output[0], manifest)
        print(f"{smk.wildcards.dataset}: {manifest['summary']}", flush=True)


def train(smk) -> None:
    from . import runstate
    from .training.spec import HOW_FIELDS
    from .training.train import train as train_run

    ex = smk.config["execution"]  # how a job runs, not what it computes: not params, so no reruns
    spec = dict(smk.params.spec, **{k: ex[k] for k in HOW_FIELDS if k in ex})
    spec.update(out_dir=smk.params.out_dir, threads=smk.threads)
    if "teacher" in smk.input.keys():
        spec["teacher"] = smk.input.teacher
    with logged(smk):
        try:
            train_run(spec)
        except SpecError as err:  # a spec that never started: tkd status reads why from the run directory
            Path(smk.params.out_dir).mkdir(parents=True, exist_ok=True)
            runstate.failed(smk.params.out_dir, err)
            raise


def evaluate(smk) -> None:
    import pandas as pd

    from .files import read_npz, write_text
    from .training.measures import chain_ensembles, logit_measures

    with logged(smk):
        chain, rows, fine = {}, [], None
        for gen, path in zip(smk.params.generations, smk.input, strict=True):
            z = read_npz(path, ("logits", "fine", "coarse"), "test logits")
            chain[gen], fine = z["logits"], z["fine"]
            rows.append(dict(generation=gen, **logit_measures(z["logits"], z["fine"], z["coarse"], k=smk.params.k)))
        write_text(smk.output.eval, pd.DataFrame(rows).to_csv(index=False))
        table = pd.DataFrame(chain_ensembles(chain, fine, smk.params.last))
        write_text(smk.output.ensembles, table.to_csv(index=False))
        print(pd.DataFrame(rows).to_string(index=False, line_width=WIDTH), "\n\n",
              table.to_string(index=False, line_width=WIDTH), flush=True)


def cell_tables(smk) -> None:
    """One cell's runs, ensembles and transfer tables from its runs' files."""
    from .files import write_text

    with logged(smk):
        for name, frame in zip(("runs", "ensembles", "transfer"), _frames(smk.params.tables)):
            write_text(smk.output[name], frame.to_csv(index=False))


def aggregate(smk) -> None:
    """The grid's tables: the union of its cells' (in the grid's cell order), and the summary."""
    import pandas as pd

    from .grid.aggregate import summary_markdown
    from .files import read_csv, write_text

    with logged(smk):
        for name in ("runs", "ensembles", "transfer"):
            frames = [read_csv(path, what=f"{name} table of a cell") for path in smk.input[name]
                      if Path(path).stat().st_size > 1]
            frames = [f for f in frames if len(f.columns)]
            table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            write_text(smk.output[name], table.to_csv(index=False))
            if name == "runs":
                text = summary_markdown(table)
        write_text(smk.output.summary, text)
        print(text, flush=True)


def _frames(tables: dict):
    """runs, ensembles and transfer frames of a table's records (see common.smk)."""
    from .grid.aggregate import collect_chains, collect_runs

    return (collect_runs(tables["runs"]), collect_chains(tables["ensembles"]),
            collect_chains(tables["transfer"], ["generation", "probe_top1", "feature_dim"]))


def wave(smk) -> None:
    """After one wave of a cell's seeds: the cell's rows judged group-sequentially on its seeds so
    far, and the runs of its next wave for the chains an undecided row needs (tkd.statistics.wave_claims)."""
    from .statistics.claims import Criteria, load_claims, summary_text
    from .files import write_json, write_text
    from .statistics.sequential import designs
    from .statistics.wave_claims import asked, cell_judge, decision

    with logged(smk):
        number, cell = int(smk.wildcards.wave), (smk.wildcards.dataset, smk.wildcards.arch)
        runs, ensembles, transfer = _frames(smk.params.tables)
        paper = smk.params.paper
        design = designs(smk.params.looks, paper["boundary"])[cell]
        table, family, needs = cell_judge(runs, ensembles, transfer, load_claims(smk.input.claims),
                                          Criteria.of(paper), cell, design, number)
        next_runs = asked(smk.params.next_wave, needs)
        write_text(smk.output.claims, table.to_csv(index=False))
        write_json(smk.output.decision, decision(table, number, next_runs, needs, len(runs)))
        print(summary_text(table, f"{'/'.join(cell)}, wave {number}: {family.caption()}"), flush=True)
        print(f"next wave: {len(next_runs)} runs for {len(set(needs))} chains" if next_runs else "stop: nothing to add",
              flush=True)


def paper_tables(smk) -> None:
    from .files import read_csv
    from .report.paper_outputs import write_tables

    with logged(smk):
        runs = read_csv(smk.input.runs, what="runs table")
        ens = read_csv(smk.input.ensembles, what="ensembles table")
        transfer = read_csv(smk.input.transfer, what="transfer table")
        waves = dict(looks=smk.params.looks, possible=smk.params.possible) if smk.params.sequential else None
        write_tables(runs, ens, transfer, dict(smk.output.items()), smk.input.reported, smk.input.claims,
                     smk.params.paper, waves=waves)


def paper_figures(smk) -> None:
    from .files import read_csv
    from .report.paper_outputs import draw_cell_figures

    with logged(smk):
        w = smk.wildcards
        tables = {name: read_csv(smk.input[name], what=f"{name} table") for name in ("runs", "ensembles", "transfer")}
        draw_cell_figures(w.dataset, w.arch, tables, smk.input.reported, smk.input.logits, smk.params.patriarchs,
                          smk.params.k, dict(smk.output.items()))


def compute_figure(smk) -> None:
    from .report import figures
    from .files import read_csv

    with logged(smk):
        figures.compute(read_csv(smk.input.runs, what="runs table"), [smk.output.png, smk.output.svg])


def transfer(smk) -> None:
    """Linear-probe accuracy of every generation of one chain on the transfer data set."""
    import pandas as pd

    from .files import write_text
    from .training.transfer import probe_chain

    with logged(smk):
        rows = probe_chain(smk.wildcards.arch, smk.input.models, smk.params.generations, smk.params.source,
                           smk.params.target, smk.params.c, smk.params.device, smk.threads)
        write_text(smk.output[0], pd.DataFrame(rows).to_csv(index=False))


JOBS = {f.__name__: f for f in (synthetic_data, data, train, evaluate, cell_tables, aggregate, wave, paper_tables,
                                paper_figures, compute_figure, transfer)}


def run(smk) -> None:
    """The job of the rule ``smk.rule`` (workflow/scripts/job.py runs every rule through here)."""
    JOBS[smk.rule](smk)
