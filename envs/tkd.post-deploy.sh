#!/usr/bin/env bash
# Snakemake runs this in the new environment of envs/tkd.yaml (--sdm conda), from the directory
# snakemake runs in: the repository root. The rules' scripts import tkd from here; its
# dependencies are already in the environment.
set -euo pipefail
python -m pip install --no-deps --editable .
