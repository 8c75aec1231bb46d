# Grid expansion, cross-checks of config, and input functions.
import os
from itertools import product


RESULTS = config["results"]
SUMMARY = f"{RESULTS}/summary"
RUN_ID = "{dataset}/{arch}/{method}/seed{seed}/gen{generation}"
RUN = f"{RESULTS}/{RUN_ID}"
FIGURES = f"{SUMMARY}/paper/figures/{{dataset}}/{{arch}}"
SYNTHETIC = [k for k, d in config["datasets"].items() if d["kind"] == "synthetic"]


wildcard_constraints:
    dataset="[A-Za-z0-9][A-Za-z0-9_.\-]*",
    arch="[a-z0-9_]+",
    method="[A-Za-z0-9][A-Za-z0-9_.\-]*",
    seed=r"\d+",
    generation=r"\d+",


class ConfigError(ValueError):
    pass


def _check_config():
    """What the schema cannot say: names that must refer to other sections."""
    for arch, a in config["archs"].items():
        if a["recipe"] not in config["recipes"]:
            raise ConfigError(f"archs.{arch}.recipe: {a['recipe']!r} is not defined in recipes")
    for name, ds in config["datasets"].items():
        if ds["kind"] == "imagefolder" and ds["eval_resize"] < ds["image_size"]:
            raise ConfigError(f"datasets.{name}.eval_resize: {ds['eval_resize']} is smaller than "
                              f"image_size {ds['image_size']}; the center crop needs eval_resize >= image_size")
    if config["transfer"]["enabled"] and config["transfer"]["dataset"] not in config["datasets"]:
        raise ConfigError(f"transfer.dataset: {config['transfer']['dataset']!r} is not defined in datasets")
    for i, block in enumerate(config["grid"]):
        if block["dataset"] not in config["datasets"]:
            raise ConfigError(f"grid[{i}].dataset: {block['dataset']!r} is not defined in datasets")
        for arch in block["archs"]:
            if arch not in config["archs"]:
                raise ConfigError(f"grid[{i}].archs: {arch!r} is not defined in archs")
        for method in block["methods"]:
            if method not in config["methods"]:
                raise ConfigError(f"grid[{i}].methods: {method!r} is not defined in methods")


_check_config()


def dataset_on(name):
    """A data set is off while its path is null (the ILSVRC2012 section until a path is given)."""
    return config["datasets"][name].get("path", "") is not None


def grid_runs():
    """Every run of the enabled grid blocks whose data set is on, as wildcard dicts."""
    runs = []
    for block in config["grid"]:
        if not block["enabled"] or not dataset_on(block["dataset"]):
            continue
        for arch, method, seed, gen in product(
            block["archs"], block["methods"], block["seeds"], range(block["generations"] + 1)
        ):
            runs.append(
                dict(dataset=block["dataset"], arch=arch, method=method, seed=seed, generation=gen)
            )
    return runs


RUNS = grid_runs()
CHAIN = f"{RESULTS}/{{dataset}}/{{arch}}/{{method}}/seed{{seed}}"
CHAINS = sorted({(r["dataset"], r["arch"], r["method"], r["seed"]) for r in RUNS})
TRANSFER = config["transfer"]["enabled"]
# the linear probe reads 32x32 targets: it is for the 32x32 (in-memory) sources, not ImageFolder ones
TRANSFER_CHAINS = [c for c in CHAINS if TRANSFER and config["datasets"][c[0]]["kind"] != "imagefolder"]


def run_files(pattern):
    """``pattern`` (relative to a run directory) for every run of the grid."""
    return [f"{RUN}/{pattern}".format(**r) for r in RUNS]


def chain_files(name, chains=CHAINS):
    """``name`` (relative to a chain directory) for every chain: dataset, arch, method, seed."""
    return [f"{CHAIN}/{name}".format(dataset=d, arch=a, method=m, seed=s) for d, a, m, s in chains]


# chain -> its generations, and cell -> its patriarchs: input functions look up, never scan RUNS
GENERATIONS = {}
PATRIARCHS = {}
for _r in RUNS:
    GENERATIONS.setdefault((_r["dataset"], _r["arch"], _r["method"], str(_r["seed"])), []).append(_r["generation"])
    if _r["generation"] == 0:
        PATRIARCHS.setdefault((_r["dataset"], _r["arch"]), []).append(f"{RUN}/test_logits.npz".format(**_r))


def chain_logits(w):
    """Test logits of every generation of one chain, in order."""
    gens = sorted(GENERATIONS[(w.dataset, w.arch, w.method, w.seed)])
    return [f"{CHAIN}/gen{g}/test_logits.npz".format(**w) for g in gens]


def data_file(dataset):
    return f"{RESULTS}/data/{dataset}.npz"


def dataset_source(name):
    """How a job finds a data set: its kind, path and whether it may download."""
    ds = config["datasets"][name]
    if ds["kind"] == "synthetic":
        return {"kind": "synthetic", "path": data_file(name)}
    return {"kind": ds["kind"], "path": ds["path"], "download": ds["download"]}


def transfer_inputs(w):
    models = [f.replace("test_logits.npz", "model.pt") for f in chain_logits(w)]
    inputs = {"models": models}
    for key, name in (("source", w.dataset), ("target", config["transfer"]["dataset"])):
        if name in SYNTHETIC:
            inputs[key] = data_file(name)
    return inputs


def train_inputs(w):
    inputs = {}
    if w.dataset in SYNTHETIC:
        inputs["data"] = data_file(w.dataset)
    gen = int(w.generation)
    if gen > 0:  # the teacher: generation m-1 of the same dataset, arch, method and seed
        inputs["teacher"] = f"{RUN}/model.pt".format(**{**w, "generation": gen - 1})
    return inputs


LOSS_PARAMS = ("epsilon", "beta", "eta", "k")


def arch_resources(w):
    """Runtime (minutes) and memory (MB) of one training job of ``w.arch``, before attempt scaling."""
    return config["archs"][w.arch]["resources"]


def train_spec(w):
    """Every setting that shapes the run's result; a change reruns exactly the runs it touches."""
    ds = config["datasets"][w.dataset]
    method = config["methods"][w.method]
    recipe = config["recipes"][config["archs"][w.arch]["recipe"]]
    ex = config["execution"]
    spec = dict(
        dataset=ds["kind"],
        data_path=data_file(w.dataset) if ds["kind"] == "synthetic" else ds["path"],
        arch=w.arch,
        generation=int(w.generation),
        seed=int(w.seed),
        device=ex["device"],
        amp=ex["amp"],
        deterministic=ex["deterministic"],
        eval_every=ex["eval_every"],
        **recipe,
    )
    if ds["kind"] == "cifar100":
        spec["download"] = ds["download"]
    if ds["kind"] == "imagefolder":
        spec.update(image_size=ds["image_size"], eval_resize=ds["eval_resize"])
    if int(w.generation) == 0:  # a patriarch learns from labels only
        spec["loss"] = method["loss"]
        spec["loss_params"] = {k: method[k] for k in LOSS_PARAMS if k in method}
    else:  # a student learns from its teacher (its lineage already carries the loss)
        spec.update(lam=method["lam"], temperature=method["temperature"], student_init=method["student_init"])
    return spec


CELLS = sorted({(r["dataset"], r["arch"]) for r in RUNS})


def patriarch_logits(w):
    """Test logits of every patriarch of one (dataset, arch) cell."""
    return PATRIARCHS[(w.dataset, w.arch)]


def paper_outputs():
    figures = [
        f"{FIGURES}/{name}.{ext}".format(dataset=d, arch=a)
        for d, a in CELLS
        for name in ("accuracy", "tolerance", "secondary", "ensembles") + (("transfer",) if TRANSFER else ())
        for ext in ("png", "svg")
    ]
    tables = [f"{SUMMARY}/paper/tables.{ext}" for ext in ("md", "tex", "html")]
    return tables + figures + [f"{SUMMARY}/paper/compute.png", f"{SUMMARY}/paper/compute.svg"]


def print_summary():
    path = f"{SUMMARY}/summary.md"
    if os.path.exists(path):
        print(open(path).read())
