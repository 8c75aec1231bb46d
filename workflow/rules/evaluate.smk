localrules:
    evaluate,


rule evaluate:
    """Per chain, from saved test logits: each generation's accuracy and secondary-information
    measures, and ensembles of generations 0..m for every m and of the last k."""
    input:
        chain_logits,
    output:
        eval=f"{CHAIN}/eval.csv",
        ensembles=f"{CHAIN}/ensembles.csv",
    params:
        k=config["analysis"]["secondary_k"],
        last=config["analysis"]["ensemble_last"],
    log:
        f"{RESULTS}/logs/evaluate/{{dataset}}/{{arch}}/{{method}}/seed{{seed}}.log",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/evaluate.py"
