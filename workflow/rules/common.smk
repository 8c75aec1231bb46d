# ======================================================================================
# Config checks, the grid, path patterns and input functions.
# The grid and the path patterns come from tkd (tkd.grid, tkd.layout): the commands that
# read a results folder without Snakemake use the same ones. Nothing here imports torch.
# ======================================================================================
import os

from tkd import grid, layout
from tkd.config import check as check_config
from tkd.spec import RESULT_FIELDS


check_config(config)  # names that must refer to other sections; the schema checked the rest


RESULTS = config["results"]
SUMMARY = f"{RESULTS}/{layout.SUMMARY}"
RUN = f"{RESULTS}/{layout.RUN_ID}"
CHAIN = f"{RESULTS}/{layout.CHAIN_ID}"
DATA = f"{RESULTS}/{layout.DATA}"
TRAIN_LOG = f"{RESULTS}/{layout.TRAIN_LOG}"
TRAIN_BENCHMARK = f"{RESULTS}/{layout.TRAIN_BENCHMARK}"
FIGURES = f"{SUMMARY}/paper/figures/{{dataset}}/{{arch}}"

SEQUENTIAL = grid.sequential(config)  # seeds in waves (tkd.sequential), judged after each by a checkpoint
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
# Which runs the grid makes: all of them, or wave by wave (checkpoints in waves.smk)
# ======================================================================================
def read_wave(wave):
    """The decision after wave ``wave`` (waits for its checkpoint, as input functions do)."""
    from tkd.files import read_json

    return read_json(checkpoints.wave.get(wave=wave).output.decision, "wave decision")


def runs_through(wave):
    """The runs of waves 1..``wave``: the first, then those each earlier checkpoint asked for."""
    runs = list(RUNS)
    for earlier in range(1, wave):
        runs += read_wave(earlier)["next_runs"]
    return runs


def final_wave():
    """The wave after which the grid stopped (1 in the fixed design)."""
    wave = 1
    while SEQUENTIAL and not read_wave(wave)["stop"]:
        wave += 1
    return wave


def final_runs():
    """Every run of the grid as it ends."""
    return runs_through(final_wave()) if SEQUENTIAL else RUNS


# ======================================================================================
# Paths of a set of runs (aggregation, the waves' judgements and the paper outputs)
# ======================================================================================
def run_files(name, runs):
    """File ``name`` of every run's directory (e.g. metrics.json), in grid order."""
    return [f"{RUN}/{name}".format(**r) for r in runs]


def chain_files(name, chains):
    """File ``name`` of every chain's directory (e.g. eval.csv)."""
    return [f"{CHAIN}/{name}".format(dataset=d, arch=a, method=m, seed=s) for d, a, m, s in chains]


def run_records(runs):
    """Every run's keys and the exact files aggregation reads (its benchmark may not exist)."""
    return [dict(r, metrics=f"{RUN}/metrics.json".format(**r), spec=f"{RUN}/spec.yaml".format(**r),
                 provenance=f"{RUN}/provenance.json".format(**r), eval=f"{CHAIN}/eval.csv".format(**r),
                 benchmark=TRAIN_BENCHMARK.format(**r)) for r in runs]


def chain_records(name, chains):
    """Every chain's keys and the path of its file ``name``."""
    return [dict(dataset=d, arch=a, method=m, seed=s, path=path)
            for (d, a, m, s), path in zip(chains, chain_files(name, chains))]


def transfer_chains(runs):
    return grid.transfer_chains(config, grid.chains(runs))


def get_tables_inputs(runs):
    """What a table of ``runs`` reads: every run's metrics.json (each train job writes its whole run
    directory), every chain's eval.csv and ensembles.csv, and its transfer.csv where probed."""
    chains = grid.chains(runs)
    return {"metrics": run_files("metrics.json", runs), "evals": chain_files("eval.csv", chains),
            "ensembles": chain_files("ensembles.csv", chains),
            "transfer": chain_files("transfer.csv", transfer_chains(runs))}


def get_tables_params(runs):
    """The exact files a table of ``runs`` is built from."""
    chains = grid.chains(runs)
    return {"runs": run_records(runs), "ensembles": chain_records("ensembles.csv", chains),
            "transfer": chain_records("transfer.csv", transfer_chains(runs))}


def get_paper_outputs():
    """The paper tables and figures of every cell (the `report` target)."""
    names = ("accuracy", "tolerance", "secondary", "ensembles") + (("transfer",) if TRANSFER else ())
    figures = [f"{FIGURES}/{name}.{ext}".format(dataset=d, arch=a)
               for d, a in CELLS for name in names for ext in ("png", "svg")]
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
    return [f"{RUN}/test_logits.npz".format(**{**w, "generation": g}) for g in get_chain_generations(w)]


def get_chain_models(w):
    """model.pt of every generation of one chain, in order."""
    return [f"{RUN}/model.pt".format(**{**w, "generation": g}) for g in get_chain_generations(w)]


def get_patriarch_keys(w):
    """Every patriarch of one (dataset, arch) cell, of the grid as it ends."""
    return [r for r in final_runs() if (r["dataset"], r["arch"], r["generation"]) == (w.dataset, w.arch, 0)]


def get_patriarch_logits(w):
    """Their test logits, in the same order."""
    return run_files("test_logits.npz", get_patriarch_keys(w))


def get_train_inputs(w):
    """The data set, and for a student its teacher: generation m-1 of the same chain."""
    inputs = {"data": get_data_file(w.dataset)}
    gen = int(w.generation)
    if gen > 0:
        inputs["teacher"] = f"{RUN}/model.pt".format(**{**w, "generation": gen - 1})
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
    """Every setting that shapes the run's result (tkd.spec.RESULT_FIELDS); a change reruns exactly
    the runs it touches. How a job runs (device, threads, ...) is not here: see tkd.jobs.train."""
    ds = config["datasets"][w.dataset]
    method = config["methods"][w.method]
    spec = dict(
        dataset=ds["kind"],
        data_path=get_data_source(w.dataset)["path"],
        arch=w.arch,
        generation=int(w.generation),
        seed=int(w.seed),
        **{k: v for k, v in config["execution"].items() if k in RESULT_FIELDS},
        **config["recipes"][config["archs"][w.arch]["recipe"]],
    )
    if ds["kind"] == "cifar100":
        spec["download"] = ds["download"]
        if not ds["checksums"]:  # hand-made test files only (the data rule checks real ones)
            spec["verify_checksums"] = False
    if ds["kind"] == "imagefolder":
        spec.update(image_size=ds["image_size"], eval_resize=ds["eval_resize"])
    students = {k: v for k, v in method.items() if k in RESULT_FIELDS and k != "loss"}  # lam, temperature, student_init
    if int(w.generation) == 0:  # a patriarch learns from labels only: its loss and the loss's parameters
        spec.update(loss=method["loss"], loss_params={k: v for k, v in method.items() if k != "loss" and k not in students})
    else:  # a student learns from its teacher (its lineage already carries the loss)
        spec.update(students)
    return spec


def print_summary():
    """At the end of a run: the per-method table and the claims table."""
    path = f"{SUMMARY}/summary.md"
    if os.path.exists(path):
        print(open(path).read())
    claims = f"{SUMMARY}/paper/claims.csv"
    if os.path.exists(claims):
        from tkd.claims import summary_text  # pandas: here only, after the run, never at parse time
        from tkd.files import read_csv

        from tkd.verdicts import Family

        table = read_csv(claims, what="claims table")
        print("# The paper's claims on these runs (verdicts: see README, 'Reading a verdict')\n")
        family = Family.of_table(table, config["paper"]["fdr"])
        print(f"{summary_text(table)}\n\n{family.caption()}")
