localrules:
    aggregate,


rule aggregate:
    """runs.csv, one tidy row per run, and a short per-method, per-generation summary."""
    input:
        # one file per job is enough: each train job writes (and reruns) its whole run directory,
        # spec.yaml, provenance.json and its benchmark included; fewer inputs keep the DAG cheap
        metrics=run_files("metrics.json"),
        evals=chain_files("eval.csv"),
        ensembles=chain_files("ensembles.csv"),
        transfer=chain_files("transfer.csv", TRANSFER_CHAINS),
    output:
        runs=f"{SUMMARY}/runs.csv",
        ensembles=f"{SUMMARY}/ensembles.csv",
        transfer=f"{SUMMARY}/transfer.csv",
        summary=f"{SUMMARY}/summary.md",
    params:
        runs=RUNS,
        chains=CHAINS,
        transfer_chains=TRANSFER_CHAINS,
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/aggregate.py"
