localrules:
    aggregate,


rule aggregate:
    """runs.csv, one tidy row per run, and a short per-method, per-generation summary."""
    input:
        # one file per job is enough: each train job writes (and reruns) its whole run directory,
        # spec.yaml, provenance.json and its benchmark included; fewer inputs keep the DAG cheap
        metrics=run_files("metrics.json"),
        evals=run_files("eval.json"),
        ensembles=chain_files("ensembles.csv"),
    output:
        runs=f"{SUMMARY}/runs.csv",
        ensembles=f"{SUMMARY}/ensembles.csv",
        summary=f"{SUMMARY}/summary.md",
    params:
        runs=RUNS,
        chains=CHAINS,
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/aggregate.py"
