"""Training, students, kill-and-resume, and bad input, on the CPU."""
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, run_cli, tiny_spec
from tkd.spec import SpecError, TrainSpec, load_spec
from tkd.train import OUTPUTS, NonFiniteLoss, resume_path, train


@pytest.fixture(scope="module")
def patriarch(synthetic_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen0")
    metrics = train(tiny_spec(synthetic_npz, out, epochs=3, loss="tsd", loss_params={"eta": 0.6}))
    return out, metrics


def test_patriarch_beats_chance_and_writes_run_dir(patriarch):
    out, metrics = patriarch
    assert metrics["test_top1"] > 5.0, "100 classes: chance is 1 %"
    for name in OUTPUTS + ("spec.yaml",):
        assert (out / name).is_file(), name
    assert not resume_path(out).exists(), "a finished run removes its resume state"
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3
    z = np.load(out / "test_logits.npz")
    assert z["logits"].dtype == np.float16 and z["logits"].shape == (400, 100)
    assert z["coarse"].max() == 19
    state = torch.load(out / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_student_generation_taught_by_patriarch(patriarch, synthetic_npz, tmp_path):
    teacher_dir, _ = patriarch
    before = (teacher_dir / "model.pt").read_bytes()
    metrics = train(tiny_spec(synthetic_npz, tmp_path, generation=1, teacher=str(teacher_dir / "model.pt"),
                              lam=0.6, epochs=3))
    assert metrics["test_top1"] > 2.0
    assert (teacher_dir / "model.pt").read_bytes() == before, "the teacher stays frozen"
    assert (tmp_path / "metrics.json").is_file()


def test_student_can_start_from_teacher_weights(patriarch, synthetic_npz, tmp_path):
    teacher_dir, teacher_metrics = patriarch
    # lr tiny: a student initialised from its teacher starts (and stays) near it
    metrics = train(tiny_spec(synthetic_npz, tmp_path, generation=1, teacher=str(teacher_dir / "model.pt"),
                              student_init="teacher", epochs=1, lr=1e-6))
    assert abs(metrics["test_top1"] - teacher_metrics["test_top1"]) < 3.0


def test_kill_and_resume_is_bit_identical(synthetic_npz, tmp_path):
    spec = tiny_spec(synthetic_npz, tmp_path / "a", epochs=4, checkpoint_every=10)
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(spec))
    spec["out_dir"] = str(tmp_path / "b")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(spec))

    assert run_cli(tmp_path / "a.yaml").wait() == 0

    proc = run_cli(tmp_path / "b.yaml")
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch 1/4"):
            proc.send_signal(signal.SIGTERM)  # lands during epoch 2
            break
    rest = proc.stdout.read()
    assert proc.wait() == 128 + signal.SIGTERM, "".join(lines) + rest
    assert "signal SIGTERM at epoch 2, step" in rest
    assert resume_path(tmp_path / "b").is_file()
    assert not (tmp_path / "b" / "metrics.json").exists(), "no final outputs from an interrupted run"

    resumed = run_cli(tmp_path / "b.yaml")
    out = resumed.stdout.read()
    assert resumed.wait() == 0, out
    assert "resuming" in out
    a = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ha = (tmp_path / "a" / "history.csv").read_text().splitlines()
    hb = (tmp_path / "b" / "history.csv").read_text().splitlines()
    strip = lambda rows: [r.split(",")[:6] for r in rows]  # drop timing columns
    assert strip(ha) == strip(hb), "the interrupted epoch's statistics continue exactly"


def test_resume_state_of_another_spec_is_ignored(synthetic_npz, tmp_path):
    spec = tiny_spec(synthetic_npz, tmp_path, epochs=1)
    resume_path(tmp_path).parent.mkdir(parents=True)
    torch.save({"digest": "not-this-spec"}, resume_path(tmp_path))
    train(spec)
    assert (tmp_path / "metrics.json").is_file()


def test_nonfinite_loss_stops_with_epoch_and_step(synthetic_npz, tmp_path):
    with pytest.raises(NonFiniteLoss, match=r"epoch 1, step \d+"):
        train(tiny_spec(synthetic_npz, tmp_path, epochs=1, lr=1e30, deterministic=False))
    assert not (tmp_path / "metrics.json").exists()
    assert not (tmp_path / "model.pt").exists()


@pytest.fixture(scope="module")
def foreign_teachers(tmp_path_factory):
    d = tmp_path_factory.mktemp("teachers")
    from tkd.models import create

    torch.save(create("resnet20_cifar", num_classes=100).state_dict(), d / "other_arch.pt")
    torch.save(create("resnet8_cifar", num_classes=10).state_dict(), d / "ten_classes.pt")
    (d / "corrupt.pt").write_bytes(b"not a checkpoint at all")
    return d


@pytest.mark.parametrize("override,match", [
    ({"arch": "resnet57_cifar"}, "arch="),
    ({"dataset": "mnist"}, "dataset="),
    ({"loss": "kd"}, "loss"),
    ({"loss": "tsd", "loss_params": {"eta": 1.5}}, "eta"),
    ({"loss": "tsd", "loss_params": {"eta": 0.6, "k": 1}}, "k="),
    ({"loss": "ls", "loss_params": {"epsilon": 1.0}}, "epsilon"),
    ({"loss": "cp", "loss_params": {"beta": -0.5}}, "beta"),
    ({"lam": 1.5}, "lam"),
    ({"temperature": 0}, "temperature"),
    ({"generation": 1}, "teacher"),
    ({"generation": 1, "teacher": "/nonexistent/model.pt"}, "teacher="),
    ({"data_path": "/nonexistent/data.npz"}, "data_path"),
    ({"epochs": 0}, "epochs"),
    ({"lr_milestones": [50]}, "lr_milestones"),
    ({"bogus_key": 1}, "bogus_key"),
    ({"compile": "yes"}, "compile="),
    ({"processes": -1}, "processes="),
    ({"batch_size": 5000}, "batch_size=5000 is invalid: larger than the training set"),
])
def test_bad_spec_fails_before_training(synthetic_npz, tmp_path, override, match):
    with pytest.raises(SpecError, match=match):
        train(tiny_spec(synthetic_npz, tmp_path / "run", **override))
    assert not (tmp_path / "run").exists(), "nothing is written for a bad spec"


@pytest.mark.parametrize("name,match", [
    ("other_arch.pt", "is not a resnet8_cifar with 100 classes"),
    ("ten_classes.pt", "is not a resnet8_cifar with 100 classes"),
    ("corrupt.pt", "not a readable checkpoint"),
])
def test_bad_teacher_checkpoint(synthetic_npz, tmp_path, foreign_teachers, name, match):
    spec = tiny_spec(synthetic_npz, tmp_path / "run", generation=1, teacher=str(foreign_teachers / name))
    with pytest.raises(SpecError, match=match):
        train(spec)
    assert not (tmp_path / "run").exists()


def test_cifar100_absent_with_downloads_disabled(tmp_path):
    spec = tiny_spec(tmp_path, tmp_path / "run", dataset="cifar100")
    with pytest.raises(SpecError, match="downloads are disabled"):
        train(spec)


def test_fake_cifar100_trains(fake_cifar, tmp_path):
    metrics = train(tiny_spec(fake_cifar, tmp_path, dataset="cifar100", verify_checksums=False, epochs=1))
    assert metrics["epochs"] == 1 and (tmp_path / "test_logits.npz").is_file()


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "tkd", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    for command in ("train", "evaluate", "make-synthetic"):
        assert command in out.stdout


def test_cli_bad_spec_is_one_clear_error(synthetic_npz, tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(tiny_spec(synthetic_npz, tmp_path / "r")))
    proc = run_cli(tmp_path / "s.yaml", "--set", "lam=2")
    out = proc.stdout.read()
    assert proc.wait() == 2
    assert out.strip().startswith("tkd: error: lam=2") and "Traceback" not in out


def test_cli_evaluate_matches_training_metrics(patriarch):
    out, metrics = patriarch
    proc = subprocess.run([sys.executable, "-m", "tkd", "evaluate", str(out)], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert f'"test_top1": {metrics["test_top1"]}' in proc.stdout


def test_spec_roundtrip_and_set_overrides(synthetic_npz, tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(tiny_spec(synthetic_npz, tmp_path / "r")))
    spec = load_spec(f, {"lr": 0.2, "nesterov": True})
    assert isinstance(spec, TrainSpec) and spec.lr == 0.2 and spec.nesterov
    assert spec.milestone_epochs() == [1]


def test_unreadable_resume_state_starts_over(synthetic_npz, tmp_path):
    resume_path(tmp_path).parent.mkdir(parents=True)
    resume_path(tmp_path).write_bytes(b"torn or foreign")
    train(tiny_spec(synthetic_npz, tmp_path, epochs=1))
    assert (tmp_path / "metrics.json").is_file() and not resume_path(tmp_path).exists()


@pytest.mark.skipif(not shutil.which("cc") and not shutil.which("gcc"), reason="torch.compile on CPU needs a C compiler")
def test_compiled_step_reaches_the_eager_accuracy(synthetic_npz, tmp_path):
    """The fast path (torch.compile of the student's and the teacher's step) does not move accuracy:
    same seed, same batches; only floating-point order differs. Tolerance: 5 points of test top-1
    (400 test images, 100 classes) and 0.1 of the final training loss."""
    from torch._dynamo.utils import counters

    counters.clear()
    runs = {}
    for mode in ("off", "on"):
        gen0 = train(tiny_spec(synthetic_npz, tmp_path / mode / "gen0", epochs=3, compile=mode, deterministic=False))
        gen1 = train(tiny_spec(synthetic_npz, tmp_path / mode / "gen1", epochs=1, compile=mode, deterministic=False,
                               generation=1, teacher=str(tmp_path / mode / "gen0" / "model.pt")))
        runs[mode] = gen0, gen1
    for eager, compiled in zip(runs["off"], runs["on"]):
        assert abs(eager["test_top1"] - compiled["test_top1"]) <= 5.0, (eager, compiled)
        assert abs(eager["train_loss"] - compiled["train_loss"]) <= 0.1, (eager, compiled)
    assert runs["on"][0]["test_top1"] > 5.0, "100 classes: chance is 1 %"
    assert counters["stats"]["unique_graphs"] >= 2, "the student and the teacher were really compiled"


def test_compile_mode_cuda_graphs_for_one_cuda_process_only():
    from tkd.train import compile_mode

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compile_mode("auto", cpu) is None, "eager on CPU unless asked"
    assert compile_mode("on", cpu) == "default"
    assert compile_mode("auto", cuda) == "reduce-overhead"
    assert compile_mode("auto", cuda, world=8) == "default", "no CUDA graphs around DDP's all-reduce"
    assert compile_mode("off", cuda) is None
