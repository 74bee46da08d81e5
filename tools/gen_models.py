#!/usr/bin/env python3
"""Generate Tessera's own test models with ONNX Runtime reference outputs.

Every model is built op by op with ``onnx.helper`` (default domain, opset 17, IR version 8), with
random weights from a fixed seed, so the files are identical on every run. For each model NAME
the output directory receives:

* ``NAME.onnx``: the model (checked with ``onnx.checker.check_model(full_check=True)``);
* ``NAME.input.npy``: a sample input for the model's (single) input;
* ``NAME.input.npz``: the same sample keyed by input name (``image`` or ``input_ids``);
* ``NAME.ort.npz``: ONNX Runtime's (CPU provider) outputs on that sample, keyed by output name.

Models:

* ``tiny_cnn``: image classifier, ``image`` f32[batch,3,32,32] -> ``probs`` f32[batch,10]:
  three Conv3x3+BatchNormalization+Relu+MaxPool blocks, GlobalAveragePool, Flatten, Gemm, Softmax.
* ``resnet_mini``: ResNet-style classifier, ``image`` f32[batch,3,64,64] -> ``logits``
  f32[batch,10]: 7x7/2 stem + BN + Relu + MaxPool, three stages of two basic residual blocks
  (identity or 1x1 projection shortcuts), GlobalAveragePool, Flatten, Gemm.
* ``transformer_encoder``: ``input_ids`` i64[batch,seq] -> ``hidden`` f32[batch,seq,64]: token and
  position embeddings, two pre-LayerNorm encoder layers (4-head self-attention, GELU feed-forward
  written with Erf), final LayerNormalization.

``--plain-names`` writes ``model.onnx``, ``input.npy``, ``input.npz`` and ``ort.npz`` instead (one
model only); that is how the bundled example is produced::

    python3 tools/gen_models.py --out examples/tiny_cnn --only tiny_cnn --plain-names
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as _e:  # pragma: no cover - environment problem, not a code path
    sys.exit(f"error: {_e}; run `python3 -m pip install -r tools/requirements.txt`")

OPSET = 17
IR_VERSION = 8
PRODUCER = "tessera-gen-models"


@dataclass(frozen=True)
class EncoderConstants:
    """Names of the initializers a transformer encoder's layers share."""

    to_heads: str
    from_heads: str
    sqrt_d: str
    sqrt2: str
    one: str
    half: str
    hidden: int


@dataclass
class GraphBuilder:
    """Accumulates nodes and initializers, handing out unique value names."""

    rng: np.random.Generator
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[TensorProto] = field(default_factory=list)
    _counter: int = 0

    def fresh(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def const(self, name: str, array: np.ndarray) -> str:
        """Add an initializer named ``name`` (must be unique) and return its name."""
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, n_out: int = 1, **attrs) -> str:
        """Add one node; returns its (first) output name. ``name`` prefixes the outputs."""
        outputs = [self.fresh(f"{name}.{op_type.lower()}") for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))
        return outputs[0]

    # ---- weights ----------------------------------------------------------------------------

    def he(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        """He-normal weights (keeps activation scale stable through Relu layers)."""
        return (self.rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)

    def small(self, shape: tuple[int, ...], scale: float = 0.02) -> np.ndarray:
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    # ---- layers -----------------------------------------------------------------------------

    def conv(self, x: str, name: str, c_in: int, c_out: int, k: int, stride: int = 1) -> str:
        w = self.const(f"{name}.weight", self.he((c_out, c_in, k, k), c_in * k * k))
        pad = k // 2
        return self.op(
            "Conv", [x, w], name, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4
        )

    def batch_norm(
        self, x: str, name: str, channels: int, gamma: tuple[float, float] = (0.8, 1.2)
    ) -> str:
        """Inference-mode BatchNormalization with plausible trained statistics."""
        scale = self.const(f"{name}.scale", self.rng.uniform(*gamma, channels).astype(np.float32))
        bias = self.const(f"{name}.bias", self.small((channels,), 0.1))
        mean = self.const(f"{name}.mean", self.small((channels,), 0.1))
        var = self.const(f"{name}.var", self.rng.uniform(0.8, 1.2, channels).astype(np.float32))
        return self.op("BatchNormalization", [x, scale, bias, mean, var], name, epsilon=1e-5)

    def conv_bn(
        self,
        x: str,
        name: str,
        c_in: int,
        c_out: int,
        k: int,
        stride: int = 1,
        relu: bool = True,
        gamma: tuple[float, float] = (0.8, 1.2),
    ) -> str:
        y = self.conv(x, f"{name}.conv", c_in, c_out, k, stride)
        y = self.batch_norm(y, f"{name}.bn", c_out, gamma)
        return self.op("Relu", [y], f"{name}.relu") if relu else y

    def linear(
        self, x: str, name: str, d_in: int, d_out: int, weight_scale: float | None = None
    ) -> str:
        """``x @ W + b`` as MatMul + Add (works on any leading batch dimensions).

        ``W`` is normal with standard deviation ``weight_scale`` (default ``1/sqrt(d_in)``)."""
        scale = 1.0 / math.sqrt(d_in) if weight_scale is None else weight_scale
        w = self.const(f"{name}.weight", self.small((d_in, d_out), scale))
        b = self.const(f"{name}.bias", self.small((d_out,)))
        return self.op("Add", [self.op("MatMul", [x, w], f"{name}.matmul"), b], f"{name}.add")

    def encoder_constants(self, hidden: int, heads: int) -> EncoderConstants:
        """The shape and scalar constants shared by every layer of a transformer encoder."""
        head_dim = hidden // heads
        return EncoderConstants(
            to_heads=self.const("attn.to_heads", np.array([0, 0, heads, head_dim], np.int64)),
            from_heads=self.const("attn.from_heads", np.array([0, 0, hidden], np.int64)),
            sqrt_d=self.const("attn.sqrt_d", np.array(math.sqrt(head_dim), np.float32)),
            sqrt2=self.const("gelu.sqrt2", np.array(math.sqrt(2.0), np.float32)),
            one=self.const("gelu.one", np.array(1.0, np.float32)),
            half=self.const("gelu.half", np.array(0.5, np.float32)),
            hidden=hidden,
        )

    def self_attention(
        self, x: str, p: str, k: EncoderConstants, weight_scale: float | None = None
    ) -> str:
        """``Wo(softmax(Q Kᵀ / sqrt(d)) V)`` with Q, K, V projected from ``x``, in plain ops."""
        heads = {}
        for proj in ("q", "k", "v"):
            y = self.linear(x, f"{p}.attn.{proj}", k.hidden, k.hidden, weight_scale)
            y = self.op("Reshape", [y, k.to_heads], f"{p}.attn.{proj}.split")
            # [b, s, H, d] -> [b, H, s, d]; K goes to [b, H, d, s] for the score MatMul.
            perm = [0, 2, 3, 1] if proj == "k" else [0, 2, 1, 3]
            heads[proj] = self.op("Transpose", [y], f"{p}.attn.{proj}.heads", perm=perm)
        scores = self.op("MatMul", [heads["q"], heads["k"]], f"{p}.attn.scores")
        scores = self.op("Div", [scores, k.sqrt_d], f"{p}.attn.scale")
        weights = self.op("Softmax", [scores], f"{p}.attn.softmax", axis=-1)
        ctx = self.op("MatMul", [weights, heads["v"]], f"{p}.attn.context")
        ctx = self.op("Transpose", [ctx], f"{p}.attn.merge", perm=[0, 2, 1, 3])
        ctx = self.op("Reshape", [ctx, k.from_heads], f"{p}.attn.join")
        return self.linear(ctx, f"{p}.attn.out", k.hidden, k.hidden, weight_scale)

    def gelu_erf(self, h: str, p: str, k: EncoderConstants) -> str:
        """``0.5 h (1 + erf(h / sqrt(2)))``, written with Erf as exporters write it."""
        erf = self.op("Erf", [self.op("Div", [h, k.sqrt2], f"{p}.gelu.div")], f"{p}.gelu.erf")
        gate = self.op("Add", [erf, k.one], f"{p}.gelu.add")
        return self.op("Mul", [self.op("Mul", [h, gate], f"{p}.gelu.mul"), k.half], f"{p}.gelu.half")

    def classifier_head(self, x: str, channels: int, classes: int) -> str:
        """GlobalAveragePool -> Flatten -> Gemm."""
        pooled = self.op("GlobalAveragePool", [x], "head.pool")
        flat = self.op("Flatten", [pooled], "head.flatten", axis=1)
        w = self.const("head.fc.weight", self.he((classes, channels), channels))
        b = self.const("head.fc.bias", self.small((classes,)))
        return self.op("Gemm", [flat, w, b], "head.fc", transB=1)

    def layer_norm(self, x: str, name: str, dim: int) -> str:
        scale = self.const(f"{name}.scale", (1.0 + self.small((dim,), 0.05)).astype(np.float32))
        bias = self.const(f"{name}.bias", self.small((dim,)))
        return self.op("LayerNormalization", [x, scale, bias], name, axis=-1, epsilon=1e-5)

    # ---- model assembly ---------------------------------------------------------------------

    def model(
        self,
        graph_name: str,
        doc: str,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        result: str,
    ) -> onnx.ModelProto:
        """Wrap the graph up; the last node output ``result`` is renamed to the graph output."""
        out_name = outputs[0].name
        for node in self.nodes:
            for i, name in enumerate(node.output):
                if name == result:
                    node.output[i] = out_name
        graph = helper.make_graph(
            self.nodes, graph_name, inputs, outputs, initializer=self.initializers, doc_string=doc
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name=PRODUCER,
            producer_version="1",
            doc_string=doc,
        )
        return model


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def tiny_cnn(rng: np.random.Generator) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    g = GraphBuilder(rng)
    x = "image"
    channels = [3, 16, 32, 64]
    for i in range(3):
        x = g.conv_bn(x, f"block{i + 1}", channels[i], channels[i + 1], 3)
        x = g.op("MaxPool", [x], f"block{i + 1}.pool", kernel_shape=[2, 2], strides=[2, 2])
    logits = g.classifier_head(x, channels[-1], 10)
    probs = g.op("Softmax", [logits], "head.softmax", axis=1)
    model = g.model(
        "tiny_cnn",
        "Tiny image classifier: 3x(Conv3x3-BN-Relu-MaxPool), GlobalAveragePool, Gemm, Softmax.",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])],
        probs,
    )
    sample = {"image": rng.standard_normal((2, 3, 32, 32)).astype(np.float32)}
    return model, sample


def resnet_mini(rng: np.random.Generator) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    g = GraphBuilder(rng)
    x = g.conv_bn("image", "stem", 3, 16, 7, stride=2)
    x = g.op("MaxPool", [x], "stem.pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c_in = 16
    for stage, c_out in enumerate([16, 32, 64], start=1):
        for block in range(2):
            name = f"stage{stage}.block{block + 1}"
            stride = 2 if (block == 0 and stage > 1) else 1
            y = g.conv_bn(x, f"{name}.a", c_in, c_out, 3, stride)
            # Small scales on the branch's last BN, as trained residual nets have, keep the
            # activations from growing block after block.
            y = g.conv_bn(y, f"{name}.b", c_out, c_out, 3, relu=False, gamma=(0.2, 0.5))
            if stride != 1 or c_in != c_out:
                shortcut = g.conv_bn(x, f"{name}.proj", c_in, c_out, 1, stride, relu=False)
            else:
                shortcut = x
            x = g.op("Relu", [g.op("Add", [y, shortcut], f"{name}.add")], f"{name}.relu")
            c_in = c_out
    logits = g.classifier_head(x, c_in, 10)
    model = g.model(
        "resnet_mini",
        "ResNet-style classifier: 7x7/2 stem, 3 stages x 2 basic blocks (16/32/64 channels).",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        logits,
    )
    sample = {"image": rng.standard_normal((2, 3, 64, 64)).astype(np.float32)}
    return model, sample


VOCAB = 1000
HIDDEN = 64
HEADS = 4
FFN = 256
LAYERS = 2
MAX_POSITIONS = 128


def transformer_encoder(rng: np.random.Generator) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    g = GraphBuilder(rng)

    # Token embedding + learned position embedding for positions 0..seq-1.
    tok_table = g.const("embed.tokens.weight", g.small((VOCAB, HIDDEN), 1.0))
    pos_table = g.const("embed.positions.weight", g.small((MAX_POSITIONS, HIDDEN), 0.1))
    tokens = g.op("Gather", [tok_table, "input_ids"], "embed.tokens", axis=0)
    seq_len = g.op("Shape", ["input_ids"], "embed.seq_len", start=1, end=2)
    zero = g.const("embed.zero", np.array([0], dtype=np.int64))
    positions = g.op("Slice", [pos_table, zero, seq_len, zero], "embed.slice")
    x = g.op("Add", [tokens, positions], "embed.add")

    k = g.encoder_constants(HIDDEN, HEADS)

    for layer in range(LAYERS):
        p = f"layer{layer}"
        # Self-attention sublayer (pre-LN): x + Wo(softmax(Q K^T / sqrt(d)) V).
        attn = g.self_attention(g.layer_norm(x, f"{p}.ln1", HIDDEN), p, k)
        x = g.op("Add", [x, attn], f"{p}.residual1")

        # Feed-forward sublayer (pre-LN): x + W2(gelu(W1 LN(x))).
        h = g.layer_norm(x, f"{p}.ln2", HIDDEN)
        h = g.gelu_erf(g.linear(h, f"{p}.ffn.up", HIDDEN, FFN), p, k)
        h = g.linear(h, f"{p}.ffn.down", FFN, HIDDEN)
        x = g.op("Add", [x, h], f"{p}.residual2")

    hidden = g.layer_norm(x, "final_ln", HIDDEN)
    model = g.model(
        "transformer_encoder",
        f"{LAYERS}-layer pre-LN transformer encoder (hidden {HIDDEN}, {HEADS} heads, "
        f"FFN {FFN}, vocab {VOCAB}) in plain opset-{OPSET} ops.",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", HIDDEN])],
        hidden,
    )
    sample = {"input_ids": rng.integers(0, VOCAB, size=(2, 16), dtype=np.int64)}
    return model, sample


# Name -> (builder, seed). Each model has its own seed so `--only` reproduces the same files.
MODELS: dict[str, tuple[Callable[[np.random.Generator], tuple], int]] = {
    "tiny_cnn": (tiny_cnn, 1001),
    "resnet_mini": (resnet_mini, 1002),
    "transformer_encoder": (transformer_encoder, 1003),
}


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def ort_outputs(model_path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the model once on ONNX Runtime's CPU provider."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def generate(name: str, out_dir: Path, plain_names: bool) -> list[Path]:
    build, seed = MODELS[name]
    model, sample = build(np.random.default_rng(seed))
    onnx.checker.check_model(model, full_check=True)

    stem = "" if plain_names else f"{name}."
    model_path = out_dir / ("model.onnx" if plain_names else f"{name}.onnx")
    npy_path = out_dir / f"{stem}input.npy"
    npz_path = out_dir / f"{stem}input.npz"
    ort_path = out_dir / f"{stem}ort.npz"

    onnx.save_model(model, model_path)
    (only_input,) = sample.values()
    np.save(npy_path, only_input)
    np.savez(npz_path, **sample)
    np.savez(ort_path, **ort_outputs(model_path, sample))
    return [model_path, npy_path, npz_path, ort_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("models"), help="output directory")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(MODELS),
        metavar="NAME",
        help=f"generate only this model (repeatable): {', '.join(MODELS)}",
    )
    parser.add_argument(
        "--plain-names",
        action="store_true",
        help="write model.onnx/input.npy/input.npz/ort.npz (exactly one model)",
    )
    args = parser.parse_args(argv)

    names = list(dict.fromkeys(args.only)) if args.only else list(MODELS)
    if args.plain_names and len(names) != 1:
        parser.error("--plain-names needs exactly one --only NAME")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        try:
            paths = generate(name, args.out, args.plain_names)
        except Exception as e:  # noqa: BLE001 - report which model failed, then stop
            print(f"error: generating {name}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        size_kb = paths[0].stat().st_size / 1024
        print(f"{name}: {paths[0]} ({size_kb:.0f} KiB) + sample input and ORT outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
