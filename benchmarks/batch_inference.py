"""Batch inference over Parquet: a seeded 100k-row file through a small MLP (64 -> 256 ->
256 -> 10), tfrt-ray on 1 and 2 device actors against ONNX Runtime over the same batches.

    python -m benchmarks.batch_inference [--quick] [--rows N] [--batch-size B]

tfrt-ray runs ``tfrt_ray.batch.run_parquet`` as ``tfrt-ray run model.onnx --inputs
x.parquet --output y.parquet --devices D --strategy replicate`` does (one whole program
per device actor, batches round-robin, outputs written to a checkpointed Parquet file).
ONNX Runtime (1 intra-op thread) reads the same record batches, runs each and writes the
outputs with pyarrow: the same I/O, one process. Figures are rows/s, min and median over
repeats (each repeat a whole pass over the file, into a fresh output).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import machine, save


def write_input(path: str, rows: int, features: int = 64, seed: int = 0) -> None:
    x = np.random.default_rng(seed).standard_normal((rows, features)).astype(np.float32)
    col = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), features)
    pq.write_table(pa.table({"x": col}), path, row_group_size=16384)


def ort_pass(sess, src: str, dst: str, batch: int) -> int:
    source = pq.ParquetFile(src)
    writer = None
    rows = 0
    for rb in source.iter_batches(batch_size=batch, columns=["x"]):
        col = rb.column(0)
        x = col.values.to_numpy(zero_copy_only=False).reshape(len(rb), -1)
        (y,) = sess.run(None, {"x": x})
        out = pa.table({"y": pa.FixedSizeListArray.from_arrays(pa.array(y.ravel()),
                                                               y.shape[1])})
        if writer is None:
            writer = pq.ParquetWriter(dst, out.schema)
        writer.write_table(out)
        rows += len(rb)
    writer.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()
    repeat = 3 if args.quick else 5

    import onnx
    import onnxruntime as ort

    import tfrt_ray as tr
    from benchmarks.models import small_mlp
    from tfrt_ray.batch import run_parquet
    from tfrt_ray.cli.models import graph_for_batch, load_model, optimize_graph

    rows: list[dict] = []
    print(f"machine: {machine()}; load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "mlp.onnx")
        onnx.save(small_mlp(), model_path)
        src = os.path.join(tmp, "x.parquet")
        write_input(src, args.rows)
        model = load_model(model_path)
        graph, batch = graph_for_batch(model, args.batch_size)
        graph = optimize_graph(graph, 2)

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
        want = None
        samples = []
        for i in range(repeat + 1):  # the first pass warms up
            dst = os.path.join(tmp, f"ort{i}.parquet")
            t0 = time.perf_counter()
            n = ort_pass(sess, src, dst, batch)
            dt = time.perf_counter() - t0
            if i:
                samples.append(n / dt)
            want = dst
        rows.append({"runtime": "onnxruntime (1 thread)", "devices": 0,
                     "min_rows_s": min(samples), "median_rows_s": float(np.median(samples))})
        ref = np.stack(pq.read_table(want).column("y").to_numpy(zero_copy_only=False))

        for devices in (1, 2):
            session = tr.init(devices=devices)
            try:
                ids = list(session.device_ids)
                programs = [tr.compile(graph, strategy="place", devices=[d]) for d in ids]
                samples = []
                for i in range(repeat + 1):
                    dst = os.path.join(tmp, f"tr{devices}_{i}.parquet")
                    report = run_parquet(programs, graph, src, dst, batch_size=batch,
                                         progress=False)
                    if i:
                        samples.append(report.rows_per_second)
                got = np.stack(pq.read_table(dst).column(graph.output_names[0])
                               .to_numpy(zero_copy_only=False))
                if not np.allclose(got, ref, rtol=1e-3, atol=1e-4):
                    raise SystemExit(f"tfrt-ray on {devices} device(s) differs from ORT")
            finally:
                tr.shutdown()
            rows.append({"runtime": f"tfrt-ray batch, {devices} device actor(s)",
                         "devices": devices, "min_rows_s": min(samples),
                         "median_rows_s": float(np.median(samples))})
    base = rows[0]["median_rows_s"]
    print(f"\n{args.rows} rows, batch {batch}, {repeat} repeats")
    print(f"{'runtime':<40} {'min rows/s':>12} {'median rows/s':>14} {'median / ORT':>12}")
    for r in rows:
        r["ratio_vs_ort_median"] = r["median_rows_s"] / base
        print(f"{r['runtime']:<40} {r['min_rows_s']:>12,.0f} {r['median_rows_s']:>14,.0f} "
              f"{r['ratio_vs_ort_median']:>12.2f}")
    save("batch_inference", rows)


if __name__ == "__main__":
    main()
