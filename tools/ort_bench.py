#!/usr/bin/env python3
"""Time one model on ONNX Runtime's CPU provider, the way ``tessera bench`` times it on Tessera.

The reference half of ``cargo xtask bench-compare``: it runs in its own process, loads the inputs
from ``.npy`` files (the same files Tessera reads), builds an ``InferenceSession`` with
``intra_op_num_threads=N``, one inter-op thread and sequential execution, runs ``--warmup``
untimed and ``--runs`` timed inferences, and reports every timed latency, the median and p90, and
the process's peak resident memory (``VmHWM``, else ``getrusage``'s ``ru_maxrss``). That peak
includes the Python interpreter and NumPy; ``baseline_rss_bytes`` is the peak before the session
was created, for reference.

With ``--compare DIR`` it also checks the last run's outputs against Tessera's, read from
``DIR/<output>.npy`` (``tessera bench --output-dir DIR``): for each output the largest absolute
difference, the largest absolute ONNX Runtime value, and their ratio (the error relative to the
output's magnitude). The caller decides what ratio counts as agreement.

Usage::

    python3 tools/ort_bench.py model.onnx --input NAME=file.npy ... [--threads N] [--runs 10]
        [--warmup 3] [--compare DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import time
from pathlib import Path

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as _e:  # pragma: no cover - environment problem, not a code path
    sys.exit(f"error: {_e}; run `python3 -m pip install -r tools/requirements.txt`")


def peak_rss_bytes() -> int:
    """The process's peak resident set size in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    # Linux reports ru_maxrss in KiB (macOS in bytes; close enough for a fallback).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def file_name(name: str) -> str:
    """The file name ``tessera`` gives an output (characters outside [A-Za-z0-9._-] become _)."""
    s = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return "_" + s if not s or s.startswith(".") else s


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (as ``tessera bench`` computes it)."""
    rank = max(1, int(-(-q * len(sorted_ms) // 100)))
    return sorted_ms[min(rank, len(sorted_ms)) - 1]


def median(sorted_ms: list[float]) -> float:
    n = len(sorted_ms)
    mid = n // 2
    return sorted_ms[mid] if n % 2 else (sorted_ms[mid - 1] + sorted_ms[mid]) / 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--compare", type=Path, metavar="DIR", help="Tessera's outputs to check")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--runs and --threads must be at least 1, --warmup at least 0")

    feeds = {}
    for spec in args.input:
        name, sep, path = spec.partition("=")
        if not sep:
            parser.error(f"--input {spec!r}: expected NAME=file.npy")
        feeds[name] = np.load(path)
    baseline = peak_rss_bytes()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    session = ort.InferenceSession(
        str(args.model), options, providers=["CPUExecutionProvider"]
    )
    load_ms = (time.perf_counter() - t0) * 1e3
    names = [o.name for o in session.get_outputs()]

    for _ in range(args.warmup):
        session.run(names, feeds)
    times = []
    outputs = None
    for _ in range(args.runs):
        t = time.perf_counter()
        outputs = session.run(names, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    ordered = sorted(times)

    compare = []
    if args.compare is not None and outputs is not None:
        for name, ref in zip(names, outputs, strict=True):
            path = args.compare / f"{file_name(name)}.npy"
            entry = {"name": name, "file": str(path)}
            try:
                got = np.load(path)
            except OSError as e:
                entry["error"] = f"cannot read: {e}"
                compare.append(entry)
                continue
            if got.shape != ref.shape:
                entry["error"] = f"shape {list(got.shape)}, ONNX Runtime {list(ref.shape)}"
                compare.append(entry)
                continue
            diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            scale = float(np.abs(ref.astype(np.float64)).max()) if ref.size else 0.0
            max_diff = float(np.nan_to_num(diff, nan=np.inf).max()) if ref.size else 0.0
            entry.update(
                max_abs_diff=max_diff,
                ref_max_abs=scale,
                rel_err=max_diff / scale if scale > 0 else max_diff,
            )
            compare.append(entry)

    result = {
        "runtime": f"onnxruntime {ort.__version__}",
        "model": str(args.model),
        "threads": args.threads,
        "runs": args.runs,
        "warmup": args.warmup,
        "load_ms": load_ms,
        "times_ms": times,
        "median_ms": median(ordered),
        "p90_ms": percentile(ordered, 90),
        "peak_rss_bytes": peak_rss_bytes(),
        "baseline_rss_bytes": baseline,
        "compare": compare,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"model      {args.model} ({result['runtime']}, {args.threads} threads)")
        print(f"runs       {args.runs} timed after {args.warmup} warm-up; load {load_ms:.1f} ms")
        print(f"latency    median {result['median_ms']:.2f} ms, p90 {result['p90_ms']:.2f} ms")
        print(f"peak RSS   {result['peak_rss_bytes'] / 2**20:.1f} MiB "
              f"(before the session: {baseline / 2**20:.1f} MiB)")
        for c in compare:
            detail = c.get("error") or f"max |diff| {c['max_abs_diff']:.3g}, relative {c['rel_err']:.3g}"
            print(f"compare    {c['name']}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
