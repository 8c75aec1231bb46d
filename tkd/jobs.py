"""The bodies of the workflow's jobs; each takes Snakemake's ``snakemake`` object.

Rules only wire files and parameters; everything they run is here. Module
imports stay light: torch is imported only by the jobs that train.
"""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path


@contextlib.contextmanager
def logged(smk):
    """Send everything the job prints (Python and C level) to its log file."""
    path = Path(smk.log[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "a", buffering=1) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
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


def synthetic_data(smk) -> None:
    from .data import make_synthetic, save_synthetic

    with logged(smk):
        data = make_synthetic(**smk.params.options)
        save_synthetic(data, smk.output[0])
        print(f"wrote {smk.output[0]}: {len(data.train)} train / {len(data.test)} test images", flush=True)


def train(smk) -> None:
    from .train import train as train_run

    spec = dict(smk.params.spec)
    spec["out_dir"] = str(Path(smk.output.model).parent)
    if "data" in smk.input.keys():
        spec["data_path"] = smk.input.data
    if "teacher" in smk.input.keys():
        spec["teacher"] = smk.input.teacher
    spec["threads"] = smk.threads
    ex = smk.config["execution"]  # how a job runs, not what it computes: not params, so no reruns
    spec.update(checkpoint_every=ex["checkpoint_every"], processes=ex["processes"], workers=ex["workers"],
                compile=ex["compile"])
    with logged(smk):
        train_run(spec)


def evaluate(smk) -> None:
    import numpy as np
    import pandas as pd

    from .analysis import chain_ensembles
    from .evaluate import logit_measures
    from .io import write_text

    with logged(smk):
        chain, rows, fine = {}, [], None
        for path in smk.input:
            gen = int(Path(path).parent.name[3:])
            with np.load(path) as z:
                chain[gen], fine = z["logits"], z["fine"]
                rows.append(dict(generation=gen, **logit_measures(z["logits"], z["fine"], z["coarse"], k=smk.params.k)))
        write_text(smk.output.eval, pd.DataFrame(rows).to_csv(index=False))
        table = chain_ensembles(chain, fine, smk.params.last)
        write_text(smk.output.ensembles, table.to_csv(index=False))
        print(pd.DataFrame(rows).to_string(index=False), "\n\n", table.to_string(index=False), flush=True)


def aggregate(smk) -> None:
    import pandas as pd

    from .aggregate import collect_chains, collect_runs, summary_markdown
    from .io import write_text

    with logged(smk):
        results = Path(smk.output.runs).parent.parent
        runs = collect_runs(smk.params.runs, results)
        write_text(smk.output.runs, runs.to_csv(index=False))
        write_text(smk.output.ensembles, collect_chains(smk.params.chains, results, "ensembles.csv").to_csv(index=False))
        transfer = (collect_chains(smk.params.transfer_chains, results, "transfer.csv") if smk.params.transfer_chains
                    else pd.DataFrame(columns=["dataset", "arch", "method", "seed", "generation", "probe_top1"]))
        write_text(smk.output.transfer, transfer.to_csv(index=False))
        text = summary_markdown(runs)
        write_text(smk.output.summary, text)
        print(text, flush=True)


def paper_tables(smk) -> None:
    import pandas as pd

    from .io import write_text
    from .paper import compare, generation_tables, load_reported, render

    with logged(smk):
        runs = pd.read_csv(smk.input.runs)
        reported = load_reported(smk.input.reported)
        tol = smk.params.tolerance
        comparison = compare(runs, reported, tol)
        ens = pd.read_csv(smk.input.ensembles)
        transfer = pd.read_csv(smk.input.transfer)
        transfer_tables = generation_tables(transfer.rename(columns={"probe_top1": "test_top1"}),
                                            reported.iloc[0:0]) if len(transfer) else []
        context = dict(tables=generation_tables(runs, reported, tol, ens), comparison=comparison.to_dict("records"),
                       tolerance=tol, transfer_tables=transfer_tables)
        for fmt in ("md", "tex", "html"):
            write_text(smk.output[fmt], render(f"tables.{fmt}.j2", **context))
        write_text(smk.output.comparison, comparison.to_csv(index=False))
        print(comparison[["dataset", "arch", "method", "generation", "metric", "value", "ours", "verdict"]]
              .to_string(index=False), flush=True)


def paper_figures(smk) -> None:
    import pandas as pd

    from . import figures
    from .paper import load_reported

    with logged(smk):
        runs = pd.read_csv(smk.input.runs)
        cell = runs[(runs.dataset == smk.wildcards.dataset) & (runs.arch == smk.wildcards.arch)]
        title = f"{smk.wildcards.dataset} / {smk.wildcards.arch}"
        figures.accuracy_vs_generation(cell, load_reported(smk.input.reported),
                                       [smk.output.accuracy, smk.output.accuracy_svg])
        figures.tolerance(figures.top1_probability(smk.input.logits, cell), f"{title}: patriarchs",
                          [smk.output.tolerance, smk.output.tolerance_svg])
        figures.secondary(cell, smk.params.k, [smk.output.secondary, smk.output.secondary_svg])
        ens = pd.read_csv(smk.input.ensembles)
        ens = ens[(ens.dataset == smk.wildcards.dataset) & (ens.arch == smk.wildcards.arch)]
        figures.ensembles(ens, title, [smk.output.ensembles, smk.output.ensembles_svg])
        if "transfer" in smk.output.keys():
            tr = pd.read_csv(smk.input.transfer)
            tr = tr[(tr.dataset == smk.wildcards.dataset) & (tr.arch == smk.wildcards.arch)]
            figures.transfer(tr, title, [smk.output.transfer, smk.output.transfer_svg])


def compute_figure(smk) -> None:
    import pandas as pd

    from . import figures

    with logged(smk):
        figures.compute(pd.read_csv(smk.input.runs), [smk.output.png, smk.output.svg])


def transfer(smk) -> None:
    """Linear-probe accuracy of every generation of one chain on the transfer data set."""
    import pandas as pd
    import torch

    from . import data as tkd_data
    from .io import write_text
    from .train import load_weights, resolve_device
    from .transfer import features, linear_probe

    with logged(smk):
        torch.set_num_threads(smk.threads)
        source = tkd_data.load(smk.params.source["kind"], smk.params.source["path"])
        target = tkd_data.load(smk.params.target["kind"], smk.params.target["path"],
                               download=smk.params.target.get("download", False))
        mean, std = tkd_data.channel_stats(source.train.images)  # the models' own input normalisation
        device = resolve_device(smk.params.device)
        rows = []
        for path in smk.input.models:
            gen = int(Path(path).parent.name[3:])
            model = load_weights(path, smk.wildcards.arch, source.num_classes, "model").to(device)
            train_x = features(model, target.train.images, mean, std, device)
            test_x = features(model, target.test.images, mean, std, device)
            acc = linear_probe(train_x, target.train.fine, test_x, target.test.fine, c=smk.params.c)
            rows.append(dict(generation=gen, probe_top1=acc, feature_dim=train_x.shape[1]))
            print(f"generation {gen}: linear-probe top-1 {acc:.2f}% on {train_x.shape[1]}-d features", flush=True)
        write_text(smk.output[0], pd.DataFrame(rows).to_csv(index=False))
