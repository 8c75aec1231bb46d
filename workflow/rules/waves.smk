# ======================================================================================
# Seeds on demand (a grid block with seeds: {start, step, max}): after each wave of a cell, a
# checkpoint judges the cell's claim rows on its seeds so far and names the runs of its next
# wave, for the chains whose rows are still undecided (tkd.statistics.wave_claims). Each cell goes at its
# own pace. The fixed design never asks for it.
# ======================================================================================
localrules:
    wave,


checkpoint wave:
    """After a cell's wave w: its claim rows judged group-sequentially, and its next wave's runs."""
    input:
        unpack(lambda w: get_tables_inputs(cell_runs_through(w, int(w.wave)))),
        claims=config["paper"]["claims"],
        earlier=lambda w: cell_wave_files(w, int(w.wave) - 1),
    output:
        decision=f"{RESULTS}/{layout.WAVE}",
        claims=f"{RESULTS}/{layout.WAVE_CLAIMS}",
    params:
        tables=lambda w: get_tables_params(cell_runs_through(w, int(w.wave))),
        next_wave=lambda w: WAVES.next_wave(cell(w), int(w.wave) + 1),
        looks=waves.looks_param(config),
        paper=JUDGING,
    log:
        f"{RESULTS}/logs/waves/{{dataset}}/{{arch}}/wave{{wave}}.log",
    benchmark:
        f"{RESULTS}/{layout.BENCHMARKS['wave']}",
    wildcard_constraints:
        wave=r"\d+",
    conda:
        "../../envs/tkd.yaml"
    script:
        "../scripts/job.py"
