"""Which kernel ran, detected from a real profiled pass of small models."""

import pytest
import torch

from profiler.measure.kernels import detect_kernels
from profiler.measure.memory import profiled_pass
from profiler.models.families import build_model
from profiler.models.steps import make_step


def kernels_of(name, phase="inference", attention="default", hyper=None):
    if hyper is None:
        hyper = {} if name == "transformer" else {"hidden": 16}
    model = build_model(name, hyper)
    step = make_step(model, phase, 2, 12, "cpu", attention)
    names = profiled_pass(step.run, step.setup, with_memory=False).op_names
    return detect_kernels(names)


def test_lstm_onednn_and_native():
    if not torch.backends.mkldnn.is_available():
        pytest.skip("no oneDNN in this build")
    assert kernels_of("lstm")["recurrent_kernel"] == "onednn"
    with torch.backends.mkldnn.flags(enabled=False):
        assert kernels_of("lstm")["recurrent_kernel"] == "native"


@pytest.mark.parametrize("phase", ["inference", "backward", "train_step"])
def test_attention_backend_follows_the_axis(phase):
    assert kernels_of("transformer", phase, "math", {})["attention_kernel"] == "sdpa-math"
    assert kernels_of("transformer", phase, "flash", {})["attention_kernel"] == "sdpa-flash-cpu"


def test_names_to_labels():
    k = detect_kernels(["aten::linear", "aten::_scaled_dot_product_flash_attention_for_cpu"])
    assert k == {"recurrent_kernel": None, "attention_kernel": "sdpa-flash-cpu",
                 "kernel": "sdpa-flash-cpu"}
    assert detect_kernels(["aten::lstm", "aten::_cudnn_rnn"])["kernel"] == "cudnn"
    assert detect_kernels(["aten::add"])["kernel"] is None


def test_default_attention_on_cpu_is_flash():
    # guards against the axis being ignored: PyTorch's own choice on CPU is flash, not math
    assert kernels_of("transformer")["attention_kernel"] == "sdpa-flash-cpu"
