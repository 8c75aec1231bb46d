# ======================================================================================
# Data: every data set a job reads is the output of a rule here, so missing data stops
# the workflow once, before any training job is submitted.
# ======================================================================================
localrules:
    data,


rule synthetic_data:
    """The offline synthetic data set, built once and read by every training job."""
    output:
        f"{DATA}.npz",
    params:
        options=lambda w: {k: v for k, v in config["datasets"][w.dataset].items() if k != "kind"},
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['synthetic_data']}",
    wildcard_constraints:
        dataset="|".join(SYNTHETIC) or "(?!)",
    resources:
        runtime=10,
        mem_mb=4000,
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"


rule data:
    """A data set on disk (CIFAR-100/10 in torchvision's layout, an ImageFolder): found and checked
    (checksums, class folders), or downloaded where the config allows; a manifest of what was found.
    Local, and never retried: a missing data set is one message naming the folder and the config key."""
    output:
        f"{DATA}.json",
    params:
        source=lambda w: get_data_source(w.dataset),
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['data']}",
    wildcard_constraints:
        dataset="|".join(ON_DISK) or "(?!)",
    retries: 0
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"
