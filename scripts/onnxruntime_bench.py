"""Times onnxruntime on one ONNX model at batch 1, for `salient bench` to print beside ours.

usage: onnxruntime_bench.py model.onnx threads runs [cpu]
With `cpu`, the calling thread's CPU time is timed instead of the wall clock (a session with one
intra-op thread runs on its caller), as `salient bench --cpu-time` does on a busy machine.
The input is x[i] = sin(0.01 * i) over the model's first input shape (batch 1).
Prints {"median_ms", "min_ms", "runs", "output"} as JSON, the output being the first output's
values, so that the bench can check that both sides computed the same function.
"""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime

from bench_timing import warm_up


def main(path, threads, runs, clock=time.perf_counter):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in first.shape]
    x = np.sin(0.01 * np.arange(int(np.prod(shape)), dtype=np.float64)).astype(np.float32).reshape(shape)
    output = session.run(None, {first.name: x})[0]
    warm_up(lambda: session.run(None, {first.name: x}))
    times = []
    for _ in range(runs):
        start = clock()
        session.run(None, {first.name: x})
        times.append((clock() - start) * 1000)
    print(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times), "runs": runs,
                      "output": np.asarray(output, dtype=np.float64).ravel().tolist()}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
         time.thread_time if sys.argv[4:] == ["cpu"] else time.perf_counter)
