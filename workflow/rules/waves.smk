# ======================================================================================
# Seeds on demand (a grid block with seeds: {start, step, max}): after each wave a checkpoint
# judges the claims on the seeds so far and names the runs of the next wave, for the chains
# whose claims are still undecided (tkd.sequential). The fixed design never asks for it.
# ======================================================================================
localrules:
    wave,


checkpoint wave:
    """After wave w: the claims table judged group-sequentially, and the next wave's runs."""
    input:
        unpack(lambda w: get_tables_inputs(runs_through(int(w.wave)))),
        claims=config["paper"]["claims"],
        earlier=lambda w: wave_files(int(w.wave) - 1),
    output:
        decision=f"{RESULTS}/{layout.WAVE}",
        claims=f"{RESULTS}/{layout.WAVE_CLAIMS}",
    params:
        tables=lambda w: get_tables_params(runs_through(int(w.wave))),
        next_wave=lambda w: grid.wave_runs(config, int(w.wave) + 1),
        looks=waves.looks_param(config),
        paper=JUDGING,
    log:
        f"{RESULTS}/logs/waves/wave{{wave}}.log",
    wildcard_constraints:
        wave=r"\d+",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"
