"""Where everything lives in a results folder: declared here once.

The workflow's rules build their paths from these patterns (``workflow/rules/common.smk``),
and the commands that read a results folder without Snakemake (``tkd status``,
``tkd tables``) find the same files through them. Plain strings: no imports, so the
Snakefile's parse path stays cheap.
"""
from __future__ import annotations

from pathlib import Path

# one training run, and one chain (generations 0..m of one dataset, arch, method and seed)
RUN_ID = "{dataset}/{arch}/{method}/seed{seed}/gen{generation}"
CHAIN_ID = "{dataset}/{arch}/{method}/seed{seed}"
# what a finished run directory holds (the train rule's outputs, by name); metrics.json is written last
RUN_FILES = {"model": "model.pt", "metrics": "metrics.json", "history": "history.csv", "logits": "test_logits.npz",
             "provenance": "provenance.json", "spec": "spec.yaml"}
# the resume state inside a run directory: deliberately not a declared output (a scheduler
# deletes a failed job's outputs, and the state must survive the failure)
RESUME_STATE = "resume/state.pt"
# per chain, written by the evaluate rule (eval, ensembles) and the transfer rule
CHAIN_FILES = {"eval": "eval.csv", "ensembles": "ensembles.csv", "transfer": "transfer.csv"}
# a training job's heartbeat in its run directory while it runs (not an output): tkd status reads it
RUNNING = "running.json"
# the figures of each (dataset, arch) cell, under summary/paper/figures/{dataset}/{arch}/, as PNG and SVG
CELL_FIGURES = {"accuracy": "accuracy vs generation", "tolerance": "patriarch tolerance",
                "secondary": "secondary information", "ensembles": "ensembles of generations",
                "transfer": "transfer features"}
FIGURE_FORMATS = ("png", "svg")
# logs and Snakemake benchmark files of the training jobs, below the results folder
TRAIN_LOG = "logs/train/" + RUN_ID + ".log"
TRAIN_BENCHMARK = "benchmarks/train/" + RUN_ID + ".tsv"
# every rule's Snakemake benchmark file (the rules name them; the planner's schedule reads them)
BENCHMARKS = {"train": TRAIN_BENCHMARK, "evaluate": "benchmarks/evaluate/" + CHAIN_ID + ".tsv",
              "transfer": "benchmarks/transfer/" + CHAIN_ID + ".tsv",
              "synthetic_data": "benchmarks/data/{dataset}.tsv", "data": "benchmarks/data/{dataset}.tsv",
              "wave": "benchmarks/waves/{dataset}/{arch}/wave{wave}.tsv",
              "cell_tables": "benchmarks/cells/{dataset}/{arch}.tsv", "aggregate": "benchmarks/aggregate.tsv",
              "paper_tables": "benchmarks/paper/tables.tsv",
              "paper_figures": "benchmarks/paper/figures/{dataset}/{arch}.tsv",
              "compute_figure": "benchmarks/paper/compute.tsv"}
DATA = "data/{dataset}"  # + ".npz" (a synthetic set) or ".json" (the manifest of a set on disk)
SUMMARY = "summary"
PARTIAL = "summary/partial"
# a sequential cell's decision after each of its waves, and its rows' table then (tkd.grid.waves, tkd.statistics.wave_claims)
WAVE = "summary/waves/{dataset}/{arch}/wave{wave}.json"
LAUNCHED = "logs/launched_from.txt"  # the directories snakemake ran from: tkd status knows its SLURM jobs by them
SLURM_RUNS = "logs/slurm_runs.txt"  # the SLURM executor's run names (each job's name): the same, per results folder
WAVE_CLAIMS = "summary/waves/{dataset}/{arch}/claims_wave{wave}.csv"
# each cell's runs, ensembles and transfer tables as it ends (aggregated per cell: no cell waits for another)
CELL_TABLES = {name: "summary/cells/{dataset}/{arch}/" + name + ".csv" for name in ("runs", "ensembles", "transfer")}


def run_path(results: str | Path, run: dict, name: str = "") -> Path:
    """A file of one run (``name`` a key of :data:`RUN_FILES`, or a file name), or its directory."""
    return Path(results) / RUN_ID.format(**run) / RUN_FILES.get(name, name)


def chain_path(results: str | Path, chain: dict, name: str = "") -> Path:
    """A file of one chain (``name`` a key of :data:`CHAIN_FILES`, or a file name), or its directory."""
    return Path(results) / CHAIN_ID.format(**chain) / CHAIN_FILES.get(name, name)


def run_record(results: str | Path, run: dict) -> dict:
    """A run's keys and the exact files aggregation reads (tkd.grid.aggregate; its benchmark may not exist)."""
    return dict(run, **{k: str(run_path(results, run, k)) for k in ("metrics", "spec", "provenance")},
                eval=str(chain_path(results, run, "eval")), benchmark=str(Path(results) / TRAIN_BENCHMARK.format(**run)))


def figure_files(folder: str | Path, names=tuple(CELL_FIGURES)) -> dict[str, str]:
    """The figure files of one cell by output name (``accuracy``, ``accuracy_svg``, ...)."""
    return {name + ("" if ext == FIGURE_FORMATS[0] else f"_{ext}"): f"{folder}/{name}.{ext}"
            for name in names for ext in FIGURE_FORMATS}


def resume_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / RESUME_STATE
