"""Regenerates the small ONNX models used by the CLI tests (byte-identical output).

    python3 crates/tessera-cli/tests/data/make_models.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def save(graph, name):
    model = helper.make_model(
        graph, producer_name="tessera-tests", opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(model.SerializeToString(deterministic=True))


def f32(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


# No nodes: the output is the input.
save(helper.make_graph([], "passthrough", [f32("x", ["batch", 3])], [f32("x", ["batch", 3])]), "passthrough.onnx")

# z = (relu(x) + w) * y with a 3-element initializer w.
w = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), "w")
save(
    helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu"),
            helper.make_node("Add", ["r", "w"], ["s"], name="add"),
            helper.make_node("Mul", ["s", "y"], ["z"], name="mul"),
        ],
        "elementwise",
        [f32("x", ["batch", 3]), f32("y", ["batch", 3])],
        [f32("z", ["batch", 3])],
        [w],
    ),
    "elementwise.onnx",
)

# y = MaxPool2x2(Conv3x3(x, W, B, pads=1)), with a sample input and ONNX Runtime's output.
rng = np.random.default_rng(0)
W = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "W")
B = numpy_helper.from_array(rng.standard_normal((4,)).astype(np.float32), "B")
save(
    helper.make_graph(
        [
            helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
            helper.make_node("MaxPool", ["c"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        ],
        "conv_pool",
        [f32("x", ["batch", 3, 8, 8])],
        [f32("y", ["batch", 4, 4, 4])],
        [W, B],
    ),
    "conv_pool.onnx",
)
x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
np.save(os.path.join(HERE, "conv_pool_x.npy"), x)
import onnxruntime  # noqa: E402  (only needed for the reference output)

ref = onnxruntime.InferenceSession(os.path.join(HERE, "conv_pool.onnx")).run(None, {"x": x})[0]
np.save(os.path.join(HERE, "conv_pool_ort.npy"), ref)

# Composite ops for `inspect --device`: y = LayerNorm(Flatten(Relu(BatchNorm(Conv(x))))). A
# virtual NPU with conv, mul, add, relu and flatten runs BatchNorm decomposed (its constant
# parameters fold into one Mul and one Add) but not LayerNorm (no ReduceMean).
rng = np.random.default_rng(1)
params = {
    "W": rng.standard_normal((4, 3, 3, 3)),
    "B": rng.standard_normal((4,)),
    "scale": rng.standard_normal((4,)),
    "bias": rng.standard_normal((4,)),
    "mean": rng.standard_normal((4,)),
    "var": rng.uniform(0.5, 2.0, (4,)),
    "gamma": rng.standard_normal((256,)),
    "beta": rng.standard_normal((256,)),
}
inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in params.items()]
save(
    helper.make_graph(
        [
            helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
            helper.make_node(
                "BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["n"], name="bn"
            ),
            helper.make_node("Relu", ["n"], ["r"], name="relu"),
            helper.make_node("Flatten", ["r"], ["f"], name="flat", axis=1),
            helper.make_node("LayerNormalization", ["f", "gamma", "beta"], ["y"], name="ln", axis=-1),
        ],
        "conv_bn_ln",
        [f32("x", ["batch", 3, 8, 8])],
        [f32("y", ["batch", 256])],
        inits,
    ),
    "conv_bn_ln.onnx",
)
