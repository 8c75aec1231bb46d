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
# what a finished run directory holds (the train rule's outputs); metrics.json is written last
RUN_FILES = ("model.pt", "metrics.json", "history.csv", "test_logits.npz", "provenance.json", "spec.yaml")
# the resume state inside a run directory: deliberately not a declared output (a scheduler
# deletes a failed job's outputs, and the state must survive the failure)
RESUME_STATE = "resume/state.pt"
# per chain, written by the evaluate and transfer rules
CHAIN_FILES = ("eval.csv", "ensembles.csv", "transfer.csv")
# logs and Snakemake benchmark files of the training jobs, below the results folder
TRAIN_LOG = "logs/train/" + RUN_ID + ".log"
TRAIN_BENCHMARK = "benchmarks/train/" + RUN_ID + ".tsv"
DATA = "data/{dataset}"  # + ".npz" (a synthetic set) or ".json" (the manifest of a set on disk)
SUMMARY = "summary"
PARTIAL = "summary/partial"
# a sequential grid's decision after each wave, and its claims table then (tkd.sequential)
WAVE = "summary/waves/wave{wave}.json"
WAVE_CLAIMS = "summary/waves/claims_wave{wave}.csv"


def run_path(results: str | Path, run: dict, name: str = "") -> Path:
    """A file of one run (``name`` one of :data:`RUN_FILES`), or its directory."""
    return Path(results) / RUN_ID.format(**run) / name


def chain_path(results: str | Path, chain: dict, name: str = "") -> Path:
    return Path(results) / CHAIN_ID.format(**chain) / name


def resume_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / RESUME_STATE


def wave_files(results: str | Path) -> list[Path]:
    """The decisions of the waves judged so far, in order."""
    found, wave = [], 1
    while (Path(results) / WAVE.format(wave=wave)).is_file():
        found.append(Path(results) / WAVE.format(wave=wave))
        wave += 1
    return found
