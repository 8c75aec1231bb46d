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

RUNS = grid.runs(config)
CHAINS = grid.chains(RUNS)
CELLS = grid.cells(RUNS)
TRANSFER_CHAINS = grid.transfer_chains(config, CHAINS)
TRANSFER = bool(TRANSFER_CHAINS)
DATASETS = grid.datasets_used(config, RUNS)
SYNTHETIC = [d for d in DATASETS if config["datasets"][d]["kind"] == "synthetic"]
ON_DISK = [d for d in DATASETS if d not in SYNTHETIC]


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_.\-]*",
    arch="[a-z0-9_]+",
    method="[A-Za-z0-9][A-Za-z0-9_.\-]*",
    seed=r"\d+",
    generation=r"\d+",


# chain -> its generations, and cell -> its patriarchs: input functions look up, never scan RUNS
GENERATIONS = {}
PATRIARCHS = {}
for _r in RUNS:
    GENERATIONS.setdefault((_r["dataset"], _r["arch"], _r["method"], str(_r["seed"])), []).append(_r["generation"])
    if _r["generation"] == 0:
        PATRIARCHS.setdefault((_r["dataset"], _r["arch"]), []).append(_r)


# ======================================================================================
# Paths of the whole grid (aggregation and the paper outputs)
# ======================================================================================
def get_run_files(name):
    """File ``name`` of every run's directory (e.g. metrics.json), in grid order."""
    return [f"{RUN}/{name}".format(**r) for r in RUNS]


def get_chain_files(name, chains=CHAINS):
    """File ``name`` of every chain's directory (e.g. eval.csv)."""
    return [f"{CHAIN}/{name}".format(dataset=d, arch=a, method=m, seed=s) for d, a, m, s in chains]


def get_run_records():
    """Every run's keys and the exact files aggregation reads (its benchmark may not exist)."""
    return [dict(r, metrics=f"{RUN}/metrics.json".format(**r), spec=f"{RUN}/spec.yaml".format(**r),
                 provenance=f"{RUN}/provenance.json".format(**r), eval=f"{CHAIN}/eval.csv".format(**r),
                 benchmark=TRAIN_BENCHMARK.format(**r)) for r in RUNS]


def get_chain_records(name, chains=CHAINS):
    """Every chain's keys and the path of its file ``name``."""
    return [dict(dataset=d, arch=a, method=m, seed=s, path=path)
            for (d, a, m, s), path in zip(chains, get_chain_files(name, chains))]


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


def get_patriarch_logits(w):
    """Test logits of every patriarch of one (dataset, arch) cell."""
    return [f"{RUN}/test_logits.npz".format(**r) for r in PATRIARCHS[(w.dataset, w.arch)]]


def get_patriarch_keys(w):
    """The keys of those patriarchs, in the same order."""
    return PATRIARCHS[(w.dataset, w.arch)]


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
