# ======================================================================================
# Aggregation: every run and chain into tidy tables.
# ======================================================================================
localrules:
    aggregate,


rule aggregate:
    """runs.csv, one tidy row per run, and a short per-method, per-generation summary."""
    input:
        # one file per job is enough: each train job writes (and reruns) its whole run directory,
        # spec.yaml, provenance.json and its benchmark included; fewer inputs keep the DAG cheap
        metrics=get_run_files("metrics.json"),
        evals=get_chain_files("eval.csv"),
        ensembles=get_chain_files("ensembles.csv"),
        transfer=get_chain_files("transfer.csv", TRANSFER_CHAINS),
    output:
        runs=f"{SUMMARY}/runs.csv",
        ensembles=f"{SUMMARY}/ensembles.csv",
        transfer=f"{SUMMARY}/transfer.csv",
        summary=f"{SUMMARY}/summary.md",
    params:
        runs=get_run_records(),
        ensembles=get_chain_records("ensembles.csv"),
        transfer=get_chain_records("transfer.csv", TRANSFER_CHAINS),
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/aggregate.py"
