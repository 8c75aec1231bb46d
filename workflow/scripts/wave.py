# Snakemake script: the logic is tkd.jobs.wave (importable and unit-tested).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1]))  # noqa: F821  the repo, for --sdm conda
from tkd.jobs import wave  # noqa: E402

wave(snakemake)  # noqa: F821 (injected by Snakemake)
