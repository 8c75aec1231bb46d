rule evaluate:
    """Accuracy and secondary-information measures from a run's saved test logits."""
    input:
        logits=f"{RUN}/test_logits.npz",
    output:
        f"{RUN}/eval.json",
    params:
        k=config["analysis"]["secondary_k"],
    log:
        f"{RESULTS}/logs/evaluate/{RUN_ID}.log",
    resources:
        runtime=10,
        mem_mb=4000,
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/evaluate.py"


localrules:
    ensembles,


rule ensembles:
    """Ensembles of the generations of one chain: 0..m for every m, and the last k."""
    input:
        chain_logits,
    output:
        f"{CHAIN}/ensembles.csv",
    params:
        last=config["analysis"]["ensemble_last"],
    log:
        f"{RESULTS}/logs/ensembles/{{dataset}}/{{arch}}/{{method}}/seed{{seed}}.log",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/ensembles.py"
