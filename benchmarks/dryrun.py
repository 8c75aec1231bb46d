"""How much the harness adds to a dry-run of the paper grid.

Times ``snakemake -n --forceall`` of the real workflow (config.yaml) against
bare Snakefiles with the same number of jobs per rule and the same chain
structure (each generation's training reads the previous one's model), written
to a temporary folder and measured interleaved in the same run. Three bare
baselines split the gap into its parts:

    shell       rules only touch their outputs: the issue's bare Snakefile
    script      the same, but each rule runs a no-op ``script:`` as tkd's do:
                Snakemake reads each job's script during a dry-run
    directives  also every directive kind tkd's rules carry (outputs, params,
                log, benchmark, resources, conda) with constant values: the
                rest of the gap, tkd against this, is the harness's own code
                (config loading and schema validation, grid expansion, input
                functions)

Prints the best time of each and their ratios (and the median of the per-round
ratios), and the same as JSON on the last line.

    python benchmarks/dryrun.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tkd import layout  # noqa: E402  torch-free: the output names the workflow declares

# A bare Snakefile: the paper grid's jobs and chains (each generation's training reads the
# previous one's model), nothing of tkd. {train}, {evaluate}, ... are each rule's directives
# after its input, filled in per baseline by bare_snakefile().
BARE = """
CHAINS = {chains}
CELLS = {cells}
GENERATIONS = {generations}


rule all:
    input:
        "bare/summary/runs.csv",
        "bare/paper/tables.md",
        "bare/paper/compute.png",
        expand("bare/paper/{{cell}}/figures.png", cell=CELLS),


rule paper_tables:
    input:
        "bare/summary/runs.csv",
    output:
        "bare/paper/tables.md",
{paper_tables}

rule paper_figures:
    input:
        "bare/summary/runs.csv",
    output:
        "bare/paper/{{cell}}/figures.png",
{paper_figures}

rule compute_figure:
    input:
        "bare/summary/runs.csv",
    output:
        "bare/paper/compute.png",
{compute_figure}

rule aggregate:
    input:
        expand("bare/summary/cells/{{cell}}/runs.csv", cell=CELLS),
    output:
        "bare/summary/runs.csv",
{aggregate}

def cell_chains(w):
    return [c for c in CHAINS if c.startswith(w.cell + "/")]


rule cell_tables:
    input:
        lambda w: [f"bare/{{c}}/gen{{g}}/metrics.json" for c in cell_chains(w) for g in range(GENERATIONS)],
        lambda w: [f"bare/{{c}}/eval.csv" for c in cell_chains(w)],
        lambda w: [f"bare/{{c}}/transfer.csv" for c in cell_chains(w)],
    output:
        "bare/summary/cells/{{cell}}/runs.csv",
{cell_tables}

def chain_models(w):
    return [f"bare/{{w.chain}}/gen{{g}}/metrics.json" for g in range(GENERATIONS)]


rule evaluate:
    input:
        chain_models,
{evaluate}

rule transfer:
    input:
        chain_models,
        "bare/data/{target}.json",
{transfer}

def teacher(w):
    g = int(w.g)
    data = f"bare/data/{{w.chain.split('/')[0]}}.json"
    return [data, f"bare/{{w.chain}}/gen{{g - 1}}/metrics.json"] if g else [data]


rule train:
    input:
        teacher,
{train}

rule data:
    output:
        "bare/data/{{dataset}}.json",
{data}
"""

SUMMARY_RULES = ("paper_tables", "paper_figures", "compute_figure", "aggregate", "cell_tables", "data")
# Each rule's outputs (the summary rules' are in the template) and, for the "directives"
# baseline, every directive kind tkd's rule carries, with constants for tkd's config lookups.
OUTPUTS = {
    **{rule: [] for rule in SUMMARY_RULES},
    "evaluate": [f'"bare/{{chain}}/{layout.CHAIN_FILES[name]}"' for name in ("eval", "ensembles")],
    "transfer": [f'"bare/{{chain}}/{layout.CHAIN_FILES["transfer"]}"'],
    "train": [f'"bare/{{chain}}/gen{{g}}/{name}"' for name in layout.RUN_FILES.values()],
}
DIRECTIVES = {
    **{rule: ["params:\n        k=5", f'log:\n        "bare/logs/{rule}.log"'] for rule in SUMMARY_RULES},
    "data": ['params:\n        source=lambda w: {"kind": "cifar100", "path": "x"}',
             'log:\n        "bare/logs/data/{dataset}.log"', "retries: 0"],
    "paper_figures": ["params:\n        k=5", 'log:\n        "bare/logs/paper_figures/{cell}.log"'],
    "cell_tables": ["params:\n        k=5", 'log:\n        "bare/logs/cell_tables/{cell}.log"'],
    "evaluate": ["params:\n        k=5,\n        last=3", 'log:\n        "bare/logs/evaluate/{chain}.log"'],
    "transfer": ['params:\n        source=lambda w: {"kind": "synthetic", "path": "x"},\n        c=1.0',
                 'log:\n        "bare/logs/transfer/{chain}.log"', "threads: 1",
                 "resources:\n        runtime=60,\n        mem_mb=lambda w: 1000,\n"
                 "        gpu=lambda w: 0,\n        cpus_per_gpu=lambda w: 0"],
    "train": ['params:\n        spec=lambda w: dict(arch="a", seed=int(w.g), epochs=160, lr=0.1, momentum=0.9,\n'
              "                            weight_decay=1e-4, batch_size=128, milestones=[80, 120])",
              'log:\n        "bare/logs/train/{chain}/gen{g}.log"',
              'benchmark:\n        "bare/benchmarks/train/{chain}/gen{g}.tsv"', "threads: 1",
              "resources:\n        runtime=lambda w, attempt: 60 * attempt,\n"
              "        mem_mb=lambda w, attempt: 1000 * attempt,\n"
              "        gpu=lambda w: 0,\n        cpus_per_gpu=lambda w: 0"],
}
BASELINES = ("shell", "script", "directives")


def bare_snakefile(baseline: str, chains: list[str], cells: list[str], generations: int, target: str) -> str:
    def block(rule: str) -> str:
        lines = []
        if OUTPUTS[rule]:
            lines.append("output:\n" + "".join(f"        {o},\n" for o in OUTPUTS[rule]).rstrip("\n"))
        if baseline == "directives":
            lines += DIRECTIVES[rule] + ['conda:\n        "env.yaml"']
        lines.append('shell:\n        "touch {output}"' if baseline == "shell" else 'script:\n        "noop.py"')
        return "".join(f"    {line}\n" for line in lines)

    return BARE.format(chains=chains, cells=cells, generations=generations, target=target,
                       **{r: block(r) for r in OUTPUTS})


def dry_run_seconds(args: list[str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--quiet", "rules", *args],
                          cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"dry-run failed in {cwd}:\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def total(out: str) -> int:
    return int(re.search(r"^total\s+(\d+)", out, re.M).group(1))


def grid(config: dict) -> tuple[list[str], list[str], int]:
    """The workflow's chains, cells and generations per chain (tkd.grid: the same as the Snakefile's)."""
    sys.path.insert(0, str(REPO))
    from tkd import grid as tkd_grid

    runs = tkd_grid.runs(config)
    chains = ["/".join(map(str, c[:3])) + f"/seed{c[3]}" for c in tkd_grid.chains(runs)]
    cells = ["/".join(c) for c in tkd_grid.cells(runs)]
    return chains, cells, max(r["generation"] for r in runs) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: must be at least 1")

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    chains, cells, generations = grid(config)
    target = config["transfer"]["dataset"]
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for baseline in BASELINES:
            folders[baseline] = Path(tmp, baseline)
            folders[baseline].mkdir()
            (folders[baseline] / "Snakefile").write_text(bare_snakefile(baseline, chains, cells, generations, target))
            (folders[baseline] / "noop.py").write_text("")
            (folders[baseline] / "env.yaml").write_text("dependencies:\n  - python\n")
        # interleaved, so a slow spell of a shared machine hits every variant alike; best of each
        seconds = {name: [] for name in ("tkd", *BASELINES)}
        jobs = {}
        for _ in range(args.repeats):
            for baseline, folder in folders.items():
                t, out = dry_run_seconds([], folder)
                seconds[baseline].append(t)
                jobs[baseline] = total(out)
            t, out = dry_run_seconds(["--config", f"results={tmp}/results"], REPO)
            seconds["tkd"].append(t)
            jobs["tkd"] = total(out)
    if len(set(jobs.values())) != 1:
        sys.exit(f"not comparable: job counts differ: {jobs}")
    best = {name: min(s) for name, s in seconds.items()}
    # each round's tkd / bare, paired: a slow spell that hits one round hits both sides of it
    paired = {b: statistics.median(t / s for t, s in zip(seconds["tkd"], seconds[b])) for b in BASELINES}
    print(f"paper grid: {len(chains)} chains x {generations} generations = {len(chains) * generations} "
          f"training jobs, {jobs['tkd']} jobs in all in each Snakefile; best of {args.repeats}, interleaved")
    print(f"  tkd workflow      {best['tkd']:.2f} s")
    for baseline, what in (("shell", "rules touch their outputs: the issue's bare Snakefile"),
                           ("script", "rules run a no-op script:, as tkd's do"),
                           ("directives", "also tkd's outputs, params, log, benchmark, resources, conda")):
        print(f"  bare, {baseline:<10s} {best[baseline]:.2f} s   tkd / bare = {best['tkd'] / best[baseline]:.2f}x"
              f" (median of rounds {paired[baseline]:.2f}x)   ({what})")
    print(json.dumps({"jobs": jobs["tkd"], "repeats": args.repeats, **{f"{k}_s": round(v, 3) for k, v in best.items()},
                      **{f"ratio_{b}": round(best["tkd"] / best[b], 3) for b in BASELINES},
                      **{f"paired_ratio_{b}": round(paired[b], 3) for b in BASELINES}}))


if __name__ == "__main__":
    main()
