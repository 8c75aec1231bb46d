# ======================================================================================
# Training: one job per generation of every chain.
# ======================================================================================
rule train:
    """One generation: the patriarch (generation 0) or a student of generation m-1.

    Resume state lives in the run directory but is not an output, so a failed,
    killed or preempted job continues from it when it is run again.
    """
    input:
        unpack(get_train_inputs),
    output:
        **{name: f"{RUN}/{file}" for name, file in layout.RUN_FILES.items()},
    params:
        spec=get_train_spec,
        out_dir=RUN,
    log:
        TRAIN_LOG,
    benchmark:
        TRAIN_BENCHMARK
    threads: config["execution"]["threads"]
    resources:
        # per architecture from config; a retry (resubmitted by sbatch) gets more time and memory
        runtime=lambda w, attempt: get_arch_resources(w)["runtime"] * attempt,
        mem_mb=lambda w, attempt: get_arch_resources(w)["mem_mb"] * attempt,
        gpu=lambda w: get_arch_resources(w)["gpu"],
        cpus_per_gpu=lambda w: get_arch_resources(w)["cpus_per_gpu"],
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"
