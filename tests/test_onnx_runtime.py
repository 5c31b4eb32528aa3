"""Foundation item 5: the ONNX runtime with a tiny model the test builds."""
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from airmap.core.errors import ModelError
from airmap.core.modelcard import CARD_KEY, attach_card
from airmap.core.onnx_runtime import candidate_providers, clear_cache, load_model, run_tiled


def card(**over):
    c = {"schema": 1, "task": "test", "name": "tiny", "units": "µg/m³", "normalisation": {"kind": "none"},
         "training": {"data": "none", "seed": 0, "command": "built by the test", "budget": "0"}, "metrics": {}}
    c.update(over)
    return c


def tiny_model(path, with_card=True, **card_over):
    """y = 2*x + box-blur(x): a local operator, so tiles must blend to match the whole."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "h", "w"])
    kernel = helper.make_tensor("k", TensorProto.FLOAT, [1, 1, 3, 3], [1 / 9] * 9)
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    nodes = [helper.make_node("Conv", ["x", "k"], ["blur"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["x", "two"], ["x2"]),
             helper.make_node("Add", ["x2", "blur"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [x], [y], [kernel, two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_card and not card_over:
        attach_card(model, card())
    elif with_card:  # deliberately invalid cards bypass attach_card's validation
        entry = model.metadata_props.add()
        entry.key, entry.value = CARD_KEY, json.dumps(card(**card_over))
    onnx.save(model, str(path))
    return str(path)


def cuda_usable() -> bool:
    """What the runtime should conclude on this host: CUDA only when ONNX Runtime has the CUDA
    provider *and* the driver library loads (a GPU host), else the CPU (the usual test host)."""
    import onnxruntime as ort

    from airmap.core.onnx_runtime import _cuda_driver_present

    return "CUDAExecutionProvider" in ort.get_available_providers() and _cuda_driver_present()


def test_model_loads_and_reports_the_provider_in_use(tmp_path):
    path = tiny_model(tmp_path / "m.onnx")
    model = load_model(path, task="test", device="auto")
    # 'auto' runs on CUDA exactly where CUDA is usable, else on the CPU
    assert model.provider == ("CUDAExecutionProvider" if cuda_usable() else "CPUExecutionProvider")
    assert load_model(path, task="test", device="cpu").provider == "CPUExecutionProvider"  # on any host
    x = np.random.default_rng(0).random((1, 1, 8, 8), dtype=np.float32)
    y = model(x)
    assert y.shape == x.shape and np.all(y >= 2 * x - 1e-6)
    assert model.card["name"] == "tiny"


def test_session_cache_reuses_sessions(tmp_path):
    clear_cache()
    path = tiny_model(tmp_path / "m.onnx")
    assert load_model(path, "test") is load_model(path, "test")


def test_cuda_request_without_cuda_is_a_clear_error(monkeypatch):
    from airmap.core import onnx_runtime

    # CPU first as the fallback on every host; CUDA before it only where it is usable
    assert candidate_providers("auto")[-1] == "CPUExecutionProvider"
    assert candidate_providers("cpu") == ["CPUExecutionProvider"]
    if cuda_usable():
        assert candidate_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    # a host without a driver (the real one here, simulated on a GPU host) gets the message
    monkeypatch.setattr(onnx_runtime, "_cuda_driver_present", lambda: False)
    assert candidate_providers("auto") == ["CPUExecutionProvider"]
    with pytest.raises(ModelError.__mro__[1], match="cuda"):
        candidate_providers("cuda")


@pytest.mark.parametrize("case,message", [
    ("missing", "carries no airmap model card"),
    ("task", "not abpn"),
    ("schema", "schema 99"),
    ("json", "not valid JSON"),
    ("corrupt", "could not be loaded"),
    ("absent", "does not exist"),
])
def test_bad_models_are_refused_with_a_message(tmp_path, case, message):
    path = tmp_path / "m.onnx"
    if case == "missing":
        tiny_model(path, with_card=False)
    elif case == "task":
        tiny_model(path)
    elif case == "schema":
        tiny_model(path, schema=99)
    elif case == "json":
        tiny_model(path, with_card=False)
        m = onnx.load(str(path))
        entry = m.metadata_props.add()
        entry.key, entry.value = CARD_KEY, "{not json"
        onnx.save(m, str(path))
    elif case == "corrupt":
        path.write_bytes(b"this is not an onnx file")
    task = "abpn" if case == "task" else "test"
    with pytest.raises(ModelError, match=message):
        load_model(str(path if case != "absent" else tmp_path / "nope.onnx"), task=task)


def test_tiled_inference_matches_whole_image_and_bounds_tile_size(tmp_path):
    model = load_model(tiny_model(tmp_path / "m.onnx"), "test")
    rng = np.random.default_rng(3)
    image = rng.random((1, 70, 95)).astype(np.float32)
    whole = model(image[None])[0]
    seen = []

    def predict(tile):
        seen.append(tile.shape)
        return model(tile[None])[0]

    tiled = run_tiled(predict, image, tile=32, overlap=8)
    assert max(s[1] for s in seen) <= 32 and max(s[2] for s in seen) <= 32 and len(seen) > 4
    # Inside, the blended tiles agree with the whole image; at tile borders the box blur sees
    # edge padding, which the cross-fade keeps small.
    np.testing.assert_allclose(tiled[:, 1:-1, 1:-1], whole[:, 1:-1, 1:-1], atol=0.01)


def test_tiling_pads_to_a_multiple_and_crops_back():
    calls = []

    def predict(tile):
        calls.append(tile.shape)
        return np.repeat(np.repeat(tile, 2, axis=1), 2, axis=2)  # x2 'super-resolution'

    image = np.arange(30 * 21, dtype=np.float32).reshape(1, 30, 21)
    out = run_tiled(predict, image, tile=16, overlap=4, scale=2, multiple=8)
    assert all(s[1] % 8 == 0 and s[2] % 8 == 0 for s in calls)
    assert out.shape == (1, 60, 42)
    np.testing.assert_allclose(out[0, ::2, ::2], image[0])


def test_no_cuda_or_tensorrt_error_spam_on_a_cpu_machine(tmp_path):
    """onnxruntime-gpu logs CUDA/TensorRT load errors when asked for CUDA without a driver;
    airmap must not ask, so a CPU user's log stays clean. On a GPU host the same call runs on
    CUDA, and TensorRT is never asked for there either."""
    import subprocess
    import sys

    from helpers import REPO

    path = tiny_model(tmp_path / "m.onnx")
    code = ("import sys, numpy as np; sys.path.insert(0, %r);"
            "from airmap.core.onnx_runtime import load_model;"
            "m = load_model(%r, 'test', device='auto'); m(np.ones((1,1,4,4), np.float32));"
            "print(m.provider)") % (str(REPO / ".pkg"), path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "TensorRT" not in proc.stderr
    if cuda_usable():
        assert proc.stdout.strip() == "CUDAExecutionProvider"
    else:
        assert proc.stdout.strip() == "CPUExecutionProvider"
        assert "CUDA" not in proc.stderr and "cudnn" not in proc.stderr.lower()
