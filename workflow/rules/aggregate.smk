# ======================================================================================
# Aggregation: every run and chain into tidy tables.
# ======================================================================================
localrules:
    cell_tables,
    aggregate,


rule cell_tables:
    """One cell's runs, ensembles and transfer tables as it ends (after its last wave)."""
    input:
        # one file per job is enough: each train job writes (and reruns) its whole run directory,
        # spec.yaml, provenance.json and its benchmark included; fewer inputs keep the DAG cheap
        unpack(lambda w: get_tables_inputs(cell_final_runs(w))),
        waves=get_cell_final_wave_files,
    output:
        **{name: f"{RESULTS}/{pattern}" for name, pattern in layout.CELL_TABLES.items()},
    params:
        tables=lambda w: get_tables_params(cell_final_runs(w)),
    log:
        f"{RESULTS}/logs/cells/{{dataset}}/{{arch}}.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['cell_tables']}",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"


rule aggregate:
    """runs.csv, one tidy row per run, and a short per-method, per-generation summary: the union of
    the cells' tables (each cell as it ends, at its own pace)."""
    input:
        **cell_tables(),
    output:
        runs=f"{SUMMARY}/runs.csv",
        ensembles=f"{SUMMARY}/ensembles.csv",
        transfer=f"{SUMMARY}/transfer.csv",
        summary=f"{SUMMARY}/summary.md",
    log:
        f"{RESULTS}/logs/aggregate.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['aggregate']}",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"
