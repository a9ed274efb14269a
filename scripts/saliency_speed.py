"""Saliency methods, ours beside Captum's, timed in turn in one run.

usage: saliency_speed.py [--salient BIN] [--models a,b] [--threads 1,2] [--methods m,n] [--steps N]
                         [--batch B] [--rounds R] [--runs K]

Run with the `.venv-torch` environment. Each torchvision model (weights=None, seed 0: latency
does not depend on the weights) is exported to .build/bench-models/NAME-dynamic.onnx (opset 17,
free batch axis) and explained on x[i] = sin(0.01 i) over [1, 3, 224, 224] for class 1, as
`salient bench --saliency` does. Both sides run the same steps (integrated-gradients points,
SmoothGrad samples) BATCH at a time: Captum's IntegratedGradients(model).attribute(x, target,
n_steps=N, internal_batch_size=B) (Gauss-Legendre, zero baseline) and
NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=N,
nt_samples_batch_size=B, stdevs=0.15 * range), ours `salient bench --onnx --saliency --method
... --steps N --saliency-batch B --json`. The one-pass methods (--methods gradient,
guided_backprop,gradcam) are Saliency(model) with abs=True, GuidedBackprop(model) and
LayerGradCam on the last Conv2d with ReLU, upsampled by LayerAttribution.interpolate
(bilinear), beside ours on the graph's last convolution. Each round runs our side (a process of its own: a
warm-up call, then K timed) and Captum's (in this process, the same) one after the other, the
order alternating between rounds, so that a machine whose load changes slows both alike; the
ratio is taken per round. Prints a Markdown table (medians over rounds) and the raw rounds as
JSON lines on standard error.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torchvision

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTS = os.path.join(REPOSITORY, ".build", "bench-models")
CLASS = 1
SIGMA = 0.15


def model(name):
    torch.manual_seed(0)
    net = torchvision.models.get_model(name, weights=None).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def saliency_input():
    count = 3 * 224 * 224
    return torch.from_numpy(np.sin(0.01 * np.arange(count, dtype=np.float64)).astype(np.float32).reshape(1, 3, 224, 224))


def exported(name, net):
    os.makedirs(EXPORTS, exist_ok=True)
    path = os.path.join(EXPORTS, f"{name}-dynamic.onnx")
    if not os.path.exists(path):
        torch.onnx.export(net, saliency_input(), path + ".part", opset_version=17, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        os.replace(path + ".part", path)
    return path


def last_convolution(net):
    """Grad-CAM's default layer on both sides: the last convolution (ours: the graph's last Conv)."""
    return [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)][-1]


def captum_call(net, method, steps, batch):
    from captum.attr import (GuidedBackprop, IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel,
                             Saliency)
    x = saliency_input()
    if method == "integrated_gradients":
        explainer = IntegratedGradients(net)
        return lambda: explainer.attribute(x, target=CLASS, n_steps=steps, internal_batch_size=batch)
    if method == "smoothgrad":
        explainer = NoiseTunnel(Saliency(net))
        stdevs = SIGMA * float(x.max() - x.min())
        return lambda: explainer.attribute(x, nt_type="smoothgrad", nt_samples=steps, nt_samples_batch_size=batch,
                                           stdevs=stdevs, target=CLASS)
    if method == "gradient":
        explainer = Saliency(net)
        return lambda: explainer.attribute(x, target=CLASS, abs=True)
    if method == "guided_backprop":
        explainer = GuidedBackprop(net)
        return lambda: explainer.attribute(x, target=CLASS)
    if method == "gradcam":
        explainer = LayerGradCam(net, last_convolution(net))
        return lambda: LayerAttribution.interpolate(explainer.attribute(x, target=CLASS, relu_attributions=True),
                                                    x.shape[2:], interpolate_mode="bilinear")
    raise ValueError(f"unknown method {method}")


def time_captum(call, threads, runs):
    torch.set_num_threads(threads)
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


MULTI_PASS = {"integrated_gradients", "smoothgrad"}


def time_ours(salient, path, method, threads, steps, batch, runs):
    counts = ["--steps", str(steps), "--saliency-batch", str(batch)] if method in MULTI_PASS else []
    output = subprocess.run([salient, "bench", "--onnx", path, "--saliency", "--method", method, "--threads", str(threads),
                             *counts, "--runs", str(runs), "--json"],
                            check=True, capture_output=True, text=True, cwd=REPOSITORY).stdout
    return json.loads(output.strip().splitlines()[-1])["median_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--salient", default=os.path.join(REPOSITORY, ".build", "release", "salient"))
    parser.add_argument("--models", default="resnet50,mobilenet_v2,efficientnet_b0")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--methods", default="integrated_gradients,smoothgrad",
                        help="any of integrated_gradients, smoothgrad, gradient, guided_backprop, gradcam")
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    print(f"steps {args.steps}, batch {args.batch}, {args.rounds} rounds of {args.runs} timed run(s) a side; "
          f"torch {torch.__version__}", flush=True)
    print("| model | method | threads | ours ms | Captum ms | ours / Captum (median of rounds) | per round |")
    print("|---|---|---|---|---|---|---|", flush=True)
    for name in args.models.split(","):
        net = model(name)
        path = exported(name, net)
        for method in args.methods.split(","):
            call = captum_call(net, method, args.steps, args.batch)
            for threads in map(int, args.threads.split(",")):
                ours, theirs = [], []
                for r in range(args.rounds):
                    sides = [("ours", lambda: time_ours(args.salient, path, method, threads, args.steps, args.batch, args.runs)),
                             ("captum", lambda: time_captum(call, threads, args.runs))]
                    for side, run in (sides if r % 2 == 0 else sides[::-1]):
                        (ours if side == "ours" else theirs).append(run())
                    print(json.dumps({"model": name, "method": method, "threads": threads, "round": r,
                                      "ours_ms": ours[-1], "captum_ms": theirs[-1], "load": os.getloadavg()[0]}),
                          file=sys.stderr, flush=True)
                ratios = [o / t for o, t in zip(ours, theirs)]
                print(f"| {name} | {method} | {threads} | {statistics.median(ours):.0f} | {statistics.median(theirs):.0f} | "
                      f"{statistics.median(ratios):.2f}x | {', '.join(f'{q:.2f}' for q in ratios)} |", flush=True)
    print(f"load average at end: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
