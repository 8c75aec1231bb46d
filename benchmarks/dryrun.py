"""How much the harness adds to a dry-run of the paper grid.

Times ``snakemake -n --forceall`` of the real workflow (config.yaml) against a
bare Snakefile with the same number of jobs per rule and the same chain
structure (each generation's training reads the previous one's model), written
to a temporary folder and measured in the same process run. Prints both times
and their ratio, and the same as JSON on the last line.

    python benchmarks/dryrun.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

BARE = '''
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
    shell:
        "touch {{output}}"


rule paper_figures:
    input:
        "bare/summary/runs.csv",
    output:
        "bare/paper/{{cell}}/figures.png",
    shell:
        "touch {{output}}"


rule compute_figure:
    input:
        "bare/summary/runs.csv",
    output:
        "bare/paper/compute.png",
    shell:
        "touch {{output}}"


rule aggregate:
    input:
        expand("bare/{{chain}}/gen{{g}}/metrics.json", chain=CHAINS, g=range(GENERATIONS)),
        expand("bare/{{chain}}/eval.csv", chain=CHAINS),
        expand("bare/{{chain}}/transfer.csv", chain=CHAINS),
    output:
        "bare/summary/runs.csv",
    shell:
        "touch {{output}}"


def chain_models(w):
    return [f"bare/{{w.chain}}/gen{{g}}/metrics.json" for g in range(GENERATIONS)]


rule evaluate:
    input:
        chain_models,
    output:
        "bare/{{chain}}/eval.csv",
    shell:
        "touch {{output}}"


rule transfer:
    input:
        chain_models,
    output:
        "bare/{{chain}}/transfer.csv",
    shell:
        "touch {{output}}"


def teacher(w):
    g = int(w.g)
    return [f"bare/{{w.chain}}/gen{{g - 1}}/metrics.json"] if g else []


rule train:
    input:
        teacher,
    output:
        "bare/{{chain}}/gen{{g}}/metrics.json",
    shell:
        "touch {{output}}"
'''


def dry_run_seconds(args: list[str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--quiet", "rules", *args],
                          cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"dry-run failed in {cwd}:\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bare-script", action="store_true",
                        help="bare rules run a (no-op) script: as tkd's rules do, instead of shell: touch; "
                             "shows how much of the gap is Snakemake reading each job's script in a dry-run")
    args = parser.parse_args()

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    chains, cells, generations = [], [], None
    for block in config["grid"]:
        # as the workflow does: a block whose data set has a null path (ILSVRC2012 by default) is off
        if block.get("enabled", True) and config["datasets"][block["dataset"]].get("path", "") is not None:
            chains += [f"{block['dataset']}/{a}/{m}/seed{s}" for a in block["archs"] for m in block["methods"]
                       for s in block["seeds"]]
            cells += [f"{block['dataset']}/{a}" for a in block["archs"]]
            generations = block["generations"] + 1
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp)
        snakefile = BARE.format(chains=chains, cells=cells, generations=generations)
        if args.bare_script:
            snakefile = snakefile.replace('shell:\n        "touch {output}"', 'script:\n        "noop.py"')
            (bare / "noop.py").write_text("")
        (bare / "Snakefile").write_text(snakefile)
        # interleaved, so a slow spell of a shared machine hits both alike; best of each
        bare_s, tkd_s = [], []
        for _ in range(args.repeats):
            t, out_bare = dry_run_seconds([], bare)
            bare_s.append(t)
            t, out_tkd = dry_run_seconds(["--config", f"results={tmp}/results"], REPO)
            tkd_s.append(t)
        t_bare, t_tkd = min(bare_s), min(tkd_s)
    total = lambda out: int(re.search(r"^total\s+(\d+)", out, re.M).group(1))
    if total(out_tkd) != total(out_bare):
        sys.exit(f"not comparable: the workflow has {total(out_tkd)} jobs, the bare Snakefile {total(out_bare)}")
    jobs = len(chains) * generations
    ratio = t_tkd / t_bare
    print(f"paper grid: {len(chains)} chains x {generations} generations = {jobs} training jobs, "
          f"{total(out_tkd)} jobs in all in both")
    print(f"dry-run, tkd workflow: {t_tkd:.2f} s   bare Snakefile: {t_bare:.2f} s   ratio: {ratio:.2f}x "
          f"(best of {args.repeats})")
    print(json.dumps({"jobs_train": jobs, "bare": "script" if args.bare_script else "shell",
                      "tkd_s": round(t_tkd, 3), "bare_s": round(t_bare, 3),
                      "ratio": round(ratio, 3), "repeats": args.repeats}))


if __name__ == "__main__":
    main()
