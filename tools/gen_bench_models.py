#!/usr/bin/env python3
"""Generate Tessera's benchmark models: the shapes users run, with random weights.

Every model is built op by op with ``onnx.helper`` (default domain, opset 17, IR version 8) from a
fixed per-model seed, so the files are identical on every run. Weights are scaled the way trained
networks' are (He-normal convolutions, 0.02-scale transformer projections, small residual-branch
gains), so activations keep a stable magnitude through the depth of the network and comparing two
runtimes' outputs is a real check rather than a comparison of overflowed or vanished values.

The batch dimension is symbolic (``batch``) in every model: one file per model serves every batch
size (``tessera bench --batch 8`` or ``--dim batch=8``; ONNX Runtime takes the input's shape). For
each model NAME and each batch size B in ``--batches`` (default 1 and 8) the output directory
receives:

* ``NAME.onnx``: the model (checked with ``onnx.checker.check_model``);
* ``NAME.bB.INPUT.npy``: a deterministic random input of batch B for each model input INPUT;
* ``manifest.json``: what was written (format version, models, their inputs and outputs, the
  input files per batch size), read by ``cargo xtask bench-compare``.

Models:

* ``mlp``: ``x`` f32[batch,784] -> ``logits`` f32[batch,10]: Gemm+Relu 784-512-512, Gemm to 10.
  Small enough that per-op overhead, not arithmetic, dominates; the CI smoke model.
* ``mobilenetv2``: ``image`` f32[batch,3,224,224] -> ``logits`` f32[batch,1000]: MobileNetV2
  (width 1.0): 3x3/2 stem, 17 inverted-residual blocks (1x1 expand, 3x3 depthwise, 1x1 project,
  Clip(0, 6) activations), 1x1 to 1280, GlobalAveragePool, Gemm.
* ``resnet50``: ``image`` f32[batch,3,224,224] -> ``logits`` f32[batch,1000]: ResNet-50 v1.5
  (bottleneck blocks 3-4-6-3, stride on the 3x3 conv), batch normalization folded into the
  convolutions' bias as exporters emit it, GlobalAveragePool, Gemm. About 25.6 M parameters.
* ``bert_base``: ``input_ids`` i64[batch,128] -> ``hidden`` f32[batch,128,768]: a BERT-base
  encoder: token + position embeddings and LayerNormalization, 12 post-LN layers of 12-head
  Softmax self-attention and a 3072-wide feed-forward with GELU written with Erf, vocabulary 30522.
  About 109 M parameters.

Usage::

    python3 tools/gen_bench_models.py [--out .cache/bench-models] [--only NAME ...] [--batches 1,8]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
except ImportError as _e:  # pragma: no cover - environment problem, not a code path
    sys.exit(f"error: {_e}; run `python3 -m pip install -r tools/requirements.txt`")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_models import GraphBuilder  # noqa: E402  (the test models' builder, shared)

# Bumped whenever a model or input changes, so cached files are regenerated.
FORMAT_VERSION = 1
PRODUCER = "tessera-gen-bench-models"


@dataclass
class Built:
    """A generated model and how to make inputs for it."""

    model: onnx.ModelProto
    # Input name -> function (rng, batch) -> array.
    inputs: dict[str, Callable[[np.random.Generator, int], np.ndarray]]


def finish(g: GraphBuilder, name: str, doc: str, inputs, outputs, result: str) -> onnx.ModelProto:
    model = g.model(name, doc, inputs, outputs, result)
    model.producer_name = PRODUCER
    return model


def image_input(rng: np.random.Generator, batch: int) -> np.ndarray:
    return rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)


# ---- MLP -----------------------------------------------------------------------------------


def mlp(rng: np.random.Generator) -> Built:
    g = GraphBuilder(rng)
    x = "x"
    sizes = [784, 512, 512]
    for i in range(len(sizes) - 1):
        w = g.const(f"fc{i}.weight", g.he((sizes[i + 1], sizes[i]), sizes[i]))
        b = g.const(f"fc{i}.bias", g.small((sizes[i + 1],)))
        x = g.op("Relu", [g.op("Gemm", [x, w, b], f"fc{i}", transB=1)], f"fc{i}.relu")
    w = g.const("out.weight", g.he((10, sizes[-1]), sizes[-1]))
    b = g.const("out.bias", g.small((10,)))
    logits = g.op("Gemm", [x, w, b], "out", transB=1)
    model = finish(
        g,
        "mlp",
        "MLP 784-512-512-10 (Gemm + Relu).",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        logits,
    )
    return Built(
        model, {"x": lambda r, b: r.standard_normal((b, 784)).astype(np.float32)}
    )


# ---- CNN helpers ---------------------------------------------------------------------------


def conv(
    g: GraphBuilder,
    x: str,
    name: str,
    c_in: int,
    c_out: int,
    k: int,
    stride: int = 1,
    groups: int = 1,
    gain: float = 1.0,
) -> str:
    """Conv with bias (a batch normalization folded in); He-scaled weights times ``gain``."""
    fan_in = (c_in // groups) * k * k
    w = g.const(f"{name}.weight", g.he((c_out, c_in // groups, k, k), fan_in) * np.float32(gain))
    b = g.const(f"{name}.bias", g.small((c_out,), 0.05))
    pad = k // 2
    return g.op(
        "Conv",
        [x, w, b],
        name,
        kernel_shape=[k, k],
        strides=[stride, stride],
        pads=[pad] * 4,
        group=groups,
    )


def classifier(g: GraphBuilder, x: str, channels: int, classes: int = 1000) -> str:
    pooled = g.op("GlobalAveragePool", [x], "head.pool")
    flat = g.op("Flatten", [pooled], "head.flatten", axis=1)
    w = g.const("head.fc.weight", g.small((classes, channels), 1.0 / math.sqrt(channels)))
    b = g.const("head.fc.bias", g.small((classes,)))
    return g.op("Gemm", [flat, w, b], "head.fc", transB=1)


# ---- ResNet-50 -----------------------------------------------------------------------------


def resnet50(rng: np.random.Generator) -> Built:
    g = GraphBuilder(rng)
    relu = lambda x, name: g.op("Relu", [x], name)  # noqa: E731
    x = relu(conv(g, "image", "stem.conv", 3, 64, 7, stride=2), "stem.relu")
    x = g.op("MaxPool", [x], "stem.pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c_in = 64
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=1):
        c_out = width * 4
        for block in range(blocks):
            name = f"layer{stage}.{block}"
            stride = 2 if (block == 0 and stage > 1) else 1
            y = relu(conv(g, x, f"{name}.conv1", c_in, width, 1), f"{name}.relu1")
            y = relu(conv(g, y, f"{name}.conv2", width, width, 3, stride), f"{name}.relu2")
            # A small gain on the branch's last conv, as trained residual nets have, keeps the
            # activations from growing block after block.
            y = conv(g, y, f"{name}.conv3", width, c_out, 1, gain=0.3)
            if block == 0:
                shortcut = conv(g, x, f"{name}.downsample", c_in, c_out, 1, stride, gain=0.7)
            else:
                shortcut = x
            x = relu(g.op("Add", [y, shortcut], f"{name}.add"), f"{name}.relu3")
            c_in = c_out
    logits = classifier(g, x, c_in)
    model = finish(
        g,
        "resnet50",
        "ResNet-50 v1.5, batch normalization folded into the convolutions.",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])],
        logits,
    )
    return Built(model, {"image": image_input})


# ---- MobileNetV2 ---------------------------------------------------------------------------


def mobilenetv2(rng: np.random.Generator) -> Built:
    g = GraphBuilder(rng)
    zero = g.const("relu6.min", np.array(0.0, dtype=np.float32))
    six = g.const("relu6.max", np.array(6.0, dtype=np.float32))
    relu6 = lambda x, name: g.op("Clip", [x, zero, six], name)  # noqa: E731

    x = relu6(conv(g, "image", "stem.conv", 3, 32, 3, stride=2), "stem.relu6")
    c_in = 32
    index = 0
    # (expansion t, channels c, repeats n, first stride s), as in the MobileNetV2 paper.
    for t, c, n, s in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]:
        for i in range(n):
            name = f"block{index}"
            stride = s if i == 0 else 1
            hidden = c_in * t
            y = x
            if t != 1:
                y = relu6(conv(g, y, f"{name}.expand", c_in, hidden, 1), f"{name}.expand.relu6")
            y = conv(g, y, f"{name}.depthwise", hidden, hidden, 3, stride, groups=hidden)
            y = relu6(y, f"{name}.depthwise.relu6")
            residual = stride == 1 and c_in == c
            y = conv(g, y, f"{name}.project", hidden, c, 1, gain=0.5 if residual else 0.8)
            x = g.op("Add", [x, y], f"{name}.add") if residual else y
            c_in = c
            index += 1
    x = relu6(conv(g, x, "last.conv", c_in, 1280, 1), "last.relu6")
    logits = classifier(g, x, 1280)
    model = finish(
        g,
        "mobilenetv2",
        "MobileNetV2 (width 1.0): inverted residual blocks with depthwise convolutions.",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1000])],
        logits,
    )
    return Built(model, {"image": image_input})


# ---- BERT-base -----------------------------------------------------------------------------

BERT_VOCAB = 30522
BERT_HIDDEN = 768
BERT_HEADS = 12
BERT_FFN = 3072
BERT_LAYERS = 12
BERT_SEQ = 128


def bert_base(rng: np.random.Generator) -> Built:
    g = GraphBuilder(rng)
    hidden, heads, seq = BERT_HIDDEN, BERT_HEADS, BERT_SEQ

    tok_table = g.const("embed.tokens.weight", g.small((BERT_VOCAB, hidden), 0.02))
    # Position embeddings for the fixed sequence length, added by broadcasting over the batch.
    pos = g.const("embed.positions.weight", g.small((seq, hidden), 0.02))
    x = g.op("Add", [g.op("Gather", [tok_table, "input_ids"], "embed.tokens", axis=0), pos], "embed.add")
    x = g.layer_norm(x, "embed.ln", hidden)

    k = g.encoder_constants(hidden, heads)

    for layer in range(BERT_LAYERS):
        p = f"layer{layer}"
        attn = g.self_attention(x, p, k, weight_scale=0.02)
        x = g.layer_norm(g.op("Add", [x, attn], f"{p}.residual1"), f"{p}.ln1", hidden)

        # Feed-forward: W2 gelu(W1 x).
        h = g.gelu_erf(g.linear(x, f"{p}.ffn.up", hidden, BERT_FFN, weight_scale=0.02), p, k)
        h = g.linear(h, f"{p}.ffn.down", BERT_FFN, hidden, weight_scale=0.02)
        x = g.layer_norm(g.op("Add", [x, h], f"{p}.residual2"), f"{p}.ln2", hidden)

    model = finish(
        g,
        "bert_base",
        f"BERT-base encoder: {BERT_LAYERS} post-LN layers, hidden {hidden}, {heads} heads, "
        f"FFN {BERT_FFN}, sequence {seq}, vocabulary {BERT_VOCAB}.",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", seq])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", seq, hidden])],
        x,
    )
    return Built(
        model,
        {"input_ids": lambda r, b: r.integers(0, BERT_VOCAB, size=(b, seq), dtype=np.int64)},
    )


# Name -> (builder, seed). Each model has its own seed so `--only` reproduces the same files.
MODELS: dict[str, tuple[Callable[[np.random.Generator], Built], int]] = {
    "mlp": (mlp, 2001),
    "mobilenetv2": (mobilenetv2, 2002),
    "resnet50": (resnet50, 2003),
    "bert_base": (bert_base, 2004),
}


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def value_infos(values) -> list[dict]:
    out = []
    for v in values:
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        out.append(
            {"name": v.name, "dtype": helper.tensor_dtype_to_np_dtype(t.elem_type).name, "shape": dims}
        )
    return out


def generate(name: str, out_dir: Path, batches: list[int]) -> dict:
    build, seed = MODELS[name]
    built = build(np.random.default_rng(seed))
    onnx.checker.check_model(built.model)
    model_path = out_dir / f"{name}.onnx"
    onnx.save_model(built.model, model_path)

    entry = {
        "name": name,
        "file": model_path.name,
        "doc": built.model.doc_string,
        "parameters": int(sum(np.prod(t.dims) for t in built.model.graph.initializer)),
        "inputs": value_infos(built.model.graph.input),
        "outputs": value_infos(built.model.graph.output),
        "batches": {},
    }
    for batch in batches:
        # One input stream per (model, batch), independent of which other batches are made.
        rng = np.random.default_rng([seed, batch])
        files = {}
        for input_name, make in built.inputs.items():
            path = out_dir / f"{name}.b{batch}.{input_name}.npy"
            np.save(path, make(rng, batch))
            files[input_name] = path.name
        entry["batches"][str(batch)] = files
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path(".cache/bench-models"), help="output directory"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(MODELS),
        metavar="NAME",
        help=f"generate only this model (repeatable): {', '.join(MODELS)}",
    )
    parser.add_argument(
        "--batches", default="1,8", help="comma-separated batch sizes of the inputs (default 1,8)"
    )
    args = parser.parse_args(argv)
    try:
        batches = sorted({int(b) for b in args.batches.split(",") if b.strip()})
    except ValueError:
        parser.error(f"--batches {args.batches!r}: expected comma-separated integers")
    if not batches or min(batches) < 1:
        parser.error("--batches needs at least one batch size, each at least 1")

    names = list(dict.fromkeys(args.only)) if args.only else list(MODELS)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    manifest = {"version": FORMAT_VERSION, "models": {}}
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text())
            if old.get("version") == FORMAT_VERSION:
                manifest["models"] = old.get("models", {})
        except (OSError, ValueError):
            pass
    for name in names:
        try:
            entry = generate(name, args.out, batches)
        except Exception as e:  # noqa: BLE001 - report which model failed, then stop
            print(f"error: generating {name}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        manifest["models"][name] = entry
        # Written after every model, so an interrupted run keeps what it finished.
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        size_mb = (args.out / entry["file"]).stat().st_size / 2**20
        inputs = ", ".join(
            f"b{b}: {' '.join(files.values())}" for b, files in entry["batches"].items()
        )
        print(
            f"{name}: {args.out / entry['file']} ({size_mb:.1f} MiB, "
            f"{entry['parameters']:,} parameters); inputs {inputs}"
        )
    print(f"manifest: {manifest_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
