#!/usr/bin/env python3
"""perf_analyzer and wrk against the same /v2 inference, side by side.

    python scripts/bench_inference_clients.py --salient .build/release/salient [--seconds 4]

Starts `salient serve` on 127.0.0.1, uploads SqueezeNet 1.0 from shared/data/onnx-light with the
closed-form weights of its README, then at each concurrency runs Triton's perf_analyzer (PyPI
perf-analyzer, through scripts/perf_analyzer.sh) over HTTP, and wrk POSTing the request
perf_analyzer sends (one [1, 3, 224, 224] FP32 input as binary tensor data, every output asked as
binary), one after the other. perf_analyzer measures in windows of --seconds until three agree within
--stability percent (at most six windows) and must finish without an error; wrk then runs half
as long as perf_analyzer took (at least --seconds). The table, perf_analyzer's server-side split (from the statistics extension) and
the raw outputs go to stdout and to --output.
"""

import argparse
import csv
import datetime
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "attacks"))
sys.path.insert(0, str(REPO / "Tests" / "clients"))
from closed_form import materialize  # noqa: E402
from test_inference_clients import MODEL, shared, upload  # noqa: E402
from test_network import Server  # noqa: E402

PERF_ANALYZER = REPO / "scripts" / "perf_analyzer.sh"

WRK_SCRIPT = """
local f = io.open("{body}", "rb")
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = "{header_length}"
"""


def perf_analyzer(port, concurrency, seconds, stability, work):
    """Inferences/s and latencies (µs) at one concurrency, from perf_analyzer's CSV, or None when its
    windows never agreed (a busy machine, not a protocol error)."""
    report = work / f"perf-{concurrency}.csv"
    command = [str(PERF_ANALYZER), "-m", MODEL, "-u", f"127.0.0.1:{port}", "-i", "http", "-b", "1",
               "--concurrency-range", f"{concurrency}:{concurrency}", "--measurement-interval", str(seconds * 1000),
               "--max-trials", "6", "--stability-percentage", str(stability), "-f", str(report)]
    started = time.time()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds * 12 + 120)
    elapsed = time.time() - started
    if finished.returncode != 0 and "Failed to obtain stable measurement" in finished.stdout + finished.stderr:
        return None, finished.stdout, elapsed
    if finished.returncode != 0 or "error" in finished.stdout.lower() or not report.exists():
        raise RuntimeError(f"perf_analyzer failed ({finished.returncode}):\n{finished.stdout[-2000:]}\n{finished.stderr[-2000:]}")
    row = next(csv.DictReader(io.StringIO(report.read_text())))
    return row, finished.stdout, elapsed


def wrk(port, concurrency, seconds, script):
    command = ["wrk", f"-t{min(2, concurrency)}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s", "--latency",
               "-s", str(script), f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout

    def latency(percent):
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(r"Socket errors: (.*)", output)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), "p50": latency(50), "p90": latency(90),
            "p99": latency(99), "errors": int(errors.group(1)) if errors else 0, "socket": socket.group(1) if socket else ""}, output


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--salient", default=str(REPO / ".build" / "release" / "salient"))
    parser.add_argument("--seconds", type=int, default=4, help="perf_analyzer's measurement window")
    parser.add_argument("--concurrency", default="1,2,4,8")
    parser.add_argument("--stability", type=int, default=15,
                        help="perf_analyzer's --stability-percentage: how far three windows may differ")
    parser.add_argument("--output", default=str(REPO / "bench" / "results" /
                                             f"{datetime.date.today()}-swift-packages-b-inference-clients.txt"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="salient-clients-bench-"))
    model, _ = materialize(str(shared("onnx-light", "light_squeezenet.onnx")))
    onnx_path = work / "squeezenet.onnx"
    onnx.save(model, str(onnx_path))
    subprocess.run([str(PERF_ANALYZER), "--version"], capture_output=True, timeout=600)  # installs it once

    server = Server(args.salient).wait_listening()
    lines, raw = [], []
    try:
        upload(server.port, onnx_path)
        metadata = json.loads(subprocess.run(["curl", "-s", f"http://127.0.0.1:{server.port}/v2/models/{MODEL}"],
                                             capture_output=True, text=True).stdout)
        name = metadata["inputs"][0]["name"]
        x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
        header = json.dumps({"inputs": [{"name": name, "shape": [1, 3, 224, 224], "datatype": "FP32",
                                         "parameters": {"binary_data_size": x.nbytes}}],
                             "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}).encode()
        body = work / "request.bin"
        body.write_bytes(header + x.tobytes())
        script = work / "infer.lua"
        script.write_text(WRK_SCRIPT.format(body=body, header_length=len(header)))

        uptime = Path("/proc/loadavg").read_text().split()[:3]
        version = subprocess.run([str(PERF_ANALYZER), "--version"], capture_output=True, text=True)
        lines += [f"perf_analyzer 2.60.0 from PyPI ({(version.stdout + version.stderr).strip()})"
                  f" and wrk against salient serve on 127.0.0.1: POST /v2/models/{MODEL}/infer, SqueezeNet 1.0 (closed-form "
                  f"weights), one [1, 3, 224, 224] FP32 input as binary tensor data, logits back as binary; default settings "
                  f"(max_batch_size 8, 2 inference threads); perf_analyzer's windows {args.seconds} s, three within "
                  f"{args.stability}%; load average before: {' '.join(uptime)}",
                  "",
                  "concurrency | perf_analyzer infer/s | p50 ms | p90 ms | p99 ms | server queue / input / infer / output µs "
                  "| wrk requests/s | p50 ms | p90 ms | p99 ms | wrk non-2xx",
                  "--- | --- | --- | --- | --- | --- | --- | --- | --- | --- | ---"]
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            # Windows that never agree are measured once more in windows twice as long.
            for seconds in (args.seconds, 2 * args.seconds):
                row, output, elapsed = perf_analyzer(server.port, concurrency, seconds, args.stability, work)
                raw.append(f"== perf_analyzer, concurrency {concurrency}, windows of {seconds} s ==\n{output}")
                if row is not None:
                    break
            measured, wrk_output = wrk(server.port, concurrency, max(args.seconds, int(round(elapsed / 2))), script)
            raw.append(f"== wrk, {concurrency} connections ==\n{wrk_output}")
            us = lambda key: float(row[key])
            measured_by_perf = (f"{us('Inferences/Second'):.1f} | {us('p50 latency') / 1000:.2f} | "
                                f"{us('p90 latency') / 1000:.2f} | {us('p99 latency') / 1000:.2f} | "
                                f"{us('Server Queue'):.0f} / {us('Server Compute Input'):.0f} / "
                                f"{us('Server Compute Infer'):.0f} / {us('Server Compute Output'):.0f}") if row else \
                f"no three windows within {args.stability}% (windows of {args.seconds} s, then {2 * args.seconds} s) | | | | "
            lines.append(f"{concurrency} | {measured_by_perf} | {measured['rps']:.1f} | {measured['p50']:.2f} | "
                         f"{measured['p90']:.2f} | {measured['p99']:.2f} | {measured['errors']}"
                         + (f" (socket errors: {measured['socket']})" if measured["socket"] else ""))
            print(lines[-1], flush=True)
            if measured["errors"]:
                raise RuntimeError(f"wrk saw {measured['errors']} non-2xx answers")
        lines += ["", f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"]
    finally:
        server.stop()
    text = "\n".join(lines) + "\n\n" + "\n".join(raw)
    Path(args.output).write_text(text)
    print("\n".join(lines))
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
