"""Damaged input (torn or foreign files) is one line naming the file and exit code 2, with nothing
written; and outputs are written atomically."""
import pickle
import shutil

import numpy as np
import pytest
import yaml

from helpers import tiny_spec, write_fake_cifar100
from tkd import files
from tkd.cli import main
from tkd.errors import SpecError


def cli(capsys, *args):
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def train_cli(capsys, tmp_path, **spec):
    f = tmp_path / "spec.yaml"
    f.write_text(yaml.safe_dump(tiny_spec(spec.pop("data", tmp_path / "none"), tmp_path / "run", **spec)))
    return cli(capsys, "train", f)


def one_line_naming(err, needle):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tkd: error:") and needle in lines[0], err
    assert "Traceback" not in err


@pytest.fixture
def torn_npz(synthetic_npz, tmp_path):
    path = tmp_path / "torn.npz"
    path.write_bytes(synthetic_npz.read_bytes()[:5000])
    return path


def test_truncated_npz_data(capsys, tmp_path, torn_npz):
    code, err = train_cli(capsys, tmp_path, data=torn_npz)
    assert code == 2
    one_line_naming(err, str(torn_npz))
    assert "damaged" in err and not (tmp_path / "run").exists()


def test_foreign_npz_data(capsys, tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, something=np.zeros(3))
    code, err = train_cli(capsys, tmp_path, data=path)
    assert code == 2
    one_line_naming(err, "lacks the array 'train_images'")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("verify", [True, False])
def test_torn_cifar_pickle(capsys, tmp_path, verify):
    root = write_fake_cifar100(tmp_path / "cifar")
    train_file = root / "cifar-100-python" / "train"
    train_file.write_bytes(train_file.read_bytes()[:1000])
    code, err = train_cli(capsys, tmp_path, data=root, dataset="cifar100", verify_checksums=verify)
    assert code == 2
    one_line_naming(err, str(root / "cifar-100-python"))
    assert ("MD5" if verify else "damaged or foreign") in err
    assert not (tmp_path / "run").exists()


def test_foreign_cifar_pickle(capsys, tmp_path):
    root = write_fake_cifar100(tmp_path / "cifar")
    with open(root / "cifar-100-python" / "test", "wb") as f:
        pickle.dump({"something": "else"}, f)
    code, err = train_cli(capsys, tmp_path, data=root, dataset="cifar100", verify_checksums=False)
    assert code == 2
    one_line_naming(err, "a test file is damaged or foreign")


@pytest.mark.parametrize("content", [b"not a checkpoint at all", b"PK\x03\x04 torn zip"])
def test_torn_or_foreign_teacher(capsys, tmp_path, synthetic_npz, content):
    teacher = tmp_path / "teacher.pt"
    teacher.write_bytes(content)
    code, err = train_cli(capsys, tmp_path, data=synthetic_npz, generation=1, teacher=str(teacher))
    assert code == 2
    one_line_naming(err, f"teacher {str(teacher)!r} is damaged")
    assert not (tmp_path / "run").exists()


def test_torn_spec_file(capsys, tmp_path):
    f = tmp_path / "spec.yaml"
    f.write_text("dataset: synthetic\narch: [resnet8")
    code, err = cli(capsys, "train", f)
    assert code == 2
    one_line_naming(err, str(f))


def test_evaluate_a_run_with_a_torn_model(capsys, tmp_path, synthetic_npz):
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text(yaml.safe_dump(tiny_spec(synthetic_npz, run)))
    (run / "model.pt").write_bytes(b"\x00" * 100)
    code, err = cli(capsys, "evaluate", run)
    assert code == 2
    one_line_naming(err, str(run / "model.pt"))
    code, err = cli(capsys, "evaluate", tmp_path / "not-a-run")
    assert code == 2
    one_line_naming(err, "spec.yaml")


def test_claims_of_a_torn_runs_table(capsys, tmp_path):
    f = tmp_path / "runs.csv"
    f.write_bytes(b"\xff\xfe\x00garbage\x00\x01")
    code, err = cli(capsys, "claims", f)
    assert code == 2
    one_line_naming(err, str(f))


def test_read_npz_names_the_file_and_the_missing_array(tmp_path, torn_npz):
    with pytest.raises(SpecError, match="test logits .* is damaged"):
        files.read_npz(torn_npz, ("logits",), "test logits")
    np.savez(tmp_path / "x.npz", logits=np.zeros(2))
    with pytest.raises(SpecError, match="lacks the array 'fine'"):
        files.read_npz(tmp_path / "x.npz", ("logits", "fine"), "test logits")


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path):
    target = tmp_path / "out.txt"
    files.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            open(tmp, "w").write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("write", [
    lambda path: files.write_text(path, "new text " * 1000),
    lambda path: files.write_json(path, {"new": list(range(1000))}),
])
def test_text_and_json_writes_interrupted_mid_way_leave_the_old_file(tmp_path, monkeypatch, write):
    """The text and JSON the workflow writes (metrics.json, tables, wave decisions): a write killed
    half-way leaves the old file whole, never half a new one."""
    from pathlib import Path

    target = tmp_path / "out.txt"
    target.write_text("old")

    def torn(self, text, *args, **kwargs):  # the process dies after writing half
        with open(self, "w") as f:
            f.write(text[: len(text) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", torn)
    with pytest.raises(KeyboardInterrupt):
        write(target)
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_saved_weights_are_the_same_bytes_every_time(tmp_path):
    """Two saves of the same tensors are byte-identical (so a run's model.pt can be checksummed)."""
    import torch

    state = {"conv.weight": torch.arange(6.0).reshape(2, 3), "bn.num_batches_tracked": torch.tensor(3)}
    files.torch_save(state, tmp_path / "a" / "model.pt")
    files.torch_save(state, tmp_path / "b" / "model.pt")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    loaded = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())


def test_copies_are_fine(tmp_path, synthetic_npz):
    shutil.copy(synthetic_npz, tmp_path / "copy.npz")
    assert files.read_npz(tmp_path / "copy.npz", ("train_images",))["train_images"].dtype == np.uint8
