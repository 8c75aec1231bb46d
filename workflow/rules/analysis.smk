# ======================================================================================
# Analyses over saved outputs: nothing here retrains a model.
# ======================================================================================
rule transfer:
    """Linear-probe accuracy of each generation's penultimate features on a second data set."""
    input:
        unpack(get_transfer_inputs),
    output:
        f"{CHAIN}/{layout.CHAIN_FILES['transfer']}",
    params:
        generations=get_chain_generations,
        source=lambda w: get_data_source(w.dataset),
        target=lambda w: get_data_source(config["transfer"]["dataset"]),
        c=config["transfer"]["C"],
        device=config["execution"]["device"],
    log:
        f"{RESULTS}/logs/transfer/{layout.CHAIN_ID}.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['transfer']}",
    threads: config["execution"]["threads"]
    resources:
        runtime=60,
        mem_mb=lambda w: get_arch_resources(w)["mem_mb"],
        gpu=lambda w: get_arch_resources(w)["gpu"],
        cpus_per_gpu=lambda w: get_arch_resources(w)["cpus_per_gpu"],
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"
