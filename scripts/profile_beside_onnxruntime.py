"""Per-node profile of one ONNX model at one thread, ours beside onnxruntime's own, grouped by layer shape.

usage: profile_beside_onnxruntime.py model.onnx [--salient BIN ...] [--runs N] [--rounds N] [--session-nice N]
                                     [--threads N] [--nodes]

Ours: `salient bench --onnx M --profile --json --threads N` (each node's median wall time over --runs).
onnxruntime: SessionOptions.enable_profiling with N intra-op threads, each node's median kernel time over the
same runs after as many warm-up runs.

Nodes are paired by the tensors they write, not by position: both engines fuse chains (a convolution with its
activation, its residual Add, a squeeze-excitation block) and name the fused node after a tensor of the chain, so
every onnxruntime node is followed forward through the ONNX graph, past the operators a fusion absorbs (its only
reader an activation, Add, Mul or BatchNormalization), until a tensor one of our nodes writes. Its time then counts
for that node of ours; onnxruntime nodes that reach none (its layout reorders) are listed by operator.
Categories are our shape descriptions with the input width instead of channel counts ("3x3/2 g cg48 @28",
"1x1 K>160 @7", "squeeze-excitation"), and every row says ours / onnxruntime.

When more than one --salient binary is given, they alternate with onnxruntime round by round, so that a
before/after comparison shares one run (and its load); each node's best over the rounds counts.
Must run under the repository's .venv Python (onnxruntime, onnx, numpy).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SESSION_NICE = None
FUSED_INTO_PRODUCER = {"Relu", "Add", "Sum", "Mul", "Sigmoid", "HardSigmoid", "HardSwish", "Clip",
                       "BatchNormalization", "LeakyRelu"}


def own_session():
    with open("/proc/self/autogroup", "w") as f:
        f.write(str(SESSION_NICE))


def run(command):
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPOSITORY,
                          start_new_session=SESSION_NICE is not None,
                          preexec_fn=own_session if SESSION_NICE is not None else None)
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def onnxruntime_profile(path, runs, threads):
    """[(node name, op, median ms)] in execution order (the child process's own session)."""
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = f"/tmp/onnxruntime-profile-{os.getpid()}"
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in first.shape]
    x = np.sin(0.01 * np.arange(int(np.prod(shape)), dtype=np.float64)).astype(np.float32).reshape(shape)
    for _ in range(2 * runs):
        session.run(None, {first.name: x})
    profile = session.end_profiling()
    with open(profile) as f:
        events = [e for e in json.load(f) if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    os.remove(profile)
    order, times = [], {}
    for event in events:
        name = event["name"][:-len("_kernel_time")]
        if name not in times:
            order.append((name, event["args"].get("op_name", "?")))
            times[name] = []
        times[name].append(event["dur"] / 1000)
    return [(name, op, statistics.median(times[name][-runs:])) for name, op in order]


def ours_profile(binary, path, runs, threads):
    out = run([binary, "bench", "--onnx", path, "--profile", "--json", "--threads", str(threads), "--runs", str(runs)])
    return json.loads(out.strip().splitlines()[-1])


class Chains:
    """The ONNX graph's tensors followed forward past the operators that fusions absorb."""

    def __init__(self, path):
        import onnx
        model = onnx.load(path, load_external_data=False)
        self.output_of = {}
        self.readers = {}
        self.op_of = {}
        for node in model.graph.node:
            if node.output:
                self.output_of[node.name] = node.output[0]
                self.op_of[node.output[0]] = node.op_type
            for name in node.input:
                self.readers.setdefault(name, []).append(node)

    def tensors(self, onnxruntime_name):
        """The tensors an onnxruntime node's result reaches through absorbed operators, nearest first."""
        tensor = onnxruntime_name
        for suffix in ("_nchwc", "_token_0"):
            if tensor.endswith(suffix):
                tensor = tensor[:-len(suffix)]
        tensor = self.output_of.get(tensor, tensor)
        chain = [tensor]
        while True:
            readers = self.readers.get(chain[-1], [])
            if len(readers) != 1 or readers[0].op_type not in FUSED_INTO_PRODUCER or not readers[0].output:
                return chain
            chain.append(readers[0].output[0])


def category(node):
    """'conv 1x1 432>72@14 relu' -> '1x1 K>160 @14', 'conv 3x3/2 g9 432>432@28' -> '3x3/2 g cg48 @28'."""
    shape = node["shape"]
    if node["kind"] != "conv2d" or not shape.startswith("conv "):
        return node["kind"]
    parts = shape.split()
    kernel, rest, group = parts[1], parts[2:], None
    if rest and (rest[0] == "dw" or rest[0].startswith("g")):
        group, rest = rest[0], rest[1:]
    channels, width = rest[0].split("@")
    inChannels, _ = (int(c) for c in channels.split(">"))
    if group == "dw":
        return f"{kernel} dw @{width}"
    if group:
        return f"{kernel} g cg{inChannels // int(group[1:])} @{width}"
    if kernel.startswith("1x1"):
        bucket = "K<=48" if inChannels <= 48 else "K<=160" if inChannels <= 160 else "K>160"
        return f"{kernel} {bucket} @{width}"
    return f"{kernel} @{width}"


def main():
    global SESSION_NICE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--salient", action="append", help="salient binaries (default .build/release/salient)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--session-nice", type=int)
    parser.add_argument("--onnxruntime-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nodes", action="store_true", help="print every paired node, not only the categories")
    parser.add_argument("--json", help="write the raw profiles of every round to this file")
    args = parser.parse_args()
    if args.onnxruntime_only:
        print(json.dumps(onnxruntime_profile(args.model, args.runs, args.threads)))
        return
    SESSION_NICE = args.session_nice
    binaries = args.salient or [".build/release/salient"]
    ours = {b: [] for b in binaries}
    theirs = []
    for _ in range(args.rounds):
        for binary in binaries:
            ours[binary].append(ours_profile(binary, args.model, args.runs, args.threads))
            theirs.append(json.loads(run([sys.executable, os.path.abspath(__file__), args.model, "--runs",
                                          str(args.runs), "--threads", str(args.threads),
                                          "--onnxruntime-only"]).strip().splitlines()[-1]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ours": ours, "onnxruntime": theirs}, f)
    chains = Chains(args.model)
    reference = {}
    for name, op, _ in theirs[0]:
        reference[name] = (op, min(dict((n, ms) for n, _, ms in t).get(name, float("inf")) for t in theirs))
    print(f"== {os.path.basename(os.path.dirname(args.model)) or args.model}, {args.threads} thread(s), "
          f"load {os.getloadavg()[0]:.1f}")
    for binary in binaries:
        rounds = ours[binary]
        nodes = [dict(n, ms=min(r[i]["ms"] for r in rounds)) for i, n in enumerate(rounds[0])]
        by_name = {n["node"]: n for n in nodes}
        theirs_of = {n["node"]: 0.0 for n in nodes}
        unpaired = {}
        for name, (op, ms) in reference.items():
            target = next((t for t in chains.tensors(name) if t in by_name), None)
            if target is None:
                unpaired[op] = unpaired.get(op, 0) + ms
            else:
                theirs_of[target] += ms
        total_ours = sum(n["ms"] for n in nodes)
        total_theirs = sum(ms for _, ms in reference.values())
        print(f"-- {binary}: ours {total_ours:.3f} ms, onnxruntime {total_theirs:.3f} ms "
              f"({total_ours / total_theirs:.2f}x)")
        categories = {}
        for n in nodes:
            c = categories.setdefault(category(n), [0, 0.0, 0.0, 0.0])
            c[0] += 1
            c[1] += n["ms"]
            c[2] += theirs_of[n["node"]]
            c[3] += n.get("flops", 0)
        print(f"  {'category':26} {'n':>3} {'ours':>8} {'ort':>8} {'diff':>8} ratio  GFLOP/s ours")
        for name, (count, mine, other, flops) in sorted(categories.items(), key=lambda kv: kv[1][2] - kv[1][1]):
            ratio = f"{mine / other:5.2f}x" if other else "   - "
            rate = f"{flops / mine / 1e6:7.1f}" if mine and flops else ""
            print(f"  {name:26} {count:3d} {mine:8.3f} {other:8.3f} {mine - other:8.3f} {ratio} {rate}")
        if unpaired:
            print("  onnxruntime unpaired:", {k: round(v, 3) for k, v in sorted(unpaired.items())})
        if args.nodes:
            for n in nodes:
                other = theirs_of[n["node"]]
                ratio = f"{n['ms'] / other:5.2f}x" if other else "   - "
                print(f"    {n['node'][-34:]:34} {n['shape']:34} {n['ms']:7.3f} {other:7.3f} {ratio}")


if __name__ == "__main__":
    main()
