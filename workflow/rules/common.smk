# ======================================================================================
# Config checks, the grid, path patterns and input functions.
# The grid and the path patterns come from tkd (tkd.grid, tkd.layout): the commands that
# read a results folder without Snakemake use the same ones. Nothing here imports torch.
# ======================================================================================
import os

from tkd import grid, layout
from tkd.grid import waves
from tkd.grid.config import check as check_config
from tkd.training.spec import run_spec


check_config(config)  # names that must refer to other sections; the schema checked the rest


RESULTS = config["results"]
SUMMARY = f"{RESULTS}/{layout.SUMMARY}"
RUN = f"{RESULTS}/{layout.RUN_ID}"
CHAIN = f"{RESULTS}/{layout.CHAIN_ID}"
DATA = f"{RESULTS}/{layout.DATA}"
TRAIN_LOG = f"{RESULTS}/{layout.TRAIN_LOG}"
TRAIN_BENCHMARK = f"{RESULTS}/{layout.TRAIN_BENCHMARK}"
FIGURES = f"{SUMMARY}/paper/figures/{{dataset}}/{{arch}}"
# how the claims are judged (tolerance, fdr, delta, boundary): params of the rules that judge them
JUDGING = {k: v for k, v in config["paper"].items() if k not in ("reported", "claims")}

SEQUENTIAL = grid.sequential(config)  # seeds in waves (tkd.statistics.sequential), judged after each by a checkpoint
RUNS = grid.runs(config, wave=1)  # the first wave: in the fixed design, every run
ALL_RUNS = grid.runs(config)  # every run the grid may make (lookups only)
CELLS = grid.cells(RUNS)
TRANSFER = bool(grid.transfer_chains(config, grid.chains(RUNS)))
DATASETS = grid.datasets_used(config, RUNS)
SYNTHETIC = [d for d in DATASETS if config["datasets"][d]["kind"] == "synthetic"]
ON_DISK = [d for d in DATASETS if d not in SYNTHETIC]


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_.\-]*",
    arch="[a-z0-9_]+",
    method="[A-Za-z0-9][A-Za-z0-9_.\-]*",
    seed=r"\d+",
    generation=r"\d+",


# chain -> its generations: input functions look up, never scan the runs
GENERATIONS = {}
for _r in ALL_RUNS:
    GENERATIONS.setdefault((_r["dataset"], _r["arch"], _r["method"], str(_r["seed"])), []).append(_r["generation"])


# ======================================================================================
# Which runs the grid makes: all of them, or wave by wave, each cell at its own pace
# (a checkpoint per cell and wave, waves.smk)
# ======================================================================================
def read_wave(cell, wave):
    """A cell's decision after its wave ``wave`` (waits for its checkpoint, as input functions do)."""
    from tkd.files import read_json

    return read_json(checkpoints.wave.get(dataset=cell.dataset, arch=cell.arch, wave=wave).output.decision,
                     "wave decision")


WAVES = waves.Waves(config, read_wave)  # which runs each wave of each cell asks for: tkd.grid.waves owns it
GRID_CELLS = list(WAVES.cells)  # every (dataset, arch) cell of the grid, sequential or not


def cell(w):
    return waves.Cell(w.dataset, w.arch)


def cell_runs_through(w, through):
    """The runs of the cell of ``w`` through its wave ``through``."""
    return WAVES.runs_through(cell(w), through)


def cell_final_runs(w):
    """Every run of the cell of ``w`` as it ends (waits for that cell's checkpoints only)."""
    return WAVES.final_runs(cell(w))


def cell_wave_files(w, through):
    """The decisions of the cell's waves 1..``through`` (none for a cell of fixed seeds). Params that
    read them need them as inputs as well, so that their job waits for a rerun checkpoint."""
    if len(WAVES.cells[cell(w)]) < 2:
        return []
    return [f"{RESULTS}/{layout.WAVE}".format(dataset=w.dataset, arch=w.arch, wave=n) for n in range(1, through + 1)]


def get_cell_final_wave_files(w):
    return cell_wave_files(w, WAVES.final(cell(w)))


def cell_tables():
    """Each cell's tables (runs, ensembles, transfer) as it ends: the grid's tables are their union."""
    return {name: [f"{RESULTS}/{pattern}".format(dataset=c.dataset, arch=c.arch) for c in GRID_CELLS]
            for name, pattern in layout.CELL_TABLES.items()}


# ======================================================================================
# Paths of a set of runs (aggregation, the waves' judgements and the paper outputs)
# ======================================================================================
def run_files(name, runs):
    """File ``name`` (a key of tkd.layout.RUN_FILES) of every run's directory, in grid order."""
    return [str(layout.run_path(RESULTS, r, name)) for r in runs]


def chain_keys(chains):
    return [dict(dataset=d, arch=a, method=m, seed=s) for d, a, m, s in chains]


def chain_files(name, chains):
    """File ``name`` (a key of tkd.layout.CHAIN_FILES) of every chain's directory."""
    return [str(layout.chain_path(RESULTS, c, name)) for c in chain_keys(chains)]


def chain_records(name, chains):
    """Every chain's keys and the path of its file ``name``."""
    return [dict(c, path=path) for c, path in zip(chain_keys(chains), chain_files(name, chains))]


def transfer_chains(runs):
    return grid.transfer_chains(config, grid.chains(runs))


def get_tables_inputs(runs):
    """What a table of ``runs`` reads: every run's metrics.json (each train job writes its whole run
    directory), every chain's eval.csv and ensembles.csv, and its transfer.csv where probed."""
    chains = grid.chains(runs)
    return {"metrics": run_files("metrics", runs), "evals": chain_files("eval", chains),
            "ensembles": chain_files("ensembles", chains), "transfer": chain_files("transfer", transfer_chains(runs))}


def get_tables_params(runs):
    """The exact files a table of ``runs`` is built from."""
    chains = grid.chains(runs)
    return {"runs": [layout.run_record(RESULTS, r) for r in runs], "ensembles": chain_records("ensembles", chains),
            "transfer": chain_records("transfer", transfer_chains(runs))}


def get_paper_outputs():
    """The paper tables and figures of every cell (the `report` target)."""
    names = [name for name in layout.CELL_FIGURES if name != "transfer" or TRANSFER]
    figures = [path for d, a in CELLS for path in layout.figure_files(FIGURES.format(dataset=d, arch=a), names).values()]
    tables = [f"{SUMMARY}/paper/{name}" for name in ("tables.md", "tables.tex", "tables.html", "claims.csv")]
    return tables + figures + [f"{SUMMARY}/paper/compute.png", f"{SUMMARY}/paper/compute.svg"]


# ======================================================================================
# Input functions of one job
# ======================================================================================
def get_data_file(dataset):
    """What a job reading ``dataset`` depends on: the synthetic set itself, or the manifest that
    the data rule writes once it has found (or downloaded) and checked the files on disk."""
    return f"{DATA}.npz".format(dataset=dataset) if dataset in SYNTHETIC else f"{DATA}.json".format(dataset=dataset)


def get_data_source(dataset):
    """How a job finds ``dataset``: its kind and path (synthetic: the built .npz file)."""
    ds = config["datasets"][dataset]
    if ds["kind"] == "synthetic":
        return {"kind": "synthetic", "path": get_data_file(dataset)}
    return {k: v for k, v in ds.items() if k in ("kind", "path", "download", "checksums")}


def get_chain_generations(w):
    """The generations of one chain, in order."""
    return sorted(GENERATIONS[(w.dataset, w.arch, w.method, w.seed)])


def get_chain_logits(w):
    """Test logits of every generation of one chain, in order."""
    return [str(layout.run_path(RESULTS, {**w, "generation": g}, "logits")) for g in get_chain_generations(w)]


def get_chain_models(w):
    """model.pt of every generation of one chain, in order."""
    return [str(layout.run_path(RESULTS, {**w, "generation": g}, "model")) for g in get_chain_generations(w)]


def get_patriarch_keys(w):
    """Every patriarch of one (dataset, arch) cell, as the cell ends."""
    return [r for r in cell_final_runs(w) if r["generation"] == 0]


def get_patriarch_logits(w):
    """Their test logits, in the same order."""
    return run_files("logits", get_patriarch_keys(w))


def get_train_inputs(w):
    """The data set, and for a student its teacher: generation m-1 of the same chain."""
    inputs = {"data": get_data_file(w.dataset)}
    gen = int(w.generation)
    if gen > 0:
        inputs["teacher"] = str(layout.run_path(RESULTS, {**w, "generation": gen - 1}, "model"))
    return inputs


def get_transfer_inputs(w):
    """Every model of the chain, and both data sets (the source's normalisation, the target's images)."""
    return {"models": get_chain_models(w), "source": get_data_file(w.dataset),
            "target": get_data_file(config["transfer"]["dataset"])}


def get_arch_resources(w):
    """One training job of ``w.arch`` on a cluster (runtime in minutes, memory in MB), before the
    retry scaling."""
    return config["archs"][w.arch]["resources"]


def get_train_spec(w):
    """Every setting that shapes the run's result (tkd.training.spec.run_spec); a change reruns exactly the
    runs it touches. How a job runs (device, threads, ...) is not here: see tkd.jobs.train."""
    return run_spec(config, dict(w), get_data_source(w.dataset)["path"])


def record_launch():
    """Where this workflow runs from, and as which SLURM run: tkd status knows this results
    folder's SLURM jobs by them."""
    from tkd.grid.status import record_launch as record, slurm_run_id  # pandas: at the start of a run, never at parse time

    record(RESULTS, slurm_run_id(workflow))


def print_summary():
    """At the end of a run: the per-method table and the claims table."""
    path = f"{SUMMARY}/summary.md"
    if os.path.exists(path):
        print(open(path).read())
    claims = f"{SUMMARY}/paper/claims.csv"
    if os.path.exists(claims):
        from tkd.statistics.claims import summary_text  # pandas: here only, after the run, never at parse time
        from tkd.files import read_csv

        from tkd.statistics.verdicts import Family

        table = read_csv(claims, what="claims table")
        print("# The paper's claims on these runs (verdicts: see README, 'Reading a verdict')\n")
        family = Family.of_table(table, config["paper"]["fdr"])
        print(summary_text(table, family.caption()))
