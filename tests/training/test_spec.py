"""TrainSpec: validation, on/off words, what enters the digest, YAML files and --set."""
import dataclasses

import pytest
import yaml

from helpers import tiny_spec
from tkd.errors import SpecError
from tkd.training.spec import (HOW_FIELDS, PATRIARCH_FIELDS, RESULT_FIELDS, STUDENT_FIELDS, TrainSpec, load_spec, parse_set,
                      switch)


def spec(tmp_path, **kw):
    data = tmp_path / "d.npz"
    data.write_bytes(b"")
    return TrainSpec.from_dict(tiny_spec(data, tmp_path / "out", **kw))


@pytest.mark.parametrize("written,expected", [
    (False, "off"), ("off", "off"), ("no", "off"), ("false", "off"), ("OFF", "off"),
    (True, "on"), ("on", "on"), ("yes", "on"), ("true", "on"), ("auto", "auto")])
def test_compile_accepts_what_users_write(tmp_path, written, expected):
    assert spec(tmp_path, compile=written).compile == expected


def test_an_on_off_word_that_is_neither_names_the_key():
    with pytest.raises(SpecError, match="compile='sometimes' is invalid: choose auto, on or off"):
        switch("sometimes", "compile", auto=True)


def test_cli_set_off_is_yaml_false_and_still_works(tmp_path):
    assert parse_set(["compile=off"]) == {"compile": False}
    f = tmp_path / "s.yaml"
    data = tmp_path / "d.npz"
    data.write_bytes(b"")
    f.write_text(yaml.safe_dump(tiny_spec(data, tmp_path / "r")) + "compile: off\n")
    assert load_spec(f).compile == "off"
    assert load_spec(f, parse_set(["compile=on"])).compile == "on"


def _other(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, list):
        return value + [0.9]
    if isinstance(value, dict):
        return {**value, "eta": 0.5}
    return f"{value}-other"


def test_every_field_that_shapes_the_result_changes_the_digest(tmp_path):
    """A resume state of another learning rate (or any other result field of the run's role) is
    never continued; a field of the other role (a patriarch's lam, a student's loss) is no part of
    the run, and a student's spec.yaml does not claim a loss of its own."""
    teacher = tmp_path / "t.pt"
    teacher.write_bytes(b"a teacher")
    patriarch, student = spec(tmp_path), spec(tmp_path, generation=1, teacher=str(teacher))
    assert "lr" in RESULT_FIELDS and "seed" in RESULT_FIELDS and "teacher" in RESULT_FIELDS
    assert set(PATRIARCH_FIELDS) == {"loss", "loss_params"}
    assert set(STUDENT_FIELDS) == {"teacher", "lam", "temperature", "student_init"}
    for name in RESULT_FIELDS:
        if name in ("teacher", "generation"):
            continue  # the teacher by content, below; a generation changes the role
        for base, own in ((patriarch, name not in STUDENT_FIELDS), (student, name not in PATRIARCH_FIELDS)):
            changed = dataclasses.replace(base, **{name: _other(getattr(base, name))})
            assert (changed.digest() != base.digest()) == own, (name, base.role)
    assert "loss" not in student.record() and "lam" not in patriarch.record() and "loss" in patriarch.record()


def test_how_a_job_runs_leaves_the_digest_alone(tmp_path):
    base = spec(tmp_path)
    assert set(HOW_FIELDS) == {"out_dir", "device", "compile", "checkpoint_every", "threads", "processes", "workers",
                               "tensorboard"}
    for name in HOW_FIELDS:
        value = {"device": "cpu", "compile": "off", "out_dir": "elsewhere", "workers": 3}.get(name)
        changed = dataclasses.replace(base, **{name: value if value is not None else _other(getattr(base, name))})
        assert changed.digest() == base.digest(), name


def test_the_teacher_enters_the_digest_by_content(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"one teacher")
    b.write_bytes(b"one teacher")
    s = spec(tmp_path, generation=1, teacher=str(a))
    assert dataclasses.replace(s, teacher=str(b)).digest() == s.digest(), "a moved file is the same teacher"
    b.write_bytes(b"another teacher")
    assert dataclasses.replace(s, teacher=str(b)).digest() != s.digest()


def test_validation_opens_no_file(tmp_path):
    """`tkd evaluate` loads a student's spec whose teacher may have moved."""
    s = TrainSpec.from_dict(tiny_spec("/nowhere/d.npz", tmp_path, generation=1, teacher="/nowhere/t.pt"))
    with pytest.raises(SpecError, match="data_path='/nowhere/d.npz' does not exist"):
        s.check_files()


@pytest.mark.parametrize("text,match", [
    ("[1, 2]", "must hold a mapping"),
    ("dataset: [unclosed", "is damaged or not a spec file"),
])
def test_bad_spec_files_are_one_error_naming_the_file(tmp_path, text, match):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    with pytest.raises(SpecError, match=match) as err:
        load_spec(f)
    assert str(f) in str(err.value)
    with pytest.raises(SpecError, match="spec file '/no/spec.yaml' does not exist"):
        load_spec("/no/spec.yaml")


def test_set_needs_key_equals_value():
    with pytest.raises(SpecError, match="expected key=value"):
        parse_set(["lr"])


@pytest.mark.parametrize("checksums", [True, False])
def test_the_train_rule_verifies_checksums_exactly_when_the_config_says(checksums):
    """What the train rule hands each job (tkd.training.spec.run_spec): the config's checksums setting, the
    recipe of the architecture and the fields of the run's role."""
    from helpers import paper_config
    from tkd.training.spec import run_spec

    config = paper_config()
    config["datasets"]["cifar100"]["checksums"] = checksums
    keys = dict(dataset="cifar100", arch="resnet56_cifar", method="tsd-0.6", seed=1)
    patriarch = TrainSpec.from_dict(dict(run_spec(config, dict(keys, generation=0), "data/cifar100"), out_dir="x"))
    assert patriarch.verify_checksums is checksums
    assert (patriarch.loss, patriarch.loss_params, patriarch.epochs) == ("tsd", {"eta": 0.6, "k": 5}, 164)
    student = run_spec(config, dict(keys, generation=2), "data/cifar100")
    assert "loss" not in student and student["lam"] == 0.6 and student.get("verify_checksums", True) is checksums
