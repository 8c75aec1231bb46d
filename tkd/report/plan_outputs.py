"""What ``tkd plan --days`` writes: the chosen design as a config to lay over with
``--configfile``, and the figure of GPU-hours against days of every design tried."""
from __future__ import annotations


def write_choice(result, config: dict, path: str, gpus: int) -> list[str]:
    """The chosen design as a config to lay over with ``--configfile`` (its grid), and the figure of
    GPU-hours against days beside it; the paths written (none without a choice)."""
    import yaml

    from . import figures
    from ..files import write_text

    written = []
    figure = str(path).rsplit(".", 1)[0] + ".png"
    figures.designs(result.designs, gpus, [figure])
    written.append(figure)
    if result.chosen is not None:
        candidate = next(o.candidate for o in result.outcomes if o.candidate.name == result.chosen)
        header = (f"# tkd plan --gpus {gpus}: the cheapest design expected to finish in time in both scenarios\n"
                  f"# ({candidate.describe()}). Lay it over your config: snakemake --configfile config.yaml {path}\n")
        write_text(path, header + yaml.safe_dump({"grid": candidate.config(config)["grid"]}, sort_keys=False))
        written.insert(0, str(path))
    return written
