"""Training a patriarch and its students on the CPU, as a user sees it: the run directory, the
teacher's role, resume, bad input, and what the saved numbers mean."""
import json
import signal

import numpy as np
import pytest
import torch
import yaml

from helpers import history, run_cli, tiny_spec, tkd, too_wide, write_fake_cifar100
from tkd.training.archs import create
from tkd.errors import NonFiniteLoss, SpecError
from tkd.layout import RUN_FILES, resume_path
from tkd.training.train import train


@pytest.fixture(scope="module")
def patriarch(synthetic_npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen0")
    metrics = train(tiny_spec(synthetic_npz, out, epochs=3, loss="tsd", loss_params={"eta": 0.6}))
    return out, metrics


def test_patriarch_beats_chance_and_writes_run_dir(patriarch):
    out, metrics = patriarch
    assert metrics["test_top1"] > 5.0, "100 classes: chance is 1 %"
    for name in RUN_FILES.values():
        assert (out / name).is_file(), name
    assert not resume_path(out).exists(), "a finished run removes its resume state"
    rows = history(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    # the tolerant teacher's loss (Eq. 3) by its named terms, which sum to the loss
    assert list(rows[0])[:5] == ["epoch", "lr", "train_loss", "loss_ce", "loss_tsd"]
    for r in rows:
        assert float(r["loss_ce"]) + float(r["loss_tsd"]) == pytest.approx(float(r["train_loss"]), rel=1e-6)
        assert float(r["loss_tsd"]) > 0.0
    z = np.load(out / "test_logits.npz")
    assert z["logits"].dtype == np.float32 and z["logits"].shape == (400, 100)
    # every accuracy comes from the same float32 logits: the saved ones give the metrics' top-1
    from tkd.training.measures import logit_measures

    saved = logit_measures(z["logits"], z["fine"], z["coarse"])
    assert saved["top1"] == pytest.approx(metrics["test_top1"], abs=1e-9)
    halves = (saved["top1_a"] * saved["images_a"] + saved["top1_b"] * saved["images_b"]) / 400
    assert halves == pytest.approx(metrics["test_top1"]) and saved["images_a"] + saved["images_b"] == 400
    assert z["coarse"].max() == 19
    state = torch.load(out / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_student_generation_taught_by_patriarch(patriarch, synthetic_npz, tmp_path):
    teacher_dir, _ = patriarch
    before = (teacher_dir / "model.pt").read_bytes()
    metrics = train(tiny_spec(synthetic_npz, tmp_path, generation=1, teacher=str(teacher_dir / "model.pt"),
                              lam=0.6, epochs=3))
    assert metrics["test_top1"] > 4.0, "100 classes: chance is 1 %"
    rows = history(tmp_path)
    assert list(rows[0])[2:5] == ["train_loss", "loss_ce", "loss_kl"], "Eq. 2's terms"
    assert all(float(r["loss_kl"]) > 0.0 for r in rows)
    assert (teacher_dir / "model.pt").read_bytes() == before, "the teacher stays frozen"


def _weights(path):
    return torch.load(path, weights_only=True)


def test_a_lambda_sweep_changes_the_student(patriarch, synthetic_npz, tmp_path):
    """lam weighs the label against the teacher (Eq. 2): at 1 the teacher's KL term vanishes, at 0
    the label's; the students of the two end up different (same init, data and teacher)."""
    teacher_dir, _ = patriarch
    runs = {}
    for lam in (0.0, 1.0):
        train(tiny_spec(synthetic_npz, tmp_path / str(lam), generation=1, teacher=str(teacher_dir / "model.pt"),
                        lam=lam, epochs=1))
        runs[lam] = history(tmp_path / str(lam))[0]
    assert float(runs[1.0]["loss_kl"]) == 0.0 < float(runs[1.0]["loss_ce"])
    assert float(runs[0.0]["loss_ce"]) == 0.0 < float(runs[0.0]["loss_kl"])
    a, b = _weights(tmp_path / "0.0" / "model.pt"), _weights(tmp_path / "1.0" / "model.pt")
    assert not torch.equal(a["conv1.weight"], b["conv1.weight"])


@pytest.mark.parametrize("init", ["random", "teacher"])
def test_student_init_is_random_unless_asked(patriarch, synthetic_npz, tmp_path, init):
    """With a negligible lr the student keeps its initial weights: the teacher's only if asked."""
    teacher_dir, teacher_metrics = patriarch
    metrics = train(tiny_spec(synthetic_npz, tmp_path, generation=1, teacher=str(teacher_dir / "model.pt"),
                              student_init=init, epochs=1, lr=1e-9))
    student, teacher = _weights(tmp_path / "model.pt"), _weights(teacher_dir / "model.pt")
    same = torch.allclose(student["conv1.weight"], teacher["conv1.weight"], atol=1e-6)
    assert same == (init == "teacher")
    if init == "teacher":
        assert abs(metrics["test_top1"] - teacher_metrics["test_top1"]) < 3.0


def test_the_teacher_teaches_with_its_running_statistics(synthetic_npz, tmp_path):
    """A teacher whose saved BatchNorm statistics silence its last block predicts class 7 for every
    image in eval mode (its head's bias), but varied classes with batch statistics. A student that
    learns from the teacher alone (lam 0) must learn "always 7": the teacher runs in eval mode."""
    torch.manual_seed(0)
    teacher = create("resnet8_cifar", num_classes=100)
    last = teacher.stages[2][0].bn2
    last.running_mean.fill_(1e4)
    with torch.no_grad():
        teacher.head.fc.weight.normal_(0, 3.0)
        teacher.head.fc.bias.zero_()
        teacher.head.fc.bias[7] = 12.0
    torch.save(teacher.state_dict(), tmp_path / "teacher.pt")
    x = torch.randn(64, 3, 32, 32)
    with torch.no_grad():
        assert (teacher.eval()(x).argmax(1) == 7).all()
        assert (teacher.train()(x).argmax(1) == 7).float().mean() < 0.5, "batch statistics: varied classes"
    train(tiny_spec(synthetic_npz, tmp_path / "student", generation=1, teacher=str(tmp_path / "teacher.pt"),
                    lam=0.0, epochs=1, lr=0.05))
    logits = np.load(tmp_path / "student" / "test_logits.npz")["logits"]
    assert (logits.argmax(1) == 7).mean() > 0.9


@pytest.fixture(scope="module")
def darker_test_run(tmp_path_factory):
    """A patriarch on a tiny CIFAR-100 whose test images are darker than its training images."""
    root = write_fake_cifar100(tmp_path_factory.mktemp("cifar"), n_train=256, n_test=300, test_brightness=0.5)
    out = tmp_path_factory.mktemp("run")
    metrics = train(tiny_spec(root, out, dataset="cifar100", verify_checksums=False, epochs=2, lr=0.1))
    return root, out, metrics


def test_saved_test_logits_are_the_model_on_the_plain_normalised_test_images(darker_test_run):
    """Independently of the loaders: normalise by the *training* images' channel statistics, no
    crop, no flip, in file order; the saved logits must be that model's output."""
    import pickle

    root, out, _ = darker_test_run
    batches = {s: pickle.load(open(root / "cifar-100-python" / s, "rb"), encoding="latin1") for s in ("train", "test")}
    images = {s: b["data"].reshape(-1, 3, 32, 32).astype(np.float64) / 255 for s, b in batches.items()}
    mean, std = images["train"].mean((0, 2, 3)), images["train"].std((0, 2, 3))
    x = torch.tensor((images["test"] - mean[:, None, None]) / std[:, None, None], dtype=torch.float32)
    model = create("resnet8_cifar", num_classes=100)
    model.load_state_dict(_weights(out / "model.pt"))
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    saved = np.load(out / "test_logits.npz")
    np.testing.assert_array_equal(saved["fine"], batches["test"]["fine_labels"])
    np.testing.assert_allclose(saved["logits"].astype(np.float32), expected, rtol=2e-2, atol=2e-2)


def test_metrics_top1_and_top5_are_what_the_saved_logits_say(darker_test_run):
    _, out, metrics = darker_test_run
    z = np.load(out / "test_logits.npz")
    order = np.argsort(-z["logits"].astype(np.float32), axis=1, kind="stable")
    for k, key in ((1, "test_top1"), (5, "test_top5")):
        ours = (order[:, :k] == z["fine"][:, None]).any(1).mean() * 100
        assert abs(ours - metrics[key]) <= 100 / len(order) + 1e-9, (k, ours, metrics[key])  # fp16 ties: 1 image
    assert metrics["test_top5"] - metrics["test_top1"] > 2.0, "the case tells top-5 from top-1 (and top-4)"
    top4 = (order[:, :4] == z["fine"][:, None]).any(1).mean() * 100
    assert metrics["test_top5"] - top4 > 100 / len(order), "and top-5 from top-4"
    assert json.loads((out / "metrics.json").read_text())["test_top5_err"] == pytest.approx(100 - metrics["test_top5"])


@pytest.mark.slow
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
    a, b = _weights(tmp_path / "a" / "model.pt"), _weights(tmp_path / "b" / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert history(tmp_path / "a") == history(tmp_path / "b"), "the interrupted epoch's statistics continue exactly"


def scalars(run_dir, tag):
    """(step, value) of one TensorBoard tag of a run, as TensorBoard reads its event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.mark.slow  # a process killed and resumed
def test_curves_are_live_and_a_resumed_run_continues_them_without_duplicates(synthetic_npz, tmp_path):
    """execution.tensorboard: the loss terms, accuracies and learning rate of every epoch, written
    as the epoch ends; a run interrupted and resumed logs each epoch once (the interrupted
    attempt's later events are purged)."""
    spec = tiny_spec(synthetic_npz, tmp_path / "run", epochs=3, checkpoint_every=1, tensorboard=True,
                     loss="tsd", loss_params={"eta": 0.6, "k": 5})
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    proc = run_cli(tmp_path / "s.yaml")
    for line in proc.stdout:
        if line.startswith("epoch 2/3"):
            assert [s for s, _ in scalars(tmp_path / "run", "train/loss")] == [1, 2], "written as each epoch ends"
            proc.send_signal(signal.SIGTERM)  # lands during epoch 3
            break
    proc.stdout.read()
    assert proc.wait() == 128 + signal.SIGTERM
    resumed = run_cli(tmp_path / "s.yaml")
    out = resumed.stdout.read()
    assert resumed.wait() == 0 and "resuming" in out, out
    assert not too_wide(out, tmp_path), too_wide(out, tmp_path)  # a terminal's 100 columns
    rows = history(tmp_path / "run")
    for tag, column in (("train/loss", "train_loss"), ("loss/tsd", "loss_tsd"), ("train/top1", "train_top1"),
                        ("test/top1", "test_top1"), ("lr", "lr")):
        logged = scalars(tmp_path / "run", tag)
        assert [s for s, _ in logged] == [1, 2, 3], (tag, logged)
        assert [v for _, v in logged] == pytest.approx([float(r[column]) for r in rows], rel=1e-5), tag


def test_tensorboard_without_the_package_is_one_clear_error(synthetic_npz, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(SpecError, match=r"pip install 'tkd\[tensorboard\]'"):
        train(tiny_spec(synthetic_npz, tmp_path / "run", tensorboard=True))
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_resume_state_of_another_spec_is_ignored(synthetic_npz, tmp_path, capsys):
    resume_path(tmp_path).parent.mkdir(parents=True)
    torch.save({"digest": "not-this-spec"}, resume_path(tmp_path))
    train(tiny_spec(synthetic_npz, tmp_path, epochs=1))
    assert "ignoring resume state of another spec" in capsys.readouterr().out
    assert (tmp_path / "metrics.json").is_file()


def test_unreadable_resume_state_starts_over(synthetic_npz, tmp_path, capsys):
    resume_path(tmp_path).parent.mkdir(parents=True)
    resume_path(tmp_path).write_bytes(b"torn or foreign")
    train(tiny_spec(synthetic_npz, tmp_path, epochs=1))
    assert "ignoring unreadable resume state" in capsys.readouterr().out
    assert (tmp_path / "metrics.json").is_file() and not resume_path(tmp_path).exists()


def test_nonfinite_loss_stops_with_epoch_and_step(synthetic_npz, tmp_path):
    with pytest.raises(NonFiniteLoss, match=r"epoch 1, step \d+"):
        train(tiny_spec(synthetic_npz, tmp_path, epochs=1, lr=1e30, deterministic=False))
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "model.pt").exists()


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
    ({"compile": "sometimes"}, "compile="),
    ({"processes": -1}, "processes="),
    ({"batch_size": 5000}, "batch_size=5000 is invalid: larger than the training set"),
])
def test_bad_spec_fails_before_training(synthetic_npz, tmp_path, override, match):
    with pytest.raises(SpecError, match=match):
        train(tiny_spec(synthetic_npz, tmp_path / "run", **override))
    assert not (tmp_path / "run").exists(), "nothing is written for a bad spec"


@pytest.mark.parametrize("arch,classes", [("resnet20_cifar", 100), ("resnet8_cifar", 10)])
def test_a_teacher_of_another_arch_or_class_count(synthetic_npz, tmp_path, arch, classes):
    torch.save(create(arch, num_classes=classes).state_dict(), tmp_path / "t.pt")
    with pytest.raises(SpecError, match="is not a resnet8_cifar with 100 classes"):
        train(tiny_spec(synthetic_npz, tmp_path / "run", generation=1, teacher=str(tmp_path / "t.pt")))
    assert not (tmp_path / "run").exists()


def test_cifar100_absent_with_downloads_disabled(tmp_path):
    with pytest.raises(SpecError, match="downloads are off"):
        train(tiny_spec(tmp_path, tmp_path / "run", dataset="cifar100"))


def test_cli_help_lists_commands():
    out = tkd("--help")
    assert out.returncode == 0
    for command in ("train", "evaluate", "make-synthetic", "claims", "status", "tables", "slurm-check"):
        assert command in out.stdout


def test_cli_bad_spec_is_one_clear_error(synthetic_npz, tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(tiny_spec(synthetic_npz, tmp_path / "r")))
    proc = run_cli(tmp_path / "s.yaml", "--set", "lam=2")
    out = proc.stdout.read()
    assert proc.wait() == 2
    assert out.strip().startswith("tkd: error: lam=2") and "Traceback" not in out


def test_cli_evaluate_matches_training_metrics(patriarch):
    out, metrics = patriarch
    proc = tkd("evaluate", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f'"test_top1": {metrics["test_top1"]}' in proc.stdout
    assert not too_wide(proc.stdout, out), too_wide(proc.stdout, out)


@pytest.mark.slow
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


def test_a_resumed_runs_curves_purge_what_the_interrupted_attempt_logged(tmp_path):
    """The first attempt logged epochs 1-3 and was interrupted after its resume state of epoch 1:
    the resumed attempt logs 2-3 again, and TensorBoard reads each epoch once, with the new values."""
    from tkd.training.curves import Curves

    first = Curves(tmp_path, 0, "spec")
    for epoch in (1, 2, 3):
        first.log({"epoch": epoch, "train_loss": 10.0 * epoch})
    first.close()
    resumed = Curves(tmp_path, 1, "spec")
    for epoch in (2, 3):
        resumed.log({"epoch": epoch, "train_loss": float(epoch)})
    resumed.close()
    assert scalars(tmp_path, "train/loss") == [(1, 10.0), (2, 2.0), (3, 3.0)]
