"""What training stands on: the compile mode, the frozen teacher, evaluation in float32."""
import torch

from helpers import tiny_spec
from tkd.training.archs import create
from tkd.training.runtime import compile_mode, evaluate_model, load_teacher
from tkd.training.spec import TrainSpec


def test_compile_mode_cuda_graphs_for_one_cuda_process_only():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compile_mode("auto", cpu) is None, "eager on CPU unless asked"
    assert compile_mode("on", cpu) == "default"
    assert compile_mode("auto", cuda) == "reduce-overhead"
    assert compile_mode("auto", cuda, world=8) == "default", "no CUDA graphs around DDP's all-reduce"
    assert compile_mode("off", cuda) is None


def test_the_teacher_is_frozen_in_eval_mode(tmp_path, synthetic_npz):
    torch.save(create("resnet8_cifar", num_classes=100).state_dict(), tmp_path / "t.pt")
    spec = TrainSpec.from_dict(tiny_spec(synthetic_npz, tmp_path, generation=1, teacher=str(tmp_path / "t.pt")))
    teacher = load_teacher(spec, 100, torch.device("cpu"))
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def test_evaluation_is_float32_in_eval_mode():
    class Batches:
        n = 4
        labels = torch.tensor([0, 1, 2, 3])

        def batches(self):
            yield torch.randn(4, 3, 32, 32), self.labels

    model = create("resnet8_cifar", num_classes=10).train()
    _, _, logits = evaluate_model(model, Batches())
    assert logits.dtype == torch.float32 and not model.training
