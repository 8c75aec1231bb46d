localrules:
    aggregate,


rule aggregate:
    """runs.csv, one tidy row per run, and a short per-method, per-generation summary."""
    input:
        specs=run_files("spec.yaml"),
        metrics=run_files("metrics.json"),
        evals=run_files("eval.json"),
        provenance=run_files("provenance.json"),
        benchmarks=benchmark_files(),
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
