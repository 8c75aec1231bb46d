localrules:
    aggregate,


rule aggregate:
    """runs.csv, one tidy row per run, and a short per-method, per-generation summary."""
    input:
        # one file per job is enough: each train job writes (and reruns) its whole run directory,
        # spec.yaml, provenance.json and its benchmark included; fewer inputs keep the DAG cheap
        metrics=run_files("metrics.json"),
        evals=run_files("eval.json"),
    output:
        runs=f"{SUMMARY}/runs.csv",
        summary=f"{SUMMARY}/summary.md",
    params:
        runs=RUNS,
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/aggregate.py"
