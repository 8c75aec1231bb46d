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
        unpack(lambda w: get_tables_inputs(final_runs())),
        waves=get_final_wave_files,
    output:
        runs=f"{SUMMARY}/runs.csv",
        ensembles=f"{SUMMARY}/ensembles.csv",
        transfer=f"{SUMMARY}/transfer.csv",
        summary=f"{SUMMARY}/summary.md",
    params:
        tables=lambda w: get_tables_params(final_runs()),
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"
