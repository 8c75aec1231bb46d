# The Snakemake script of every rule: the job's body is the function of tkd.jobs named after the
# rule (importable and unit-tested). tkd comes from the environment: `pip install -e .`, or the
# package that envs/tkd.yaml installs under --sdm conda.
from tkd.jobs import run

run(snakemake)  # noqa: F821 (injected by Snakemake)
