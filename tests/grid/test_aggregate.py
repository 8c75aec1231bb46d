"""runs.csv from a run's files: every column taken from where it was measured."""
import json

import pandas as pd
import yaml

from tkd.grid.aggregate import collect_runs


def test_each_test_half_is_read_from_its_own_column_of_eval_csv(tmp_path):
    """The halves differ (a: 70/90, b: 60/80): runs.csv keeps them apart. Every statistic averages
    both, so a swap would only show here."""
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({"loss": "ce", "loss_params": {}, "out_dir": "x"}))
    (tmp_path / "metrics.json").write_text(json.dumps({"test_top1": 65.0, "test_top5": 85.0}))
    (tmp_path / "provenance.json").write_text(json.dumps(dict(device_name="cpu", host="h", git_commit="c",
                                                               slurm_job_id=None)))
    pd.DataFrame([dict(generation=0, top1=65.0, top5=85.0, top1_a=70.0, top5_a=90.0, top1_b=60.0, top5_b=80.0,
                       images_a=5000, images_b=5000, k=5)]).to_csv(tmp_path / "eval.csv", index=False)
    record = dict(dataset="d", arch="a", method="ce", seed=0, generation=0, spec=tmp_path / "spec.yaml",
                  metrics=tmp_path / "metrics.json", provenance=tmp_path / "provenance.json",
                  eval=tmp_path / "eval.csv")
    row = collect_runs([record]).iloc[0]
    assert (row.test_top1_a, row.test_top5_a, row.test_top1_b, row.test_top5_b) == (70.0, 90.0, 60.0, 80.0)
    assert (row.test_top1, row.images_a, row.secondary_k) == (65.0, 5000, 5)
