"""The benchmark scripts run and compare like with like; the GPU check runs on the CPU at toy size."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from helpers import REPO, expected_counts


@pytest.mark.slow
def test_dry_run_benchmark_compares_like_with_like():
    """benchmarks/dryrun.py: every bare Snakefile has the paper grid's jobs (it exits non-zero if not)."""
    out = subprocess.run([sys.executable, "benchmarks/dryrun.py", "--repeats", "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["jobs"] == expected_counts(yaml.safe_load((REPO / "config.yaml").read_text()))["total"]
    assert {"ratio_shell", "ratio_script", "ratio_directives"} <= set(result)


@pytest.mark.slow
def test_gpu_check_dry_run_on_the_cpu(tmp_path):
    """The prepared GPU check, shrunk with --small: every part runs and reports, so it cannot fail
    on a typo while GPU minutes count."""
    env = dict(os.environ, OUT=str(tmp_path / "out"), DEADLINE_S="600", PYTHON=sys.executable)
    out = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--small"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=900)
    log = (tmp_path / "out" / "log.txt").read_text()
    assert out.returncode == 0, log[-3000:]
    assert "skipped" not in log and "Traceback" not in log, log[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    e2e = results["e2e"]
    assert e2e["agreement"]["gen0"]["ok"] and e2e["agreement"]["gen1"]["ok"], e2e["agreement"]
    assert e2e["resume"]["ok"], e2e["resume"]
    assert results["throughput/resnet8_cifar/b32/patriarch"]["code"] == 0
    pack = results["pack/resnet8_cifar/b32"]
    assert pack["code"] == 0 and [p["copies"] for p in pack["phases"]] == [1, 2] and pack["pack"] in (1, 2)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| resnet8_cifar | 32 |" in summary and "trainings per GPU" in summary
    assert (tmp_path / "out" / "profile_resnet8_cifar.txt").stat().st_size > 100


def _calibration():
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibration", REPO / "benchmarks" / "calibration.py")
    calibration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    return calibration


def test_the_earlier_construction_of_the_interval_comparison_is_leave_one_out():
    """benchmarks/calibration.py's leave-one-seed-out mean equals tkd.statistics.selection's on up to ten seeds
    (one fold per seed), a set that repeats a seed never lets a copy choose for itself, and its
    jackknife re-chooses without each seed."""
    import numpy as np

    from tkd.statistics.cube import Cube
    from tkd.statistics.selection import pick

    calibration = _calibration()
    a = np.array([[70.0, 75.0], [71.0, 70.0], [72.0, 70.0]])  # seeds x generations, test half a
    b = np.array([[60.0, 90.0], [61.0, 62.0], [63.0, 64.0]])
    same = calibration._crossfit_means(a, b, np.arange(3)[None])[0]
    picks = {0: (0, 1), 1: (1, 1), 2: (1, 1)}  # per seed, by the others: chosen on a (scores b), on b (scores a)
    assert same == pytest.approx(np.mean([(b[s, ga] + a[s, gb]) / 2 for s, (ga, gb) in picks.items()]))
    cube = Cube(["ce"], [1, 2], [0, 1, 2], {"test_top1": (a + b)[None].transpose(0, 2, 1) / 2,
                                             "test_top1_a": a.T[None], "test_top1_b": b.T[None]})
    assert np.mean(pick(cube, [(0, 0), (0, 1)], "top1", True)[0]) == pytest.approx(same)
    # seed 0 drawn twice: each copy is chosen for by seed 1 alone (with its twin, half a would pick 1: b = 90)
    copies = calibration._crossfit_means(a, b, np.array([[0, 0, 1]]))[0]
    assert copies == pytest.approx(np.mean([(60 + 75) / 2, (60 + 75) / 2, (62 + 70) / 2]))
    estimate, se = calibration._loo_jackknife(a, b)
    left_out = [calibration._crossfit_means(a, b, np.delete(np.arange(3), j)[None])[0] for j in range(3)]
    assert estimate == pytest.approx(same) and se == pytest.approx(np.sqrt(2 / 3 * np.sum(
        (np.array(left_out) - np.mean(left_out)) ** 2)))


def test_the_comparison_tables_have_their_columns():
    calibration = _calibration()
    rows = calibration.interval_rows(n=3, seeds_list=(4,), regimes=("realistic",))
    assert len(rows) == 3 and rows.filter(like="coverage").stack().between(0, 1).all()
    assert {"bias", "spread", "se / spread", "earlier: se / spread"} <= set(rows.columns)
