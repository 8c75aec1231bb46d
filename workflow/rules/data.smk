rule synthetic_data:
    """The offline synthetic data set, built once and read by every training job."""
    output:
        f"{RESULTS}/data/{{dataset}}.npz",
    params:
        options=lambda w: {k: v for k, v in config["datasets"][w.dataset].items() if k != "kind"},
    log:
        f"{RESULTS}/logs/data/{{dataset}}.log",
    wildcard_constraints:
        dataset="|".join(SYNTHETIC) or "(?!)",
    resources:
        runtime=10,
        mem_mb=4000,
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/synthetic_data.py"
