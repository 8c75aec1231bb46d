"""The ``tkd`` command line: train, evaluate, make-synthetic, claims, status, tables, plan, slurm-check."""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

CONFIGFILE = dict(nargs="+", default=[], metavar="FILE",
                  help="config files laid over config.yaml, later ones on top, as snakemake --configfile lays them "
                       "(e.g. --configfile workflow/demo.yaml)")


def _train(args) -> int:
    from .training.spec import load_spec, parse_set
    from .training.train import train

    metrics = train(load_spec(args.spec, parse_set(args.set)))
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


def _evaluate(args) -> int:
    from .training.evaluate import evaluate_run

    print(json.dumps(evaluate_run(args.run_dir, device=args.device), indent=2, sort_keys=True))
    return 0


def _make_synthetic(args) -> int:
    from .training.data import make_synthetic, save_synthetic
    from .training.spec import SpecError

    try:
        data = make_synthetic(seed=args.seed, train_per_class=args.train_per_class,
                              test_per_class=args.test_per_class, shared=args.shared, noise=args.noise,
                              shift=args.shift)
    except ValueError as err:
        raise SpecError(str(err)) from None
    save_synthetic(data, args.out)
    print(f"wrote {args.out}: {len(data.train)} train / {len(data.test)} test images")
    return 0


def _claims(args) -> int:
    import pandas as pd

    from .statistics import runs_table
    from .statistics.claims import Criteria, claims_table, load_claims, summary_text
    from .grid.config import load
    from .files import read_csv, write_text

    config = load(args.configfile)
    paper = config["paper"]
    given = {k: getattr(args, k) for k in ("tolerance", "fdr", "delta", "delta_probability")}
    criteria = dataclasses.replace(Criteria.of(paper), **{k: v for k, v in given.items() if v is not None})
    runs = read_csv(args.runs, runs_table.KEYS, "runs table")
    configs = " ".join(args.configfile) or "none (config.yaml alone)"
    runs_table.check(runs_table.require_runs(runs, f"runs table {args.runs!r}"), config["methods"],
                     what=f"runs table {args.runs!r}",
                     methods_from=f"the methods are the config's (--configfile: {configs}): a runs table of "
                                  "another config needs its --configfile, e.g. --configfile workflow/demo.yaml")
    beside = Path(args.runs).parent
    frames = {}
    for name in ("ensembles", "transfer"):
        path = getattr(args, name) or (beside / f"{name}.csv")
        frames[name] = read_csv(path, what=f"{name} table") if Path(path).is_file() else pd.DataFrame()
    claims = load_claims(args.claims or paper["claims"])
    if args.looks is not None:  # as the waves would have judged it: group-sequentially, look by look
        from .statistics.wave_claims import final_table
        from .grid.waves import looks

        boundary = paper["boundary"] if args.boundary is None else args.boundary
        table, family = final_table(runs, frames["ensembles"], frames["transfer"], claims, criteria, looks(config),
                                    boundary, None if args.looks == "config" else args.looks)
    else:
        family_out: list = []
        table = claims_table(runs, frames["ensembles"], frames["transfer"], claims, criteria, family_out=family_out)
        family = family_out[0]
    print(summary_text(table, family.caption()))
    if args.output:
        write_text(args.output, table.to_csv(index=False))
        print(f"\nwrote {args.output}")
    return 0


def _looks(text: str) -> list[int] | str:
    if text == "config":
        return text
    try:
        looks = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seeds per look, e.g. 4,6,8,10") from None
    if looks != sorted(set(looks)) or looks[0] < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: the seeds per look must rise, from at least 2")
    return looks


def _grid_config(args) -> dict:
    """The config of ``--configfile``, with ``--results`` laid over it."""
    from .grid.config import load

    config = load(args.configfile)
    if args.results:
        config["results"] = args.results
    return config


def _status(args) -> int:
    from .grid.status import render, status, waves_report

    config = _grid_config(args)
    table, failed = status(config)
    print("\n".join([render(table, failed, config["results"])] + waves_report(config)))
    return 0


def _tables(args) -> int:
    from .report.partial import write

    config = _grid_config(args)
    out, _, partial = write(config, args.output)
    if not partial["done"]:
        print(f"no finished runs under {config['results']} yet (0 of {partial['total']}): nothing to tabulate")
        return 0
    print(f"\n{partial['done']} of {partial['total']} runs finished: tables.md (.tex, .html), claims.csv, comparison.csv, "
          f"figures/ written to\n  {out}")
    return 0


def _plan(args) -> int:
    from .files import write_text
    from .grid.finished import collect
    from .statistics.plan import plan, render

    config = _grid_config(args)
    runs = collect(config)[0]
    simulations = args.simulations or config["plan"]["simulations"]
    gpus = args.gpus or config["plan"]["gpus"]
    result = plan(config, args.budget, simulations, runs if len(runs) else None, gpus, args.days,
                  progress=_progress(2 * simulations, "simulated grids"))
    written = []
    if args.output:
        write_text(args.output, result.rows.to_csv(index=False))
        stem = str(args.output).removesuffix(".csv")
        write_text(stem + "_designs.csv", result.designs.to_csv(index=False))
        written += [args.output, stem + "_designs.csv"]
    if args.days is not None:
        from .report.plan_outputs import write_choice

        written += write_choice(result, config, args.design_out, gpus)
    print(render(result, gpus, simulations, args.budget, args.days))
    if written:
        print("\nwrote:\n" + "\n".join(f"  {path}" for path in written))
    return 0


def _progress(total: int, unit: str):
    """A tqdm bar on a terminal (nothing in a pipe or a log); a callable to advance it."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit=" " + unit, leave=False, disable=not sys.stderr.isatty())
    return lambda: bar.update(1)


def _slurm_check(args) -> int:
    from .grid.slurm import check

    report = check(args.configfile, partition=args.partition, account=args.account, gpu_model=args.gpu_model)
    print("\n" + ("problems found: fix the errors above before submitting" if report.failed
                  else "this site can run the grid's training jobs"))
    return 1 if report.failed else 0


def _number_in(low: float, high: float):
    """An argparse type: a number in [low, high]."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number in [{low:g}, {high:g}]")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate in (0, 0.5]")
    return value


def _results_folder_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configfile", **CONFIGFILE)
    p.add_argument("--results", help="the results folder (default: the config's results)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tkd", description="Tolerant-teacher knowledge distillation in generations (Yang et al., AAAI 2019).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one generation (patriarch or student) from a spec file; resumes",
                       description="Train one run from SPEC.yaml. Re-running the same spec resumes it.")
    p.add_argument("spec", help="YAML spec (see tkd.training.spec.TrainSpec for the keys)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec key; the value is read as YAML (repeatable)")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="evaluate a finished run's model.pt on its test set",
                       description="Evaluate RUN_DIR/model.pt on the test set named in RUN_DIR/spec.yaml.")
    p.add_argument("run_dir")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("make-synthetic", help="write the offline hierarchical synthetic data set (.npz)")
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-per-class", type=int, default=50)
    p.add_argument("--test-per-class", type=int, default=10)
    p.add_argument("--shared", type=float, default=0.5, help="weight of the superclass pattern")
    p.add_argument("--noise", type=float, default=0.25, help="std of the per-pixel noise")
    p.add_argument("--shift", type=int, default=2, help="largest random translation, in pixels")
    p.set_defaults(func=_make_synthetic)

    p = sub.add_parser("claims", help="test the paper's claims on a runs.csv: paired by seed, with verdicts",
                       description="Print the claims table of RUNS_CSV (results/summary/runs.csv) and optionally "
                                   "write it as a tidy CSV. The ensembles and transfer tables are read from beside "
                                   "RUNS_CSV unless given; the methods, the claims and how they are judged come "
                                   "from the config (--configfile, as the other commands), options override them.")
    p.add_argument("runs", metavar="RUNS_CSV")
    p.add_argument("-o", "--output", metavar="CLAIMS_CSV", help="write the table here")
    p.add_argument("--ensembles", metavar="CSV", help="ensembles.csv (default: beside RUNS_CSV)")
    p.add_argument("--transfer", metavar="CSV", help="transfer.csv (default: beside RUNS_CSV)")
    p.add_argument("--claims", metavar="CSV", help="the claims (default: the config's paper.claims)")
    p.add_argument("--configfile", **CONFIGFILE)
    p.add_argument("--tolerance", type=_number_in(0, math.inf),
                   help="points around a claimed size (default: the config's paper.tolerance)")
    p.add_argument("--fdr", type=_fraction,
                   help="the table's expected share of false verdicts among its decided rows (default: paper.fdr)")
    p.add_argument("--delta", type=_number_in(0, math.inf),
                   help="points: the smallest effect worth claiming, below which a direction claim is negligible "
                        "(default: paper.delta.points, else the tolerance)")
    p.add_argument("--delta-probability", type=_number_in(0, 1),
                   help="the same for the mean top-1 probability (default: paper.delta.probability)")
    p.add_argument("--looks", type=_looks, nargs="?", const="config", metavar="N,N,...",
                   help="judge as seeds in waves would have, group-sequentially look by look (each cell's seeds in "
                        "ascending order), printing the wave that decided each row: alone, at the config's waves "
                        "of each cell (as the workflow judged them); with seeds per look, at those for every cell. "
                        "Judged through the last look the runs reach; a look beyond their seeds is refused")
    p.add_argument("--boundary", type=_number_in(0, 0.5),
                   help="with --looks: the boundaries' Wang-Tsiatis shape, 0 O'Brien-Fleming to 0.5 Pocock "
                        "(default: paper.boundary)")
    p.set_defaults(func=_claims)

    p = sub.add_parser("status", help="how far the grid is: done, running, failed, pending; GPU-hours spent and left",
                       description="Read the results folder of the config's grid and report its state; runs nothing.")
    _results_folder_options(p)
    p.set_defaults(func=_status)

    p = sub.add_parser("tables", help="claims, tables and figures of the runs finished so far (marked partial)",
                       description="Render the paper outputs over whatever runs of the grid have finished, into "
                                   "RESULTS/summary/partial/ (or --output), every page marked partial.")
    _results_folder_options(p)
    p.add_argument("-o", "--output", metavar="DIR", help="where to write (default: RESULTS/summary/partial)")
    p.set_defaults(func=_tables)

    p = sub.add_parser("plan", help="seeds and GPU-hours each claim needs; what running seeds in waves saves",
                       description="For every claim row of the config's grid: the seeds for 80 %% power at the "
                                   "family level (from your finished runs, else a prior), their GPU-hours, and the "
                                   "GPU-hours of the fixed and the sequential design (simulated). Runs nothing.")
    _results_folder_options(p)
    p.add_argument("--budget", type=float, metavar="GPU_HOURS", help="which claims this budget can expect to decide")
    p.add_argument("--simulations", type=int, help="simulated grids per scenario (default: plan.simulations)")
    p.add_argument("--gpus", type=int, help="the GPUs of your share, for the calendar days (default: plan.gpus)")
    p.add_argument("--days", type=_number_in(0, math.inf), metavar="D",
                   help="try more designs (fewer, larger waves for the slowest architecture), mark the frontier, "
                        "and name and write the cheapest expected to finish within D days in both scenarios")
    p.add_argument("--design-out", default="tkd-design.yaml", metavar="YAML",
                   help="with --days: the chosen design as a config to lay over with --configfile "
                        "(default: tkd-design.yaml; its figure beside it)")
    p.add_argument("-o", "--output", metavar="CSV", help="write the rows here (the designs beside it)")
    p.set_defaults(func=_plan)

    p = sub.add_parser("slurm-check", help="preflight: can this SLURM site run the grid's training jobs?",
                       description="Check partitions, GPUs, accounting and accounts, and sbatch --test-only the "
                                   "largest training request of each architecture, before submitting anything.")
    p.add_argument("--configfile", **CONFIGFILE)
    p.add_argument("--partition", help="the partition your site profile sets (default: the cluster's default)")
    p.add_argument("--account", help="the account your site profile sets")
    p.add_argument("--gpu-model", help="the gpu_model your site profile sets (e.g. a100)")
    p.set_defaults(func=_slurm_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    import signal

    from .errors import NonFiniteLoss, SpecError, TrainingInterrupted

    args = build_parser().parse_args(argv)
    if hasattr(signal, "SIGPIPE") and args.command != "train":  # `tkd status | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return args.func(args)
    except SpecError as err:
        print(f"tkd: error: {err}", file=sys.stderr)
        return 2
    except TrainingInterrupted as err:
        print(f"tkd: {err}", file=sys.stderr)
        return 128 + err.signum
    except NonFiniteLoss as err:
        print(f"tkd: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
