"""Every CNN of the torchvision suite at batch 1: ours beside onnxruntime (inference) and beside
PyTorch + Captum (gradient saliency of class 1), at one thread and at two, in one run.

usage: bench_torchvision.py [--zoo DIR] [--out FILE.jsonl] [--only NAME,...] [--runs N]
                            [--parts inference,saliency] [--redo] [--lock FILE] [--table]

Run with the `.venv-torch` environment (`make bench-torchvision`). The models are the ONNX
exports of scripts/torchvision_zoo.py (`make zoo-models`) in DIR/NAME/model.onnx; PyTorch's
side builds the same model the same way (seed, statistics, native size). Per model, each side
is timed in turn, ours first: inference at one thread (ours, onnxruntime), at two (ours,
onnxruntime), then saliency at one and two (ours, then Captum); models go smallest file first, so
that a run cut short has covered the most. Each figure is the median of
--runs timed calls after two seconds of warm-up. At one thread every side times its calling
thread's CPU clock (onnxruntime's one-thread session and PyTorch's one-thread forward and
backward run on the caller), which leaves out the time the thread waited for a core on a busy
machine; at two threads the wall clock. Each row of --out (JSON lines, appended, so that an
interrupted run resumes and outliers can be rerun with --only ... --redo) records the
one-minute load average beside the figures; --table prints the Markdown table of the file,
the last row of each model and part winning. With --lock, each model's rows are timed holding
an exclusive flock on FILE, so that benchmarks sharing a machine take turns model by model.

With --session-nice N, every timed command runs in a session of its own whose autogroup has
nice N (`/proc/self/autogroup`; below 0 needs root). Linux schedules by autogroup when
/proc/sys/kernel/sched_autogroup_enabled is 1: each session gets an equal share of the CPUs
whatever the nice values inside it, so one busy process of another session (SwiftPM runs its
compilers and test binaries at nice 0 even under `nice -n 19 swift build`) left a two-thread
benchmark about one core, for onnxruntime and for ours (docs/DECISIONS.md, session 5).
"""
import argparse
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPOSITORY, "scripts")
TIMEOUT = 3600  # seconds for one side of one row: the largest models' saliency at one thread


SESSION_NICE = None  # --session-nice


def own_session():
    """In the child, after setsid: the new session's autogroup at nice SESSION_NICE."""
    with open("/proc/self/autogroup", "w") as f:
        f.write(str(SESSION_NICE))


def run_json(command):
    """The last line of `command`'s output as JSON, or {"error": ...}."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, cwd=REPOSITORY,
                              start_new_session=SESSION_NICE is not None,
                              preexec_fn=own_session if SESSION_NICE is not None else None)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT} s"}
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}


@contextlib.contextmanager
def locked(path):
    if path is None:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def load():
    return os.getloadavg()[0]


def inference(args, name, path, runs):
    rows = []
    for threads in (1, 2):
        cpu = ["--cpu-time"] if threads == 1 else []
        ours = run_json([args.salient, "bench", "--onnx", path, "--threads", str(threads), "--runs", str(runs), "--json"] + cpu)
        reference = run_json([args.python, os.path.join(SCRIPTS, "onnxruntime_bench.py"), path, str(threads), str(runs)]
                             + (["cpu"] if cpu else []))
        reference.pop("output", None)
        rows.append({"model": name, "part": "inference", "threads": threads, "clock": "cpu" if cpu else "wall",
                     "ours": ours, "reference": reference, "reference_name": "onnxruntime", "load": load(),
                     "session_nice": SESSION_NICE})
    return rows


def saliency(args, name, path, runs):
    ours = {}
    for threads in (1, 2):
        cpu = ["--cpu-time"] if threads == 1 else []
        ours[threads] = run_json([args.salient, "bench", "--onnx", path, "--saliency", "--threads", str(threads),
                                  "--runs", str(runs), "--json"] + cpu)
    started = load()
    references = {threads: run_json([sys.executable, os.path.join(SCRIPTS, "torch_bench.py"), "saliency-zoo", name,
                                     str(threads), str(runs)] + (["cpu"] if threads == 1 else [])) for threads in (1, 2)}
    return [{"model": name, "part": "saliency", "threads": threads, "clock": "cpu" if threads == 1 else "wall",
             "ours": ours[threads], "reference": references[threads], "reference_name": "PyTorch+Captum",
             "load": max(started, load()), "session_nice": SESSION_NICE} for threads in (1, 2)]


def size(path):
    return sum(os.path.getsize(p) for p in (path, path + ".data") if os.path.exists(p))


def ratio(row):
    ours, reference = row["ours"].get("median_ms"), row["reference"].get("median_ms")
    return ours / reference if ours and reference else None


def latest(path):
    rows = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                rows[(row["model"], row["part"], row["threads"])] = row
    return rows


def table(path):
    rows = latest(path)
    models = sorted({m for m, _, _ in rows})
    print("| model | ours 1t ms | ort 1t ms | ratio 1t | ours 2t ms | ort 2t ms | ratio 2t "
          "| saliency ours 1t | Captum 1t | ratio | saliency ours 2t | Captum 2t | ratio | load |")
    print("|---" * 14 + "|")

    def cells(model, part, threads):
        row = rows.get((model, part, threads))
        if row is None:
            return ["", "", ""]
        r = ratio(row)
        return [f"{row['ours'].get('median_ms', 0):.1f}" if "median_ms" in row["ours"] else row["ours"].get("error", "?")[:40],
                f"{row['reference'].get('median_ms', 0):.1f}" if "median_ms" in row["reference"] else row["reference"].get("error", "?")[:40],
                f"{r:.2f}x" if r else ""]

    summary = {"inference 1t <= 1.2x": 0, "inference 2t <= 1.3x": 0, "saliency 1t < 1x": 0, "saliency 2t < 1x": 0}
    counts = dict.fromkeys(summary, 0)
    for model in models:
        line = [model]
        for part, threads in (("inference", 1), ("inference", 2), ("saliency", 1), ("saliency", 2)):
            line += cells(model, part, threads)
        loads = [rows[k]["load"] for k in rows if k[0] == model]
        line.append(f"{min(loads):.1f}-{max(loads):.1f}")
        print("| " + " | ".join(line) + " |")
        for key, part, threads, limit in (("inference 1t <= 1.2x", "inference", 1, 1.2), ("inference 2t <= 1.3x", "inference", 2, 1.3),
                                          ("saliency 1t < 1x", "saliency", 1, 1.0), ("saliency 2t < 1x", "saliency", 2, 1.0)):
            row = rows.get((model, part, threads))
            r = row and ratio(row)
            if r:
                counts[key] += 1
                summary[key] += r <= limit if limit != 1.0 else r < limit
    print()
    for key in summary:
        print(f"- {key}: {summary[key]} of {counts[key]} models")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zoo", default=os.path.join(REPOSITORY, ".build", "torchvision-zoo"))
    parser.add_argument("--out", default=os.path.join(REPOSITORY, ".build", "bench-torchvision.jsonl"))
    parser.add_argument("--salient", default=os.path.join(REPOSITORY, ".build", "release", "salient"))
    parser.add_argument("--python", default=os.path.join(REPOSITORY, ".venv", "bin", "python"),
                        help="Python with onnxruntime, as salient bench uses")
    parser.add_argument("--only", help="comma-separated model names")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parts", default="inference,saliency")
    parser.add_argument("--redo", action="store_true", help="time models that --out already holds again")
    parser.add_argument("--lock", help="a file to hold an exclusive flock on while a model is timed")
    parser.add_argument("--table", action="store_true", help="print the Markdown table of --out and stop")
    parser.add_argument("--session-nice", type=int,
                        help="time each command in a session of its own at this autogroup nice (-20..19)")
    args = parser.parse_args()
    global SESSION_NICE
    SESSION_NICE = args.session_nice
    if args.table:
        table(args.out)
        return
    sys.path.insert(0, SCRIPTS)
    import torchvision_zoo
    names = [n for n in torchvision_zoo.catalogue() if not torchvision_zoo.excluded_reason(n)]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    done = latest(args.out)
    paths = {name: os.path.join(args.zoo, name, "model.onnx") for name in names}
    for name in [n for n in names if not os.path.exists(paths[n])]:
        print(f"{name:24} missing {paths[name]} (make zoo-models)", flush=True)
    # Smallest first, so that a run cut short has covered the most models.
    for name in sorted((n for n in names if os.path.exists(paths[n])), key=lambda n: size(paths[n])):
        path = paths[name]
        for part in args.parts.split(","):
            if not args.redo and (name, part, 1) in done and (name, part, 2) in done:
                continue
            started = time.time()
            with locked(args.lock):
                rows = {"inference": inference, "saliency": saliency}[part](args, name, path, args.runs)
            with open(args.out, "a") as f:
                for row in rows:
                    f.write(json.dumps(row) + "\n")
            print(f"{name:24} {part:9} " + "  ".join(
                f"{row['threads']}t {row['ours'].get('median_ms', float('nan')):9.1f} / {row['reference'].get('median_ms', float('nan')):9.1f}"
                f" = {ratio(row) or float('nan'):.2f}x" for row in rows) + f"  load {rows[-1]['load']:.1f}  ({time.time() - started:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
