"""Fixtures shared by the tests; the helpers they use are in helpers.py."""
import pytest

from helpers import paper_config, snakemake, write_fake_cifar100, write_imagefolder


@pytest.fixture(scope="session")
def fake_cifar(tmp_path_factory):
    return write_fake_cifar100(tmp_path_factory.mktemp("cifar"))


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory):
    from tkd.training.data import make_synthetic, save_synthetic

    path = tmp_path_factory.mktemp("synthetic") / "synthetic.npz"
    save_synthetic(make_synthetic(seed=0, train_per_class=12, test_per_class=4, shared=0.4, noise=0.2, shift=2), path)
    return path


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The README's demo, as a user runs it, with its results in a temporary folder."""
    import time

    results = tmp_path_factory.mktemp("demo") / "results"
    started = time.monotonic()
    out = snakemake("--cores", "all", "--configfile", "workflow/demo.yaml", "--config", f"results={results}",
                    timeout=1200)
    out.seconds = time.monotonic() - started  # its makespan, for the schedule simulation's check
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return results, out


@pytest.fixture(scope="session")
def imagefolder(tmp_path_factory):
    return write_imagefolder(tmp_path_factory.mktemp("ilsvrc"))


@pytest.fixture(scope="module")
def config():
    """config.yaml as the workflow reads it (one per test module: a test may change its copy)."""
    return paper_config()


@pytest.fixture(scope="module")
def claims():
    """The packaged claims (C1-C8)."""
    from tkd.statistics.claims import load_claims

    return load_claims()
