# ======================================================================================
# The paper's outputs: claims, tables and figures with verdicts (`snakemake report`).
# ======================================================================================
localrules:
    paper_tables,
    paper_figures,
    compute_figure,
    report,


rule paper_tables:
    """The claims table, then paper-style tables (Markdown, LaTeX booktabs, HTML), with verdicts."""
    input:
        runs=f"{SUMMARY}/runs.csv",
        ensembles=f"{SUMMARY}/ensembles.csv",
        transfer=f"{SUMMARY}/transfer.csv",
        reported=config["paper"]["reported"],
        claims=config["paper"]["claims"],
    output:
        md=report(f"{SUMMARY}/paper/tables.md", caption="../report/tables.rst", category="Tables",
                  labels={"table": "claims, generations and verdicts", "format": "Markdown"}),
        tex=report(f"{SUMMARY}/paper/tables.tex", caption="../report/tables.rst", category="Tables",
                   labels={"table": "claims, generations and verdicts", "format": "LaTeX"}),
        html=report(f"{SUMMARY}/paper/tables.html", caption="../report/tables.rst", category="Tables",
                    labels={"table": "claims, generations and verdicts", "format": "HTML"}),
        claims=report(f"{SUMMARY}/paper/claims.csv", caption="../report/claims.rst", category="Tables",
                      labels={"table": "the paper's claims", "format": "CSV"}),
        comparison=f"{SUMMARY}/paper/comparison.csv",
    params:
        paper=JUDGING,
        sequential=SEQUENTIAL,
        looks=waves.looks_param(config),
        possible=len(ALL_RUNS),
    log:
        f"{RESULTS}/logs/paper/tables.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['paper_tables']}",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"


rule paper_figures:
    """Accuracy per generation, patriarch tolerance and secondary information, per dataset and arch."""
    input:
        runs=f"{SUMMARY}/runs.csv",
        ensembles=f"{SUMMARY}/ensembles.csv",
        transfer=f"{SUMMARY}/transfer.csv",
        reported=config["paper"]["reported"],
        logits=get_patriarch_logits,
        waves=get_cell_final_wave_files,
    output:
        **{name: report(path, caption=f"../report/{name}.rst", category="Figures", subcategory="{dataset} / {arch}",
                        labels={"dataset": "{dataset}", "arch": "{arch}", "figure": layout.CELL_FIGURES[name]})
           for name, path in layout.figure_files(FIGURES).items() if not name.endswith("_svg")},
        **{name: path for name, path in layout.figure_files(FIGURES).items() if name.endswith("_svg")},
    params:
        k=config["analysis"]["secondary_k"],
        patriarchs=get_patriarch_keys,
    log:
        f"{RESULTS}/logs/paper/figures/{{dataset}}/{{arch}}.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['paper_figures']}",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"


rule compute_figure:
    """Training hours per grid cell, from the benchmark files (via runs.csv)."""
    input:
        runs=f"{SUMMARY}/runs.csv",
    output:
        png=report(f"{SUMMARY}/paper/compute.png", caption="../report/compute.rst", category="Compute",
                   labels={"figure": "hours per grid cell"}),
        svg=f"{SUMMARY}/paper/compute.svg",
    log:
        f"{RESULTS}/logs/paper/compute.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['compute_figure']}",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"


rule report:
    """`snakemake report`: every paper table and figure (`snakemake --report` is the HTML report)."""
    input:
        get_paper_outputs(),
    default_target: False
