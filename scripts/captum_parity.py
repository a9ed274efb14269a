"""Captum's attributions on a few torchvision architectures, for the parity suite
(`make test-parity`: Tests/CNNTests/CaptumParityTests.swift compares ours with them).

usage: captum_parity.py [--out DIR] [--only NAME,...]

Run with the `.venv-torch` environment (`make bench-venv`). Each model is built as
scripts/torchvision_zoo.py builds it (weights=None, a seed of its own, BatchNorm statistics
measured on four images then randomized), exported to ONNX at opset 17, and explained on
../shared/data/images/chelsea.png through torchvision's evaluation transform, for PyTorch's top
class. Into DIR/NAME/ (default .build/captum-parity):

  model.onnx, input.pb     the export and the normalized input [1, 3, 224, 224]
  gradient.pb              Saliency(model).attribute(x, target, abs=False), [3, H, W]
  *_float64.pb             the deterministic methods again with model.double() and x.double(): the
                           references without float32 rounding (a ReLU or max-pool decision
                           within rounding of a tie moves a float32 map by up to 3e-3 of its
                           largest value on ResNet-18, Captum's own float32 map included)
  guided_backprop.pb       GuidedBackprop(model).attribute(x, target) (Captum overrides only
                           nn.ReLU modules: ReLU6 and SiLU networks get plain gradients)
  gradcam.pb               LayerGradCam(model, layer).attribute(x, target, relu_attributions=True)
                           upsampled by LayerAttribution.interpolate(..., "bilinear"), [1, H, W]
  ig_RULE_BASELINE.pb      IntegratedGradients(model).attribute(x, baseline, target, n_steps,
                           method=RULE), [3, H, W]; baselines as Salient makes them: black (the
                           black image normalized), zero, blur (Gaussian blur of x, sigma 5 pixels
                           at 224, edges extended, radius ceil(3 sigma))
  smoothgrad.pb            NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad",
                           nt_samples=50, stdevs=0.15 * (max(x) - min(x)), target): the mean of
                           |gradient| over the noisy copies (Saliency's default abs=True)
  smoothgrad_repeat.pb     the same with other noise (seed 1): how far two 50-sample means agree
  meta.json                top class, Grad-CAM layer, the IG cases and their step counts, versions
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchvision_zoo as zoo  # noqa: E402

DEFAULT_OUT = os.path.join(zoo.REPOSITORY, ".build", "captum-parity")
# Grad-CAM's layer on the Captum side: the module whose output is the output of the last
# convolution of the served graph, where BatchNorm and the activation after it are folded in.
# ResNet's last convolution takes the residual Add and the ReLU after it too: layer4's output.
GRADCAM_LAYERS = {
    "resnet18": "layer4",
    "mobilenet_v2": "features.18",
    "efficientnet_b0": "features.8",
}
# (rule, baseline, steps): every rule on ResNet-18 and EfficientNet-B0, the baselines on all.
IG_CASES = {
    "resnet18": [("gausslegendre", "black", 32), ("riemann_trapezoid", "black", 16), ("riemann_left", "black", 16),
                 ("riemann_right", "black", 16), ("riemann_middle", "black", 16), ("gausslegendre", "zero", 16),
                 ("gausslegendre", "blur", 16)],
    "mobilenet_v2": [("gausslegendre", "black", 16), ("riemann_trapezoid", "zero", 16), ("gausslegendre", "blur", 16)],
    # EfficientNet-B0's SiLUs have no thresholds, so its maps are well-conditioned: every rule
    # is checked to 1e-3 there (the ReLU networks' integrated gradients are not; see the suite).
    "efficientnet_b0": [("gausslegendre", "black", 16), ("riemann_middle", "zero", 16), ("gausslegendre", "blur", 16),
                        ("riemann_trapezoid", "black", 16), ("riemann_left", "black", 16), ("riemann_right", "black", 16)],
}
SMOOTHGRAD_SIGMA = 0.15
SMOOTHGRAD_SAMPLES = 50


def gaussian_blur(x):
    """Salient's GaussianBlur.standard: separable, edges extended, sigma 5 * sqrt(H * W) / 224."""
    import numpy as np
    h, w = x.shape[-2:]
    sigma = 5 * np.sqrt(h * w) / 224
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-np.arange(-radius, radius + 1, dtype=np.float64) ** 2 / (2 * sigma * sigma))
    taps = (taps / taps.sum()).astype(np.float32)
    out = x.astype(np.float32)
    rows = np.clip(np.arange(w)[:, None] + np.arange(-radius, radius + 1)[None, :], 0, w - 1)
    out = (out[..., rows] * taps).sum(-1, dtype=np.float32)
    cols = np.clip(np.arange(h)[:, None] + np.arange(-radius, radius + 1)[None, :], 0, h - 1)
    out = np.moveaxis((np.moveaxis(out, -2, -1)[..., cols] * taps).sum(-1, dtype=np.float32), -1, -2)
    return out


def module(model, path):
    for part in path.split("."):
        model = model[int(part)] if part.isdigit() else getattr(model, part)
    return model


def smoothgrad(model, x, top, seed):
    import torch
    from captum.attr import NoiseTunnel, Saliency
    torch.manual_seed(seed)
    return NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES,
                                                  nt_samples_batch_size=10, target=top,
                                                  stdevs=SMOOTHGRAD_SIGMA * float(x.max() - x.min()))


def explain(name, directory):
    import captum
    import numpy as np
    import torch
    from captum.attr import GuidedBackprop, IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    torch.set_num_threads(2)
    preprocessing = zoo.preprocessing_for(name)
    model = zoo.build(name, zoo.seed_for(name), zoo.calibration_batch(preprocessing))
    for p in model.parameters():
        p.requires_grad_(False)
    x = zoo.prepared_input(preprocessing)
    with torch.no_grad():
        top = int(model(x).argmax())
    torch.onnx.export(model, x, os.path.join(directory, "model.onnx"), opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})

    def save(tensor, file):
        zoo.save_tensor(tensor.detach().float().numpy()[0], os.path.join(directory, file))

    zoo.save_tensor(x.numpy(), os.path.join(directory, "input.pb"))
    mean = torch.tensor(preprocessing["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing["std"]).view(1, 3, 1, 1)
    baselines = {"black": ((0 - mean) / std).expand_as(x).contiguous(), "zero": torch.zeros_like(x),
                 "blur": torch.from_numpy(gaussian_blur(x.numpy()))}

    def deterministic(model, x, baselines, suffix):
        save(Saliency(model).attribute(x.clone().requires_grad_(), target=top, abs=False), f"gradient{suffix}.pb")
        save(GuidedBackprop(model).attribute(x.clone().requires_grad_(), target=top), f"guided_backprop{suffix}.pb")
        cam = LayerGradCam(model, module(model, GRADCAM_LAYERS[name])).attribute(x, target=top, relu_attributions=True)
        save(LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear"), f"gradcam{suffix}.pb")
        ig = IntegratedGradients(model)
        for rule, baseline, steps in IG_CASES[name]:
            attribution = ig.attribute(x, baselines=baselines[baseline], target=top, n_steps=steps, method=rule,
                                       internal_batch_size=8)
            save(attribution, f"ig_{rule}_{baseline}{suffix}.pb")

    deterministic(model, x, baselines, "")
    for seed, file in [(0, "smoothgrad.pb"), (1, "smoothgrad_repeat.pb")]:
        save(smoothgrad(model, x, top, seed), file)
    deterministic(model.double(), x.double(), {k: v.double() for k, v in baselines.items()}, "_float64")
    return {"name": name, "top": top, "gradcam_layer": GRADCAM_LAYERS[name],
            "integrated_gradients": [{"method": r, "baseline": b, "steps": s} for r, b, s in IG_CASES[name]],
            "smoothgrad": {"sigma": SMOOTHGRAD_SIGMA, "samples": SMOOTHGRAD_SAMPLES},
            "mean": preprocessing["mean"], "std": preprocessing["std"],
            "versions": {"torch": torch.__version__, "captum": captum.__version__, "numpy": np.__version__}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--only", help="comma-separated model names (default: all of " + ",".join(GRADCAM_LAYERS) + ")")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(GRADCAM_LAYERS)
    for name in names:
        if name not in GRADCAM_LAYERS:
            sys.exit(f"{name}: the parity suite knows {', '.join(GRADCAM_LAYERS)}")
        directory = os.path.join(args.out, name)
        os.makedirs(directory, exist_ok=True)
        meta = explain(name, directory)
        with open(os.path.join(directory, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"{name}: top class {meta['top']}", flush=True)


if __name__ == "__main__":
    main()
