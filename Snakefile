# tkd: the grid of Yang et al. (AAAI 2019) as one DAG. See README.md.
# Only file wiring lives here and in workflow/rules/; the logic is in the tkd package.
# Nothing on this parse path imports torch: a dry-run of the paper grid stays cheap.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "tkd/grid/schemas/config.schema.yaml")  # in the package: tkd status, tables and plan read it too


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/waves.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/paper.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        f"{SUMMARY}/runs.csv",
        f"{SUMMARY}/summary.md",
        get_paper_outputs(),
    default_target: True


onstart:
    record_launch()


onsuccess:
    print_summary()
