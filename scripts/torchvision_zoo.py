"""Exports torchvision's classification catalogue to ONNX, with onnxruntime's logits and
Captum's gradient saliency as references, for `make test-zoo` (Tests/ZooTests).

usage: torchvision_zoo.py [--out DIR] [--only NAME,...] [--force] [--list]
       torchvision_zoo.py --undetermined [--only NAME,...]
       torchvision_zoo.py --conditioning [--only NAME,...]

Run with the `.venv-torch` environment (`make bench-venv`: torch, torchvision, captum, onnx,
onnxruntime). Every model `torchvision.models.list_models(module=torchvision.models)` lists is
built with `weights=None` and a fixed seed of its own, its BatchNorm running statistics (and
the affine parameters and layer scales that torchvision initializes to constants) randomized,
and exported with a free batch axis at opset 13 or 17, alternately in list order, into
DIR/NAME/ (default `.build/torchvision-zoo`):

  model.onnx        the export (weights over 2 GB go to model.onnx.data beside it)
  input.pb          ../shared/data/images/chelsea.png through torchvision's own transform
                    (Resize, CenterCrop, ToTensor, Normalize) at the model's native size
  logits.pb         onnxruntime's logits for input.pb, [1, 1000]
  saliency.pb       Captum's Saliency(model).attribute(x, target=top, abs=True), max over
                    channels, [H, W], top being PyTorch's top class
  saliency_float64.pb  the same in double precision (model.double()), the map without
                    float32 rounding
  saliency_gradient_float64.pb  the float64 input gradient itself, [C, H, W], signed
  flips.pb          for each ReLU decision float32 rounding may take either way (its input
                    within 8 float32 errors of its layer from zero), the change of that gradient
                    when it goes the other way, [F, C, H, W]; only when there are 1 to 32
  meta.json         opset, seed, preprocessing, top class, PyTorch against onnxruntime, how far
                    rounding moves Captum's map (float32 against float64, and float64 maps of
                    the model with its weights and input moved by a float32 rounding), and how
                    many ReLU decisions are undetermined in float32

Each BatchNorm right after a convolution is folded into it in the module (torch.fx's `fuse`)
before anything is measured. The exporter folds them anyway, in eval mode, and rounds the
folded weights to float32, so the module would otherwise compute a function a rounding away
from the one the file holds: enough to flip a ReLU or max-pool decision within rounding of a
tie, so that Captum's map (even its float64 one) was the map of another function than the
graph's (docs/TORCHVISION-ZOO.md).

The native size is the crop of the model's DEFAULT weights in torchvision; at 224 the
preprocessing is torchvision's ImageNet evaluation transform (Resize(256), CenterCrop(224),
bilinear), otherwise the DEFAULT weights' own transform (Inception v3: 342 then 299;
EfficientNet v2-S: 384; the larger EfficientNets and RegNet-Y 128GF as torchvision states).

--undetermined adds saliency_gradient_float64.pb, flips.pb and their meta.json fields to
existing exports without exporting again (the module is rebuilt from its seed, and its float64
map must come out as exported).

--conditioning exports nothing: for each model it prints how far float32 rounding alone moves
Captum's map (float32 against float64, Pearson and largest difference), with BatchNorm's
statistics merely random (issue 18's models) and measured then randomized (this suite's), into
DIR/conditioning.json. A map that rounding moves cannot be matched by any float32 engine.

DIR/manifest.json lists every model in order with its status, and the vision transformers
left out with the reason for each. Each model runs in a subprocess of its own, so that memory
is returned between models and one failure does not stop the rest; a model whose meta.json
matches this script's settings is kept unless --force.
"""
import argparse
import json
import os
import subprocess
import sys
import warnings
import time
import zlib

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(REPOSITORY, "..", "shared", "data", "images")
IMAGE = os.path.join(IMAGES, "chelsea.png")
# BatchNorm's statistics are measured on these before they are randomized (see `build`).
CALIBRATION = ["astronaut.png", "coffee.png", "fish.jpg", "camera.png"]
DEFAULT_OUT = os.path.join(REPOSITORY, ".build", "torchvision-zoo")
# Bumped whenever what a model's files hold changes, so cached exports are redone.
FORMAT = 4

# Out of scope: the engine is a CNN engine. Each reason names what the family needs beyond it.
EXCLUDED_PREFIXES = {
    "vit_": "vision transformer: a class token concatenated to the patch sequence and multi-head "
            "self-attention (MatMul of two activations, Softmax over tokens) over a [N, tokens, "
            "dim] sequence, not a convolutional network",
    "swin_": "shifted-window transformer: windowed self-attention with cyclic shifts (Roll), "
             "attention masks and a relative position bias gathered from a table, not a "
             "convolutional network",
    "maxvit_": "MaxViT: block and grid self-attention with relative position bias between "
               "MBConv stages; its attention is the transformer machinery of vit_/swin_",
}
# Beside the catalogue: issue 18's GoogLeNet as it was reported, BatchNorm statistics merely
# random, whose reference is ill-conditioned (see `build`; the suite checks that the export says
# so); and an HRNet-style network that upsamples a low-resolution branch back onto the
# high-resolution one through F.interpolate in each mode, as PyTorch exports them (Upsample at
# opset 9; Resize with asymmetric nearest, half_pixel and align_corners linear, and half_pixel
# cubic from 11; opset 10's Resize is asymmetric where PyTorch's bilinear is not, so PyTorch
# exports it with a warning, and it is left out).
UPSAMPLING_MODES = ["nearest", "bilinear", "bilinear_align_corners", "bicubic"]
EXTRAS = {
    "googlenet_random_statistics": {"architecture": "googlenet", "opset": 13, "calibrated": False},
    "upsampling_opset9": {"architecture": "upsampling", "opset": 9, "modes": ["nearest"]},
    "upsampling_opset11": {"architecture": "upsampling", "opset": 11, "modes": UPSAMPLING_MODES},
    "upsampling_opset13": {"architecture": "upsampling", "opset": 13, "modes": UPSAMPLING_MODES},
    "upsampling_opset17": {"architecture": "upsampling", "opset": 17, "modes": UPSAMPLING_MODES},
}
# ImageNet evaluation preprocessing as torchvision's reference scripts define it.
IMAGENET = {"resize": 256, "crop": 224, "interpolation": "bilinear",
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def excluded_reason(name):
    for prefix, reason in EXCLUDED_PREFIXES.items():
        if name.startswith(prefix):
            return reason
    return None


def seed_for(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def catalogue():
    import torchvision
    return torchvision.models.list_models(module=torchvision.models)


def preprocessing_for(name):
    """The preprocessing at the model's native size (see the module docstring)."""
    import torchvision
    if name == "upsampling":
        return dict(IMAGENET)
    transform = torchvision.models.get_model_weights(name).DEFAULT.transforms()
    crop = transform.crop_size[0]
    if crop == IMAGENET["crop"]:
        return dict(IMAGENET)
    return {"resize": transform.resize_size[0], "crop": crop,
            "interpolation": transform.interpolation.value,
            "mean": list(transform.mean), "std": list(transform.std)}


def upsampling_probe(modes):
    """A high-resolution branch (1/2) and a low-resolution one (1/4), the low one upsampled back
    and added to the high one in each mode, then concatenated, pooled and classified."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class UpsamplingProbe(nn.Module):
        def __init__(self):
            super().__init__()
            self.high = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
            self.low = nn.Sequential(nn.Conv2d(16, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
            self.fuse = nn.Sequential(nn.Conv2d(16 * (1 + len(modes)), 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
            self.fc = nn.Linear(32, 1000)

        def forward(self, x):
            high = self.high(x)
            low = self.low(high)
            branches = [high]
            for mode in modes:
                if mode == "nearest":
                    up = F.interpolate(low, scale_factor=2, mode="nearest")
                elif mode == "bilinear":
                    up = F.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=False)
                elif mode == "bilinear_align_corners":
                    up = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=True)
                else:
                    up = F.interpolate(low, scale_factor=2, mode="bicubic", align_corners=False)
                branches.append(up + high)
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.fuse(torch.cat(branches, 1)), 1), 1))

    return UpsamplingProbe()


def build(name, seed, calibration=None, modes=None):
    """The model in eval mode with weights=None and its normalization randomized.

    BatchNorm's running statistics are first measured on `calibration` (a batch of images),
    then each channel's mean is moved by a tenth of its deviation at random and its variance
    scaled by 0.8 to 1.25: every layer's output is then normalized about as in a trained
    network. Random statistics alone (mean 0.2 off, say) leave GoogLeNet's small initial weights
    (std 0.01) outweighed by the BatchNorm shifts at every layer, so that the part of each
    activation that depends on the image shrinks geometrically with depth, to a few units in the
    last place by inception5a, where its max-pool windows tie up to rounding: the gradient's
    route through them is then chosen by rounding, and PyTorch's own saliency map at one thread
    and at two correlates at 0.81 (issue 18). The affine parameters and ConvNeXt's layer scale,
    which torchvision starts at 1, 0 and 1e-6, are randomized too, so that folding them is
    visible in the logits."""
    import torch
    import torchvision
    from torch import nn

    torch.manual_seed(seed)
    kwargs = {}
    if name in ("googlenet", "inception_v3"):
        kwargs = {"aux_logits": False, "init_weights": True}
    if name == "upsampling":
        model = upsampling_probe(modes).eval()
    else:
        model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    generator = torch.Generator().manual_seed(seed + 1)

    def uniform(tensor, low, high):
        tensor.copy_(low + (high - low) * torch.rand(tensor.shape, generator=generator))

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        if calibration is not None and norms:
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the calibration batch
                m.train()
            model(calibration)
            for m in norms:
                m.eval()
        for m in norms:
            if calibration is not None:
                deviation = m.running_var.sqrt()
                m.running_mean.add_(0.1 * deviation * (2 * torch.rand(deviation.shape, generator=generator) - 1))
                m.running_var.mul_(0.8 + 0.45 * torch.rand(deviation.shape, generator=generator))
            else:
                uniform(m.running_mean, -0.2, 0.2)
                uniform(m.running_var, 0.5, 1.5)
        for module in model.modules():
            if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)) \
                    and module.weight is not None:
                uniform(module.weight, 0.8, 1.2)
                uniform(module.bias, -0.1, 0.1)
            scale = getattr(module, "layer_scale", None)
            if isinstance(scale, nn.Parameter):
                uniform(scale, 0.1, 0.3)
    return model


def folded(model):
    """The model with each BatchNorm that follows a convolution folded into it, as the exporter
    would fold it (see the module docstring), so that the ONNX file holds exactly these weights;
    the model itself where torch.fx cannot trace it."""
    from torch.fx.experimental.optimization import fuse
    try:
        return fuse(model), True
    except Exception:  # an untraceable forward: exported as it is, and meta.json says so
        return model, False


PERTURBATIONS = 3


def perturbed_maps(model, x, saliency_map):
    """Float64 maps of `model` (float32 weights, made double) with each weight and input value
    moved by up to one float32 rounding (a relative 2^-24) at random, PERTURBATIONS times: a
    map that such moves change is decided by near-ties, whichever side float32 rounding in one
    engine or another happens to land on. The weights are restored exactly afterwards."""
    import torch

    generator = torch.Generator().manual_seed(7)
    original = {k: v.clone() for k, v in model.state_dict().items()}

    def moved(tensor):
        if not tensor.is_floating_point():
            return tensor
        return tensor.double() * (1 + 2.0 ** -24 * (2 * torch.rand(tensor.shape, generator=generator, dtype=torch.float64) - 1))

    model.double()
    maps = []
    for _ in range(PERTURBATIONS):
        model.load_state_dict({k: moved(v) for k, v in original.items()})
        maps.append(saliency_map(model, moved(x)))
    model.load_state_dict(original)
    model.float()
    return maps


# A ReLU decision is undetermined in float32 when its input lies within this many times the
# float32 error of its layer (PyTorch's float32 module against float64, root mean square over the
# layer) from zero: another float32 engine, summing in another order, may take either side.
UNDETERMINED_MARGIN = 8
# At most this many undetermined decisions get a flipped gradient each; past it the map is
# decided by rounding in too many places to explain one by one (ill-conditioned).
MOST_FLIPS = 32
# Candidates differentiated per float64 pass (its activations are this many samples').
FLIP_BATCH = 8


def undetermined_decisions(model, x, top):
    """The ReLU decisions of `model` (float32, its ReLUs modules) that float32 rounding can flip,
    and what flipping each does to the float64 input gradient of logit `top`.

    Returns (calls, count, gradient, flips): how many ReLU module calls were instrumented (a
    functional F.relu, as GoogLeNet's and Inception v3's, is not), how many decisions lie within UNDETERMINED_MARGIN float32
    errors of zero, the float64 gradient [C, H, W], and, when count <= MOST_FLIPS, one [C, H, W]
    change per decision, smallest margin first. Flipping decision i (pre-activation z_i, the
    logit's gradient g_i at its output) adds -g_i dz_i/dx where it passed and +g_i dz_i/dx where it
    blocked: the backward pass is linear in the masks, so a set of flips adds their changes, up to
    paths through two flipped units (second order in changes already small)."""
    import copy
    import torch

    class Masked(torch.autograd.Function):
        """ReLU whose backward hands the gradient at its output to `upstream`."""
        @staticmethod
        def forward(ctx, t, key, upstream):
            mask = (t > 0).to(t.dtype)
            ctx.save_for_backward(mask)
            ctx.key, ctx.upstream = key, upstream
            return t * mask

        @staticmethod
        def backward(ctx, g):
            (mask,) = ctx.saved_tensors
            if ctx.upstream is not None:
                ctx.upstream[ctx.key] = g.detach()
            return g * mask, None, None

    class Recorded(torch.nn.Module):
        """A ReLU module that records its input per call (a module may run several times)."""
        def __init__(self, label, state):
            super().__init__()
            self.label, self.state = label, state

        def forward(self, t):
            calls = self.state["calls"]
            key = (self.label, calls.get(self.label, 0))
            calls[self.label] = key[1] + 1
            self.state["inputs"][key] = t
            return Masked.apply(t, key, self.state["upstream"])

    def recorded(m):
        state = {"calls": {}, "inputs": {}, "upstream": None}
        for name, module in list(m.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, torch.nn.ReLU):
                    setattr(module, child_name, Recorded(f"{name}.{child_name}".lstrip("."), state))
        return state

    single, double = copy.deepcopy(model).float(), copy.deepcopy(model).double()
    for p in list(single.parameters()) + list(double.parameters()):
        p.requires_grad_(False)
    state32, state64 = recorded(single), recorded(double)
    with torch.no_grad():
        single(x.float())
    inputs32 = {k: v.double() for k, v in state32["inputs"].items()}
    del single
    state64["upstream"] = {}
    x64 = x.double().clone().requires_grad_()
    (gradient,) = torch.autograd.grad(double(x64)[0, top], x64)
    inputs64 = {k: v.detach() for k, v in state64["inputs"].items()}
    upstream, state64["upstream"] = state64["upstream"], None
    candidates = []
    for key, z in inputs64.items():
        error = (inputs32[key] - z).pow(2).mean().sqrt().item()
        if error == 0:  # computed exactly in float32 (a ReLU on the input itself): nothing to flip
            continue
        margins = (z.abs() / max(error, 1e-300)).flatten()
        for index in torch.nonzero(margins < UNDETERMINED_MARGIN).flatten().tolist():
            candidates.append((margins[index].item(), key, index))
    candidates.sort(key=lambda c: c[0])
    if not candidates or len(candidates) > MOST_FLIPS:
        return len(inputs64), len(candidates), gradient[0], []
    # dz_i/dx for several candidates at once: one sample per candidate, each differentiating its own unit.
    flips = []
    for start in range(0, len(candidates), FLIP_BATCH):
        group = candidates[start:start + FLIP_BATCH]
        state64["calls"].clear()
        batch = x.double().repeat(len(group), 1, 1, 1).requires_grad_()
        double(batch)
        chosen = sum(state64["inputs"][key][i].flatten()[index] for i, (_, key, index) in enumerate(group))
        (unit_gradients,) = torch.autograd.grad(chosen, batch)
        for i, (_, key, index) in enumerate(group):
            passed = inputs64[key].flatten()[index].item() > 0
            g = upstream[key].flatten()[index].item()
            flips.append((-g if passed else g) * unit_gradients[i])
    return len(inputs64), len(candidates), gradient[0], flips


def save_undetermined(model, x, top, directory):
    """Writes saliency_gradient_float64.pb and, when there are any to explain, flips.pb; returns
    the meta.json fields."""
    import torch

    calls, count, gradient, flips = undetermined_decisions(model, x, top)
    save_tensor(gradient.numpy(), os.path.join(directory, "saliency_gradient_float64.pb"))
    path = os.path.join(directory, "flips.pb")
    if flips:
        save_tensor(torch.stack(flips).numpy(), path)
    elif os.path.exists(path):
        os.remove(path)
    return {"relu_calls": calls, "undetermined_relu": count, "flips": len(flips),
            "undetermined_margin": UNDETERMINED_MARGIN, "most_flips": MOST_FLIPS}


def prepared_input(preprocessing, path=IMAGE):
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.Resize(preprocessing["resize"], interpolation=transforms.InterpolationMode(preprocessing["interpolation"])),
        transforms.CenterCrop(preprocessing["crop"]),
        transforms.ToTensor(),
        transforms.Normalize(preprocessing["mean"], preprocessing["std"]),
    ])
    with Image.open(path) as image:
        return transform(image.convert("RGB")).unsqueeze(0)


def calibration_batch(preprocessing):
    import torch
    return torch.cat([prepared_input(preprocessing, os.path.join(IMAGES, f)) for f in CALIBRATION])


def save_tensor(array, path):
    import numpy as np
    from onnx import numpy_helper

    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32)).SerializeToString())


def gather_external_data(directory):
    """Past 2 GB the exporter writes each weight to a file of its own beside the model; they
    become one file, model.onnx.data, which the model names with offsets."""
    import onnx

    path = os.path.join(directory, "model.onnx")
    others = [f for f in os.listdir(directory) if f != "model.onnx"]
    if not others:
        return
    model = onnx.load(path)
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx.data")
    for f in others:
        os.remove(os.path.join(directory, f))


def export_one(name, opset, directory):
    """Exports one model and its references into `directory`; returns its meta.json."""
    import numpy as np
    import onnx
    import onnxruntime
    import torch
    from captum.attr import Saliency

    torch.set_num_threads(2)
    extra = EXTRAS.get(name, {})
    architecture = extra.get("architecture", name)
    calibrated = extra.get("calibrated", True)
    seed = seed_for(architecture)
    preprocessing = preprocessing_for(architecture)
    model = build(architecture, seed, calibration_batch(preprocessing) if calibrated else None, extra.get("modes"))
    model, folded_in_module = folded(model)
    x = prepared_input(preprocessing)
    started = time.time()
    with torch.no_grad():
        torch_logits = model(x)
    top = int(torch_logits.argmax())
    parameters = sum(p.numel() for p in model.parameters())

    path = os.path.join(directory, "model.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        # PyTorch warns that opsets before 11 resize as Upsample did; the probe uses only nearest there.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    gather_external_data(directory)
    onnx.checker.check_model(path)
    exported = time.time()

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": x.numpy()})

    # Only the input's gradient is wanted: the weights' would double the memory.
    for p in model.parameters():
        p.requires_grad_(False)

    def saliency_map(model, x):
        saliency = Saliency(model).attribute(x.clone().requires_grad_(), target=top, abs=True)
        return saliency.detach().amax(dim=1)[0].double().numpy()

    single = saliency_map(model, x)
    undetermined = save_undetermined(model, x, top, directory) if calibrated else {}
    if not calibrated:
        # Issue 18's GoogLeNet: PyTorch against itself at one thread and at two, whose float32
        # sums round differently.
        torch.set_num_threads(1)
        one_thread = saliency_map(model, x)
        torch.set_num_threads(2)
    # The same map in double precision: how far float32 rounding alone moves Captum's map; and
    # double-precision maps a rounding away, which show whether near-ties decide it.
    perturbed = perturbed_maps(model, x, saliency_map) if calibrated else []
    double = saliency_map(model.double(), x.double())
    del model

    save_tensor(x.numpy(), os.path.join(directory, "input.pb"))
    save_tensor(logits, os.path.join(directory, "logits.pb"))
    save_tensor(single, os.path.join(directory, "saliency.pb"))
    save_tensor(double, os.path.join(directory, "saliency_float64.pb"))
    scale = float(np.abs(logits).max())
    return {
        "name": name, "format": FORMAT, "opset": opset, "seed": seed, "architecture": architecture,
        "calibrated_statistics": calibrated,
        "input_shape": list(x.shape), "preprocessing": preprocessing, "top": top,
        "onnxruntime_top": int(np.argmax(logits)),
        "parameters": parameters,
        # Captum's float32 map against its float64 map: Pearson and largest difference relative
        # to the largest value. ReLU and max-pool decisions within rounding of a tie make a map
        # move under rounding alone.
        "float32_float64_pearson": float(np.corrcoef(single.ravel(), double.ravel())[0, 1]),
        "float32_float64_max_diff": float(np.abs(single - double).max() / np.abs(double).max()),
        # The perturbed float64 maps against the float64 map: the least Pearson, the largest difference.
        "folded_in_module": folded_in_module,
        # ReLU decisions within float32 error of zero, and their flips (see undetermined_decisions).
        **undetermined,
        **({"perturbed_pearson": min(float(np.corrcoef(p.ravel(), double.ravel())[0, 1]) for p in perturbed),
            "perturbed_max_diff": max(float(np.abs(p - double).max() / np.abs(double).max()) for p in perturbed)}
           if perturbed else {}),
        **({"one_two_threads_pearson": float(np.corrcoef(one_thread.ravel(), single.ravel())[0, 1]),
            "one_two_threads_max_diff": float(np.abs(one_thread - single).max() / np.abs(single).max())}
           if not calibrated else {}),
        "external_data": os.path.exists(path + ".data"),
        # How far the export itself moved the logits: PyTorch against onnxruntime.
        "torch_onnxruntime_max_diff": float(np.abs(torch_logits.numpy() - logits).max()) / max(scale, 1e-30),
        "logits_scale": scale,
        "seconds": {"export": round(exported - started, 1), "references": round(time.time() - exported, 1)},
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
    }


def conditioning_one(name):
    """Captum's float32 map against its float64 map, under both kinds of statistics."""
    import numpy as np
    import torch
    from captum.attr import Saliency

    torch.set_num_threads(2)
    preprocessing = preprocessing_for(name)
    x = prepared_input(preprocessing)
    result = {"name": name}
    for statistics, calibration in (("random", None), ("calibrated", calibration_batch(preprocessing))):
        model, _ = folded(build(name, seed_for(name), calibration))
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            top = int(model(x).argmax())

        def saliency_map(m, v):
            a = Saliency(m).attribute(v.clone().requires_grad_(), target=top, abs=True)
            return a.detach().amax(dim=1)[0].double().numpy()

        single = saliency_map(model, x)
        double = saliency_map(model.double(), x.double())
        result[statistics] = {"pearson": float(np.corrcoef(single.ravel(), double.ravel())[0, 1]),
                              "max_diff": float(np.abs(single - double).max() / np.abs(double).max())}
    return result


def conditioning(names, out):
    path = os.path.join(out, "conditioning.json")
    try:
        with open(path) as f:
            results = {r["name"]: r for r in json.load(f)}
    except (OSError, ValueError):
        results = {}
    print(f"{'model':24} {'random statistics':>26}   {'calibrated statistics':>26}")
    for name in names:
        run = subprocess.run([sys.executable, os.path.abspath(__file__), "--conditioning-one", name],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{name:24} FAILED {(run.stderr.strip().splitlines() or ['no output'])[-1][:200]}", flush=True)
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        results[name] = r
        print(f"{name:24} Pearson {r['random']['pearson']:.6f} diff {r['random']['max_diff']:.1e}   "
              f"Pearson {r['calibrated']['pearson']:.6f} diff {r['calibrated']['max_diff']:.1e}", flush=True)
        os.makedirs(out, exist_ok=True)
        with open(path, "w") as f:
            json.dump(list(results.values()), f, indent=1)


def undetermined_one(name, out):
    """Adds the undetermined decisions to an existing export (see undetermined_decisions),
    rebuilding the module it was exported from; its float64 map must come out as exported."""
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper

    torch.set_num_threads(2)
    directory = os.path.join(out, name)
    with open(os.path.join(directory, "meta.json")) as f:
        meta = json.load(f)
    extra = EXTRAS.get(name, {})
    architecture = extra.get("architecture", name)
    if not extra.get("calibrated", True):
        return meta
    preprocessing = preprocessing_for(architecture)
    model, _ = folded(build(architecture, seed_for(architecture), calibration_batch(preprocessing), extra.get("modes")))
    x = prepared_input(preprocessing)
    fields = save_undetermined(model, x, meta["top"], directory)
    gradient = numpy_helper.to_array(onnx.load_tensor(os.path.join(directory, "saliency_gradient_float64.pb")))
    exported = numpy_helper.to_array(onnx.load_tensor(os.path.join(directory, "saliency_float64.pb")))
    rebuilt = np.abs(gradient).max(axis=0)
    if np.abs(rebuilt - exported).max() > 1e-6 * np.abs(exported).max():
        raise SystemExit(f"{name}: the rebuilt module's float64 map is not the exported one")
    meta.update(fields)
    with open(os.path.join(directory, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def cached(directory, opset):
    try:
        with open(os.path.join(directory, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if meta.get("format") == FORMAT and meta.get("opset") == opset else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--only", help="comma-separated model names")
    parser.add_argument("--force", action="store_true", help="export again even when cached")
    parser.add_argument("--list", action="store_true", help="print the catalogue with opsets and exclusions")
    parser.add_argument("--conditioning", action="store_true", help="how far rounding moves Captum's maps (see above)")
    parser.add_argument("--one", nargs=2, metavar=("NAME", "OPSET"), help=argparse.SUPPRESS)
    parser.add_argument("--conditioning-one", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--undetermined", action="store_true",
                        help="add the undetermined ReLU decisions to existing exports (see above)")
    parser.add_argument("--undetermined-one", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.undetermined_one:
        meta = undetermined_one(args.undetermined_one, args.out)
        print(meta.get("undetermined_relu", "-"), meta.get("flips", "-"))
        return

    if args.undetermined:
        for name in (args.only.split(",") if args.only else sorted(os.listdir(args.out))):
            if not os.path.exists(os.path.join(args.out, name, "meta.json")):
                continue
            # A subprocess per model, as the export runs, so that memory is returned between models.
            run = subprocess.run([sys.executable, os.path.abspath(__file__), "--out", args.out, "--undetermined-one", name],
                                 capture_output=True, text=True)
            result = run.stdout.strip() if run.returncode == 0 else "FAILED " + (run.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"{name:24} undetermined ReLU decisions, flips: {result}", flush=True)
        return

    if args.conditioning_one:
        print(json.dumps(conditioning_one(args.conditioning_one)))
        return

    if args.one:
        name, opset = args.one[0], int(args.one[1])
        directory = os.path.join(args.out, name)
        meta = export_one(name, opset, directory)
        with open(os.path.join(directory, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        return

    names = catalogue()
    # Opsets alternate in list order (over the whole list, so exclusions do not shift them).
    opsets = {name: 13 if i % 2 == 0 else 17 for i, name in enumerate(names)}
    if args.list:
        for name in names:
            print(f"{name:24} opset {opsets[name]}  {excluded_reason(name) or ''}")
        return
    wanted = set(args.only.split(",")) if args.only else None
    if wanted and not wanted <= set(names) | set(EXTRAS):
        sys.exit(f"not in the catalogue: {sorted(wanted - set(names) - set(EXTRAS))}")
    if args.conditioning:
        conditioning([n for n in names if not excluded_reason(n) and (wanted is None or n in wanted)], args.out)
        return
    os.makedirs(args.out, exist_ok=True)
    manifest_path = os.path.join(args.out, "manifest.json")
    try:
        with open(manifest_path) as f:
            previous = {m["name"]: m for m in json.load(f)["models"]}
    except (OSError, ValueError, KeyError):
        previous = {}

    models, excluded = [], []
    for name in names + list(EXTRAS):
        reason = excluded_reason(name)
        if reason:
            excluded.append({"name": name, "reason": reason})
            continue
        opset = EXTRAS[name]["opset"] if name in EXTRAS else opsets[name]
        entry = {"name": name, "opset": opset, "extra": name in EXTRAS}
        directory = os.path.join(args.out, name)
        if wanted is not None and name not in wanted:
            models.append(previous.get(name, {**entry, "status": "not exported"}))
            continue
        meta = None if args.force else cached(directory, opset)
        if meta is None:
            os.makedirs(directory, exist_ok=True)
            for leftover in os.listdir(directory):
                os.remove(os.path.join(directory, leftover))
            started = time.time()
            run = subprocess.run([sys.executable, os.path.abspath(__file__), "--out", args.out, "--one", name, str(opset)],
                                 capture_output=True, text=True)
            meta = cached(directory, opset)
            if run.returncode != 0 or meta is None:
                error = (run.stderr.strip().splitlines() or ["no output"])[-1]
                models.append({**entry, "status": f"failed: {error}"[:400]})
                print(f"{name:24} FAILED {error[:200]}", flush=True)
                continue
            print(f"{name:24} opset {opset} {meta['input_shape'][2]}px top {meta['top']} "
                  f"torch/onnxruntime {meta['torch_onnxruntime_max_diff']:.1e} ({time.time() - started:.0f} s)", flush=True)
        models.append({**entry, "status": "exported", "input_shape": meta["input_shape"]})

    with open(manifest_path + ".part", "w") as f:
        json.dump({"catalogue": len(names), "models": models, "excluded": excluded}, f, indent=1)
    os.replace(manifest_path + ".part", manifest_path)
    catalogue_models = [m for m in models if not m.get("extra")]
    done = sum(m["status"] == "exported" for m in catalogue_models)
    print(f"{done} of {len(catalogue_models)} CNNs exported, {len(excluded)} transformers out of scope, "
          f"{len(names)} in torchvision's list; {len(models) - len(catalogue_models)} more beside it for issue 18")
    if any(m["status"] != "exported" for m in models) and wanted is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
