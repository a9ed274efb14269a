"""PyTorch references for `salient bench --saliency` and `salient bench --training`.

usage:
  torch_bench.py export DIR                      torchvision models as ONNX (opset 17) in DIR
  torch_bench.py saliency MODEL THREADS RUNS     Captum Saliency latency at batch 1
  torch_bench.py train-small THREADS STEPS       the bench's small Fashion-MNIST CNN, SGD, batch 64
  torch_bench.py finetune STAGE THREADS STEPS    fine-tuning fashion-cnn as a job does (AdamW, batch 16)
  torch_bench.py finetune-torchvision NAME STAGE THREADS STEPS BATCH CLASSES [cpu]
                                                 fine-tuning a torchvision model (mobilenet_v2, ...) as a
                                                 job does with head: classifier (AdamW, 224x224 inputs)
  torch_bench.py saliency-zoo NAME THREADS RUNS [cpu]
                                                 Captum Saliency latency at batch 1 on the model exactly as
                                                 scripts/torchvision_zoo.py builds it, at its native size

Each command prints one JSON object. Weights are random (nothing can be downloaded here):
latency and throughput do not depend on their values. Inputs match the Swift side: the
saliency input is x[i] = sin(0.01 * i) over [1, 3, 224, 224] and class 1 is explained;
training reads the first STEPS batches of Fashion-MNIST's training set, scaled to [0, 1].
"""
import gzip
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torchvision
from torch import nn

from bench_timing import warm_up

MODELS = {
    "resnet50": torchvision.models.resnet50,
    "squeezenet": torchvision.models.squeezenet1_0,
    "vgg19": torchvision.models.vgg19,
    "densenet121": torchvision.models.densenet121,
    "googlenet": lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True),
}
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
SALIENCY_CLASS = 1


def model(name):
    torch.manual_seed(0)
    return MODELS[name]().eval()


def saliency_input():
    count = 3 * 224 * 224
    return torch.from_numpy(np.sin(0.01 * np.arange(count, dtype=np.float64)).astype(np.float32).reshape(1, 3, 224, 224))


def export(directory):
    os.makedirs(directory, exist_ok=True)
    status = {}
    for name in MODELS:
        path = os.path.join(directory, f"{name}.onnx")
        if os.path.exists(path):
            status[name] = "cached"
            continue
        try:
            with torch.no_grad():
                torch.onnx.export(model(name), saliency_input(), path + ".part", opset_version=17,
                                  input_names=["input"], output_names=["logits"])
            os.replace(path + ".part", path)
            status[name] = "exported"
        except Exception as error:  # the caller falls back to the zoo graph and says why
            status[name] = f"failed: {type(error).__name__}: {error}"[:300]
    print(json.dumps(status))


def saliency(name, threads, runs):
    from captum.attr import Saliency

    torch.set_num_threads(threads)
    explainer = Saliency(model(name))
    x = saliency_input()
    warm_up(lambda: explainer.attribute(x, target=SALIENCY_CLASS))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        explainer.attribute(x, target=SALIENCY_CLASS)
        times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times), "runs": runs}))


def fashion_mnist(count):
    with gzip.open(os.path.join(FASHION_MNIST, "train-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16)[: count * 784]
    with gzip.open(os.path.join(FASHION_MNIST, "train-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:count]
    x = torch.from_numpy(images.astype(np.float32) / 255).reshape(count, 1, 28, 28)
    return x, torch.from_numpy(labels.astype(np.int64))


def images_per_second(net, optimizer, batch, steps):
    """Batch size over the median step time: warm-up steps for two seconds, then STEPS timed
    steps over consecutive batches."""
    x, y = fashion_mnist(batch * steps)
    loss = nn.CrossEntropyLoss()
    net.train()

    def step(b):
        optimizer.zero_grad()
        loss(net(x[b * batch:(b + 1) * batch]), y[b * batch:(b + 1) * batch]).backward()
        optimizer.step()

    warm_up(lambda: step(0))
    times = []
    for b in range(steps):
        start = time.perf_counter()
        step(b)
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def train_small(threads, steps):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = small_cnn()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    print(json.dumps({"images_per_s": images_per_second(net, optimizer, 64, steps), "steps": steps}))


def fashion_cnn():
    """models/fashion-cnn.architecture.json, with its head replaced as FineTuner does."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def finetune(stage, threads, steps, learning_rate=1e-3, factor=3.0):
    """Stage 1 trains the head on a frozen body; stage 2 trains everything, the body's three
    groups (conv1 | bn1, conv2 | bn2, fc1) at the next group's rate divided by `factor`."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = fashion_cnn()
    body = [[net[0]], [net[1], net[4]], [net[5], net[10]]]
    head = net[12]
    groups = [{"params": list(head.parameters()), "lr": learning_rate}]
    for index, layers in enumerate(body):
        parameters = [p for layer in layers for p in layer.parameters()]
        if stage == 1:
            for p in parameters:
                p.requires_grad_(False)
        else:
            groups.append({"params": parameters, "lr": learning_rate * factor ** -(len(body) - index)})
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, weight_decay=1e-4)
    print(json.dumps({"images_per_s": images_per_second(net, optimizer, 16, steps), "steps": steps}))


def saliency_zoo(name, threads, runs, clock=time.perf_counter):
    """Captum's gradient saliency of class 1 on the torchvision model as torchvision_zoo.py
    exports it (same seed, statistics and native size), input sin(0.01 i); `clock`
    time.thread_time times the calling thread, which runs a one-thread backward itself."""
    from captum.attr import Saliency
    import torchvision_zoo

    preprocessing = torchvision_zoo.preprocessing_for(name)
    net = torchvision_zoo.build(name, torchvision_zoo.seed_for(name), torchvision_zoo.calibration_batch(preprocessing))
    for p in net.parameters():
        p.requires_grad_(False)
    explainer = Saliency(net)
    size = preprocessing["crop"]
    x = torch.from_numpy(np.sin(0.01 * np.arange(3 * size * size, dtype=np.float64)).astype(np.float32).reshape(1, 3, size, size))
    torch.set_num_threads(threads)
    warm_up(lambda: explainer.attribute(x, target=SALIENCY_CLASS))
    times = []
    for _ in range(runs):
        start = clock()
        explainer.attribute(x, target=SALIENCY_CLASS)
        times.append((clock() - start) * 1000)
    print(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times), "runs": runs}))


def finetune_torchvision(name, stage, threads, steps, batch, classes, clock=time.perf_counter, learning_rate=1e-3):
    """The torchvision model with a new head at its last feature map, as a `head: classifier`
    job builds it on the ONNX export (the model's own global average pooling, flatten, one
    Linear in place of its classifier): stage 1 trains the head with the body frozen and its
    BatchNorm layers in eval mode (`frozen_batchnorm: running`); stage 2 trains everything,
    BatchNorm on batch statistics. Inputs are sin(0.01 i): the time of a step does not depend
    on the pixels; `clock` time.thread_time times the calling thread (one thread only)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torchvision.models.get_model(name, weights=None)
    with torch.no_grad():
        channels = net.features(torch.zeros(1, 3, 224, 224)).shape[1]
    net.classifier = nn.Linear(channels, classes)
    net.train()
    if stage == 1:
        for p in net.features.parameters():
            p.requires_grad_(False)
        net.features.eval()
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=learning_rate, weight_decay=1e-4)
    count = batch * 3 * 224 * 224
    x = torch.from_numpy(np.sin(0.01 * np.arange(count, dtype=np.float64)).astype(np.float32).reshape(batch, 3, 224, 224))
    y = torch.arange(batch) % classes
    loss = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss(net(x), y).backward()
        optimizer.step()

    warm_up(step)
    times = []
    for _ in range(steps):
        start = clock()
        step()
        times.append(clock() - start)
    print(json.dumps({"images_per_s": batch / statistics.median(times), "steps": steps}))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "export":
        export(args[0])
    elif command == "saliency":
        saliency(args[0], int(args[1]), int(args[2]))
    elif command == "train-small":
        train_small(int(args[0]), int(args[1]))
    elif command == "finetune":
        finetune(int(args[0]), int(args[1]), int(args[2]))
    elif command == "finetune-torchvision":
        finetune_torchvision(args[0], *map(int, args[1:6]), clock=time.thread_time if args[6:] == ["cpu"] else time.perf_counter)
    elif command == "saliency-zoo":
        saliency_zoo(args[0], int(args[1]), int(args[2]),
                     time.thread_time if args[3:] == ["cpu"] else time.perf_counter)
    else:
        sys.exit(f"unknown command {command!r}; see the docstring")
