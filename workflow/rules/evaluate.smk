# ======================================================================================
# Evaluation of saved test logits: numpy only, local.
# ======================================================================================
localrules:
    evaluate,


rule evaluate:
    """Per chain, from saved test logits: each generation's accuracy (whole test set and its two
    halves) and secondary-information measures, and ensembles of generations 0..m for every m and
    of the last k."""
    input:
        get_chain_logits,
    output:
        eval=f"{CHAIN}/{layout.CHAIN_FILES['eval']}",
        ensembles=f"{CHAIN}/{layout.CHAIN_FILES['ensembles']}",
    params:
        generations=get_chain_generations,
        k=config["analysis"]["secondary_k"],
        last=config["analysis"]["ensemble_last"],
    log:
        f"{RESULTS}/logs/evaluate/{layout.CHAIN_ID}.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['evaluate']}",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"
