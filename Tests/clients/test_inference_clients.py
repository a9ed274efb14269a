#!/usr/bin/env python3
"""The Open Inference Protocol's real clients against a real `salient serve`.

    python Tests/clients/test_inference_clients.py --salient .build/release/salient

Starts the binary with a management and a read token (every call passes the token through the
client's own header option), uploads SqueezeNet 1.0 from shared/data/onnx-light with the
closed-form weights of its README, and drives it with tritonclient[http] and the kserve SDK's
REST client as their users do: metadata, readiness, configuration, statistics, the model
repository, inference in JSON and in binary, FP32 tensors and BYTES holding JPEGs and PNGs, the
classification extension, and the error paths read through the clients' own exception types;
ResNet-50 from the same folder goes through the same client beside it; then Triton's
perf_analyzer sends 40 requests and must meet no protocol error.
Logits from every path must equal onnxruntime's on the same file within 1e-5 of their largest
magnitude.

Prints PASS or FAIL per check and exits 1 on any failure.
"""

import argparse
import asyncio
import base64
import csv
import http.client
import io
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
import numpy as np
import onnx
import onnxruntime
import tritonclient.http as tritonhttp
from PIL import Image, ImageOps
from tritonclient.utils import InferenceServerException

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "Tests" / "attacks"))
from test_network import Checks, Server, expect  # noqa: E402
from closed_form import materialize  # noqa: E402

MANAGEMENT = "clients-test-management-token-0123456789"
READ = "clients-test-read-token-0123456789abcdef"
MODEL = "squeezenet"
LABELS = [f"class {i}" for i in range(1000)]
EXTENSIONS = {"binary_tensor_data", "classification", "model_configuration", "model_repository", "statistics"}


def shared(*parts):
    """../shared/data/... beside the repository or one of its ancestors."""
    for folder in [REPO, *REPO.parents]:
        candidate = folder.joinpath("shared", "data", *parts)
        if candidate.exists():
            return candidate
    raise FileNotFoundError("/".join(parts))


def assert_logits(got, reference, what):
    """Equal to onnxruntime's within 1e-5, relative to the largest logit."""
    got, reference = np.asarray(got, dtype=np.float32), np.asarray(reference, dtype=np.float32)
    expect(got.shape == reference.shape, f"{what}: shape {got.shape}, onnxruntime's {reference.shape}")
    scale = float(np.abs(reference).max())
    worst = float(np.abs(got - reference).max())
    expect(worst <= 1e-5 * scale, f"{what}: differs from onnxruntime by {worst:.3g} (largest logit {scale:.3g})")
    return worst / scale


def imagenet_input(path):
    """The `imagenet` preset in Pillow: a JPEG decoded at the DCT scale salient's decoder picks
    (the largest of 1/8, 1/4, 1/2 that keeps the shorter side at 256 or more), shorter side resized
    to 256 (bilinear, antialiased), center crop 224, scaled to [0, 1] and normalized."""
    image = Image.open(path)
    if image.format == "JPEG":
        width, height = image.size
        divisor = next((d for d in (8, 4, 2) if (min(width, height) + d - 1) // d >= 256), 1)
        if divisor > 1:
            image.draft("RGB", (width // divisor, height // divisor))
    image = ImageOps.exif_transpose(image).convert("RGB")
    width, height = image.size
    scale = 256 / min(width, height)
    size = (256, int(height * scale)) if width <= height else (int(width * scale), 256)
    image = image.resize(size, Image.BILINEAR)
    width, height = image.size
    top, left = int(round((height - 224) / 2.0)), int(round((width - 224) / 2.0))
    x = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return x.transpose(2, 0, 1).astype(np.float32)


class Reference:
    """onnxruntime on the uploaded file, one image at a time (the file's batch is 1)."""

    def __init__(self, path, logits):
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.logits = logits

    def __call__(self, batch):
        return np.concatenate([self.session.run([self.logits], {self.input: batch[i:i + 1]})[0].reshape(1, -1)
                               for i in range(len(batch))])


def upload(port, path, name=MODEL):
    boundary = uuid.uuid4().hex
    fields = [("name", name.encode()), ("labels", "\n".join(LABELS).encode()), ("preprocessing", b"imagenet")]
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
                    for name, value in fields)
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="model.onnx"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request("POST", "/v1/models", body, {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                    "Authorization": f"Bearer {MANAGEMENT}"})
    response = connection.getresponse()
    answer = response.read()
    expect(response.status == 201, f"upload: {response.status} {answer[:300]!r}")


def raw(port, method, target, body=b"", headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request(method, target, body, {"Authorization": f"Bearer {READ}", **(headers or {})})
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def raises(call, status, *needles):
    """Runs `call`, which must fail with tritonclient's own exception carrying `status` and a
    message (read from the {"error": "..."} body) that contains every needle."""
    try:
        call()
    except InferenceServerException as error:
        expect(error.status() == str(status), f"status {error.status()}, expected {status}: {error.message()}")
        for needle in needles:
            expect(needle in error.message(), f"{needle!r} not in {error.message()!r}")
        return f"{error.status()}: {error.message()}"
    raise AssertionError(f"no error; expected {status}")


def text(element):
    """A BYTES element as tritonclient gives it: bytes from binary data, str from JSON."""
    return element.decode() if isinstance(element, bytes) else element


def tensor_input(name, x, binary=True):
    tensor = tritonhttp.InferInput(name, list(x.shape), tritonhttp.np_to_triton_dtype(x.dtype))
    return tensor.set_data_from_numpy(x, binary_data=binary)


def triton_checks(checks, port, reference, images, onnx_path):
    headers = {"Authorization": f"Bearer {READ}"}
    management = {"Authorization": f"Bearer {MANAGEMENT}"}
    client = tritonhttp.InferenceServerClient(f"127.0.0.1:{port}")
    rng = np.random.default_rng(21)
    state = {"path": onnx_path}

    checks.run("without the token the client reads the 401 as its own exception",
               lambda: raises(lambda: client.get_server_metadata(), 401, "Authorization: Bearer"))

    def server_metadata():
        metadata = client.get_server_metadata(headers=headers)
        expect(metadata["name"] == "salient" and metadata["version"], f"{metadata}")
        expect(EXTENSIONS <= set(metadata["extensions"]), f"extensions {metadata['extensions']}")
        expect(client.is_server_live(headers=headers) and client.is_server_ready(headers=headers), "not live and ready")
        return f"{metadata['name']} {metadata['version']}: {', '.join(metadata['extensions'])}"
    checks.run("server metadata, live and ready", server_metadata)

    def model_metadata():
        metadata = client.get_model_metadata(MODEL, headers=headers)
        expect(metadata["name"] == MODEL and metadata["versions"], f"{metadata}")
        version = metadata["versions"][-1]
        expect(client.get_model_metadata(MODEL, version, headers=headers) == metadata, "metadata at its version differs")
        (tensor,), (output,) = metadata["inputs"], metadata["outputs"]
        expect(tensor["datatype"] == "FP32" and tensor["shape"] == [-1, 3, 224, 224], f"input {tensor}")
        expect(output == {"name": "logits", "datatype": "FP32", "shape": [-1, 1000]}, f"output {output}")
        expect(client.is_model_ready(MODEL, headers=headers) and client.is_model_ready(MODEL, version, headers=headers),
               "not ready")
        expect(not client.is_model_ready("no-such-model", headers=headers), "an unknown model is ready")
        expect(not client.is_model_ready(MODEL, "99", headers=headers), "an unknown version is ready")
        raises(lambda: client.get_model_metadata(MODEL, "99", headers=headers), 404, "version")
        state["input"], state["version"] = tensor["name"], version
        return f"input {tensor['name']} {tensor['shape']}, versions {metadata['versions']}"
    checks.run("model metadata and readiness, with and without a version", model_metadata)

    def config():
        configuration = client.get_model_config(MODEL, headers=headers)
        expect(configuration == client.get_model_config(MODEL, state["version"], headers=headers), "config at its version")
        expect(configuration["max_batch_size"] >= 2, f"max_batch_size {configuration['max_batch_size']}")
        (tensor,), (output,) = configuration["input"], configuration["output"]
        expect(tensor["dims"] == [3, 224, 224] and tensor["format"] == "FORMAT_NCHW" and tensor["data_type"] == "TYPE_FP32",
               f"{tensor}")
        expect(output["dims"] == [1000] and output["name"] == "logits", f"{output}")
        state["max_batch"] = configuration["max_batch_size"]
        return f"max_batch_size {configuration['max_batch_size']}, dynamic_batching {configuration.get('dynamic_batching')}"
    checks.run("model configuration", config)

    def statistics():
        return client.get_inference_statistics(MODEL, headers=headers)["model_stats"][0]
    before = statistics()
    counted = {"success": 0, "fail": 0, "images": 0}

    def infer(inputs, **options):
        try:
            # A dict of its own each time: tritonclient writes Inference-Header-Content-Length into
            # the headers it is given, and a stale one would mislead the next JSON-only request.
            result = client.infer(MODEL, inputs, headers=dict(headers), **options)
        except InferenceServerException:
            counted["fail"] += 1
            raise
        counted["success"] += 1
        counted["images"] += inputs[0].shape()[0]
        return result

    def binary_fp32():
        worst = 0
        for batch in (1, 3, state["max_batch"]):
            x = rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)
            result = infer([tensor_input(state["input"], x)])
            expect(result.get_response()["outputs"][0]["parameters"]["binary_data_size"] == batch * 4000, "binary output")
            worst = max(worst, assert_logits(result.as_numpy("logits"), reference(x), f"batch {batch}"))
        return f"batches 1, 3, {state['max_batch']}: largest difference {worst:.2g} of the largest logit"
    checks.run("infer FP32 as binary data (the client's default), batches up to max_batch_size", binary_fp32)

    def json_fp32():
        x = rng.standard_normal((2, 3, 224, 224), dtype=np.float32)
        result = infer([tensor_input(state["input"], x, binary=False)],
                       outputs=[tritonhttp.InferRequestedOutput("logits", binary_data=False)], request_id="json-1",
                       model_version=state["version"])
        response = result.get_response()
        expect(response["id"] == "json-1" and "data" in response["outputs"][0], f"{str(response)[:200]}")
        expect(response["model_version"] == state["version"], f"version {response['model_version']}")
        return f"{assert_logits(result.as_numpy('logits'), reference(x), 'JSON'):.2g} of the largest logit"
    checks.run("infer FP32 in JSON at a version, outputs in JSON", json_fp32)

    def classification():
        x = rng.standard_normal((2, 3, 224, 224), dtype=np.float32)
        expected = reference(x)
        for binary in (True, False):
            result = infer([tensor_input(state["input"], x, binary)],
                           outputs=[tritonhttp.InferRequestedOutput("logits", binary_data=binary, class_count=5)])
            top = result.as_numpy("logits")
            expect(top.shape == (2, 5), f"shape {top.shape}")
            for row in range(2):
                order = np.argsort(-expected[row], kind="stable")[:5]
                for entry, index in zip(map(text, top[row]), order):
                    value, position, label = entry.split(":", 2)
                    expect(int(position) == index and label == LABELS[index], f"{entry} for class {index}")
                    expect(abs(float(value) - expected[row][index]) <= 1e-5 * np.abs(expected).max(), f"{entry}")
        return f"'{text(top[0][0])}' first"
    checks.run("classification extension, binary and JSON", classification)

    def jpeg_bytes():
        path = images / "fish.jpg"
        encoded = np.array([[path.read_bytes()]], dtype=np.object_)
        result = infer([tensor_input(state["input"], encoded)])
        worst = assert_logits(result.as_numpy("logits"), reference(imagenet_input(path)[None]), "fish.jpg")
        return f"{worst:.2g} of the largest logit"
    checks.run("infer BYTES holding a JPEG, decoded by the model's preprocessing", jpeg_bytes)

    def bytes_top_classes():
        paths = [images / "fish.jpg", images / "chelsea.png", images / "coffee.png"]
        encoded = np.array([p.read_bytes() for p in paths], dtype=np.object_)
        result = infer([tensor_input(state["input"], encoded, binary=True)],
                       outputs=[tritonhttp.InferRequestedOutput("logits", binary_data=False, class_count=2)])
        top = result.as_numpy("logits")
        expected = reference(np.stack([imagenet_input(p) for p in paths]))
        for row, path in enumerate(paths):
            indices = [int(text(entry).split(":")[1]) for entry in top[row]]
            expect(indices == list(np.argsort(-expected[row])[:2]), f"{path.name}: {top[row]}")
        # The same batch as logits: the PNGs' decoding and resizing as exact as the JPEG's.
        logits = infer([tensor_input(state["input"], encoded)]).as_numpy("logits")
        worst = max(assert_logits(logits[row], expected[row], path.name) for row, path in enumerate(paths))
        return ", ".join(f"{p.name} {top[i][0]}" for i, p in enumerate(paths)) + f"; logits within {worst:.2g}"
    checks.run("a batch of encoded images (a JPEG, two PNGs) in, their top classes and logits out", bytes_top_classes)

    def raw_binary():
        x = rng.standard_normal((1, 3, 224, 224), dtype=np.float32)
        status, fields, body = raw(port, "POST", f"/v2/models/{MODEL}/infer", x.tobytes(),
                                   {"Inference-Header-Content-Length": "0", "Content-Type": "application/octet-stream"})
        expect(status == 200, f"{status} {body[:200]!r}")
        result = tritonhttp.InferResult.from_response_body(body, header_length=int(fields["Inference-Header-Content-Length"]))
        counted["success"] += 1
        counted["images"] += 1
        return f"{assert_logits(result.as_numpy('logits'), reference(x), 'raw'):.2g} of the largest logit"
    checks.run("a raw binary request (Inference-Header-Content-Length: 0)", raw_binary)

    def errors():
        x = rng.standard_normal((1, 3, 224, 224), dtype=np.float32)
        found = [raises(lambda: client.infer("no-such-model", [tensor_input(state["input"], x)], headers=dict(headers)),
                        404, "no-such-model")]
        found.append(raises(lambda: infer([tensor_input(state["input"], x[:, :, :100])]), 400, "shape", "[1, 3, 100, 224]"))
        found.append(raises(lambda: infer([tensor_input(state["input"], x.astype(np.float64))]), 400, "FP64"))
        found.append(raises(lambda: infer([tensor_input("image", x)]), 400, "unexpected inference input 'image'"))
        found.append(raises(lambda: infer([tensor_input(state["input"], x)],
                                          outputs=[tritonhttp.InferRequestedOutput("probabilities")]), 400, "probabilities"))
        # Refused from its declared shape before its data is read, so it never reaches the model's statistics.
        too_many = np.zeros((state["max_batch"] + 1, 3, 224, 224), np.float32)
        found.append(raises(lambda: client.infer(MODEL, [tensor_input(state["input"], too_many)], headers=dict(headers)),
                            413, "max_batch_size"))
        found.append(raises(lambda: infer([tensor_input(state["input"], np.array([[b"not an image"]], dtype=np.object_))]),
                            415, "not a JPEG or PNG"))
        return "; ".join(found)
    checks.run("unknown model, wrong shape, wrong datatype, wrong names, too large a batch, a corrupt image", errors)

    def malformed():
        x = np.zeros((1, 3, 224, 224), np.float32)
        header = json.dumps({"inputs": [{"name": state["input"], "shape": [1, 3, 224, 224], "datatype": "FP32",
                                         "parameters": {"binary_data_size": x.nbytes}}]}).encode()
        for body, length in [(header + x.tobytes()[:-4], len(header)), (header + x.tobytes() + b"xx", len(header)),
                             (header + x.tobytes(), len(header) + x.nbytes + 10), (b"{", None), (b"[]", None)]:
            fields = {"Content-Type": "application/octet-stream"}
            if length is not None:
                fields["Inference-Header-Content-Length"] = str(length)
            status, answer_fields, answer = raw(port, "POST", f"/v2/models/{MODEL}/infer", body, fields)
            error = json.loads(answer)
            expect(status == 400 and isinstance(error.get("error"), str), f"{status} {answer[:200]!r}")
        for method, target in [("GET", "/v2/nowhere"), ("DELETE", "/v2"), ("GET", f"/v2/models/{MODEL}/versions/x")]:
            status, _, answer = raw(port, method, target)
            expect(status in (404, 405) and isinstance(json.loads(answer).get("error"), str), f"{target}: {status} {answer!r}")
        return "short, long and overlong binary data, malformed JSON: 400; unknown paths and methods: {\"error\": \"...\"}"
    # A body that does not parse never reaches the model, so its statistics do not count it.
    checks.run("malformed bodies and unknown routes answer {\"error\": \"<message>\"}", malformed)

    def statistics_count():
        after = statistics()
        stages = after["inference_stats"]
        grew = lambda key: stages[key]["count"] - before["inference_stats"][key]["count"]
        expect(grew("success") == counted["success"], f"success grew {grew('success')}, {counted['success']} succeeded")
        expect(grew("fail") == counted["fail"], f"fail grew {grew('fail')}, {counted['fail']} failed")
        expect(after["inference_count"] - before["inference_count"] == counted["images"],
               f"inference_count grew {after['inference_count'] - before['inference_count']}, {counted['images']} images")
        for key in ("queue", "compute_input", "compute_infer", "compute_output"):
            expect(grew(key) == counted["success"] and stages[key]["ns"] > 0, f"{key}: {stages[key]}")
        expect(after["execution_count"] <= after["inference_count"] and after["batch_stats"], "executions")
        every = client.get_inference_statistics(headers=headers)["model_stats"]
        expect({MODEL, "fashion-cnn"} <= {s["name"] for s in every}, f"{[s['name'] for s in every]}")
        return (f"{counted['success']} successes, {counted['fail']} failures, {counted['images']} images in "
                f"{after['execution_count'] - before['execution_count']} executions")
    checks.run("statistics count every request, image and stage", statistics_count)

    def versions():
        upload(port, state["path"])
        metadata = client.get_model_metadata(MODEL, headers=headers)
        expect(metadata["versions"] == ["1", "2"], f"versions {metadata['versions']}")
        x = rng.standard_normal((1, 3, 224, 224), dtype=np.float32)
        results = {version: client.infer(MODEL, [tensor_input(state["input"], x)], model_version=version, headers=dict(headers))
                   for version in ("1", "2")}
        for version, result in results.items():
            expect(result.get_response()["model_version"] == version, f"{result.get_response()['model_version']}")
            assert_logits(result.as_numpy("logits"), reference(x), f"version {version}")
        stats = client.get_inference_statistics(MODEL, headers=headers)["model_stats"]
        expect([s["version"] for s in stats] == ["1", "2"], f"{[s['version'] for s in stats]}")
        return "an upload under the same name is version 2; both serve and count apart"
    checks.run("model versions through the client's model_version", versions)

    def repository():
        index = client.get_model_repository_index(headers=headers)
        expect({(MODEL, "1", "READY"), (MODEL, "2", "READY"), ("fashion-cnn", "1", "READY")}
               <= {(e["name"], e.get("version"), e["state"]) for e in index}, f"{index}")
        raises(lambda: client.unload_model(MODEL, headers=headers), 401)
        client.unload_model(MODEL, headers=management)
        expect(not client.is_model_ready(MODEL, headers=headers), "ready after unload")
        x = np.zeros((1, 3, 224, 224), np.float32)
        raises(lambda: client.infer(MODEL, [tensor_input(state["input"], x)], headers=dict(headers)), 404, "unloaded")
        unloaded = [e for e in client.get_model_repository_index(headers=headers) if e["name"] == MODEL]
        expect(all(e["state"] == "UNAVAILABLE" and e["reason"] == "unloaded" for e in unloaded), f"{unloaded}")
        client.load_model(MODEL, headers=management)
        expect(client.is_model_ready(MODEL, headers=headers) and client.is_model_ready(MODEL, "1", headers=headers),
               "not ready after load")
        raises(lambda: client.load_model("no-such-model", headers=management), 404, "no-such-model")
        raises(lambda: client.load_model(MODEL, headers=management, config="{}"), 400, "POST /v1/models")
        return f"{len(index)} versions indexed; unload, then load"
    checks.run("model repository: index, unload, load", repository)

    client.close()


def second_model_checks(checks, port, images, work):
    """ResNet-50 (onnx-light, closed-form weights) beside SqueezeNet through the same client: its own
    input name ("gpu_0/data_0"), BatchNorm and residual adds, logits that run to the thousands. Nothing in
    the protocol's paths may be shaped by the first model."""
    name = "resnet50"
    model, logits = materialize(str(shared("onnx-light", "light_resnet50.onnx")))
    path = work / "resnet50.onnx"
    onnx.save(model, str(path))
    reference = Reference(path, logits)
    headers = {"Authorization": f"Bearer {READ}"}
    client = tritonhttp.InferenceServerClient(f"127.0.0.1:{port}")
    rng = np.random.default_rng(50)
    state = {}
    try:
        checks.run("upload ResNet-50 with closed-form weights", lambda: upload(port, path, name))

        def describe():
            metadata = client.get_model_metadata(name, headers=headers)
            (tensor,), (output,) = metadata["inputs"], metadata["outputs"]
            expect(tensor["shape"] == [-1, 3, 224, 224] and output["shape"] == [-1, 1000], f"{metadata}")
            configuration = client.get_model_config(name, headers=headers)
            expect(configuration["input"][0]["name"] == tensor["name"] and configuration["output"][0]["dims"] == [1000],
                   f"{configuration}")
            expect(client.is_model_ready(name, headers=headers), "not ready")
            state["input"] = tensor["name"]
            return f"input {tensor['name']} {tensor['shape']}, max_batch_size {configuration['max_batch_size']}"
        checks.run("ResNet-50: metadata, configuration and readiness", describe)

        def tensors():
            x = rng.standard_normal((2, 3, 224, 224), dtype=np.float32)
            worst = 0
            for binary, batch in ((True, x), (False, x[:1])):
                result = client.infer(name, [tensor_input(state["input"], batch, binary)], headers=dict(headers),
                                      outputs=[tritonhttp.InferRequestedOutput("logits", binary_data=binary)])
                worst = max(worst, assert_logits(result.as_numpy("logits"), reference(batch), f"binary={binary}"))
            return f"binary batch 2, JSON batch 1: {worst:.2g} of the largest logit ({np.abs(reference(x)).max():.0f})"
        checks.run("ResNet-50: infer FP32, binary and JSON", tensors)

        def encoded():
            paths = [images / "astronaut.png", images / "chelsea_progressive.jpg"]
            data = np.array([p.read_bytes() for p in paths], dtype=np.object_)
            expected = reference(np.stack([imagenet_input(p) for p in paths]))
            result = client.infer(name, [tensor_input(state["input"], data)], headers=dict(headers))
            worst = assert_logits(result.as_numpy("logits"), expected, "encoded images")
            top = client.infer(name, [tensor_input(state["input"], data)], headers=dict(headers),
                               outputs=[tritonhttp.InferRequestedOutput("logits", class_count=3)]).as_numpy("logits")
            for row, path in enumerate(paths):
                indices = [int(text(entry).split(":")[1]) for entry in top[row]]
                expect(indices == list(np.argsort(-expected[row], kind="stable")[:3]), f"{path.name}: {top[row]}")
            return f"{worst:.2g} of the largest logit; " + ", ".join(f"{p.name} {text(top[i][0])}" for i, p in enumerate(paths))
        checks.run("ResNet-50: BYTES holding a PNG and a progressive JPEG, logits and top classes", encoded)

        def statistics():
            (stats,) = client.get_inference_statistics(name, headers=headers)["model_stats"]
            expect(stats["inference_stats"]["success"]["count"] == 4 and stats["inference_count"] == 7, f"{stats}")
            every = {s["name"] for s in client.get_inference_statistics(headers=headers)["model_stats"]}
            expect({MODEL, name, "fashion-cnn"} <= every, f"{every}")
            return f"4 requests, 7 images; /v2/models/stats lists {', '.join(sorted(every))}"
        checks.run("ResNet-50: statistics, and /v2/models/stats lists every model", statistics)
    finally:
        client.close()


def perf_analyzer_checks(checks, port, work):
    """Triton's perf_analyzer (PyPI perf-analyzer, through scripts/perf_analyzer.sh, which installs
    it on first use) for 40 requests at two concurrent requests: it reads the metadata, the
    configuration and the statistics around its measurement, and stops on any protocol error. A
    fixed count rather than windows until stable: on a busy machine windows may never agree, and
    stability is the benchmark's business (make bench-clients), not the protocol's."""
    def run():
        report = work / "perf.csv"
        command = [str(REPO / "scripts" / "perf_analyzer.sh"), "-m", MODEL, "-u", f"127.0.0.1:{port}", "-i", "http",
                   "-H", f"Authorization: Bearer {READ}", "--concurrency-range", "2:2", "--request-count", "40",
                   "-f", str(report)]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
        output = finished.stdout + finished.stderr
        expect(finished.returncode == 0 and report.exists(), f"exit {finished.returncode}: {output[-1500:]}")
        expect("error" not in finished.stdout.lower(), output[-1500:])
        row = next(csv.DictReader(io.StringIO(report.read_text())))
        expect(float(row["Inferences/Second"]) > 0, f"{row}")
        return (f"{float(row['Inferences/Second']):.0f} infer/s, p50 {float(row['p50 latency']) / 1000:.1f} ms; server queue "
                f"{row['Server Queue']} µs, compute {row['Server Compute Infer']} µs")
    checks.run("perf_analyzer measures /v2 over HTTP without an error", run)


def kserve_checks(checks, port, reference, images):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    headers = {"Authorization": f"Bearer {READ}"}
    base = f"http://127.0.0.1:{port}"
    rng = np.random.default_rng(22)
    input_name = json.loads(raw(port, "GET", f"/v2/models/{MODEL}")[2])["inputs"][0]["name"]

    async def v2(binary):
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=120))
        try:
            x = rng.standard_normal((2, 3, 224, 224), dtype=np.float32)
            tensor = InferInput(input_name, list(x.shape), "FP32")
            tensor.set_data_from_numpy(x, binary_data=binary)
            response = await client.infer(base, InferRequest(MODEL, [tensor]), model_name=MODEL, headers=dict(headers))
            expect(await client.is_model_ready(base, MODEL, headers=headers), "not ready")
            return assert_logits(response.outputs[0].as_numpy(), reference(x), f"kserve v2 binary={binary}")
        finally:
            await client.close()

    for binary in (False, True):
        checks.run(f"kserve SDK v2 infer, {'binary' if binary else 'JSON'}",
                   lambda binary=binary: f"{asyncio.run(v2(binary)):.2g} of the largest logit")

    async def v1_tensors():
        client = InferenceRESTClient(RESTConfig(protocol="v1", timeout=120))
        try:
            x = rng.standard_normal((2, 3, 224, 224), dtype=np.float32)
            response = await client.infer(base, {"instances": x.tolist()}, model_name=MODEL, headers=dict(headers))
            logits = np.array([prediction["logits"] for prediction in response["predictions"]], dtype=np.float32)
            worst = assert_logits(logits, reference(x), "kserve v1 tensors")
            expected = reference(x).argmax(axis=1)
            expect([p["index"] for p in response["predictions"]] == list(expected), f"{response['predictions'][0]['index']}")
            expect(await client.is_model_ready(base, MODEL, headers=dict(headers)), "v1 model not ready")
            return worst
        finally:
            await client.close()

    async def v1_images():
        client = InferenceRESTClient(RESTConfig(protocol="v1", timeout=120))
        try:
            paths = [images / "fish.jpg", images / "chelsea.png"]
            encoded = [base64.b64encode(p.read_bytes()).decode() for p in paths]
            data = {"instances": [{"image_bytes": {"b64": encoded[0]}, "key": "1"}, {"b64": encoded[1]}]}
            response = await client.infer(base, data, model_name=MODEL, headers=dict(headers))
            logits = np.array([prediction["logits"] for prediction in response["predictions"]], dtype=np.float32)
            worst = assert_logits(logits, reference(np.stack([imagenet_input(p) for p in paths])), "kserve v1 images")
            labels = [prediction["label"] for prediction in response["predictions"]]
            return f"{worst:.2g} of the largest logit; {', '.join(labels)}"
        finally:
            await client.close()

    async def v1_explain():
        client = InferenceRESTClient(RESTConfig(protocol="v1", timeout=120))
        try:
            encoded = base64.b64encode((images / "chelsea.png").read_bytes()).decode()
            data = {"instances": [{"b64": encoded}], "parameters": {"method": "gradient", "class": 281}}
            response = await client.explain(base, MODEL, data, headers=dict(headers))
            (explanation,) = response["explanations"]
            expect(explanation["method"] == "gradient" and explanation["class"]["index"] == 281, f"{explanation['class']}")
            status, fields, png = raw(port, "GET", explanation["png_url"])
            expect(status == 200 and png.startswith(b"\x89PNG"), f"{status} {fields.get('Content-Type')}")
            bad = {"instances": [[0.0] * 10]}
            try:
                await client.explain(base, MODEL, bad, headers=dict(headers))
                raise AssertionError("a tensor was explained")
            except httpx.HTTPStatusError as error:
                expect(error.response.status_code == 400, f"{error.response.status_code}")
            return f"class {explanation['class']}, map at {explanation['png_url']}"
        finally:
            await client.close()

    checks.run("kserve SDK v1 predict, tensors", lambda: f"{asyncio.run(v1_tensors()):.2g} of the largest logit")
    checks.run("kserve SDK v1 predict, base64 images", lambda: asyncio.run(v1_images()))
    checks.run("kserve SDK v1 explain: our saliency", lambda: asyncio.run(v1_explain()))


def main():
    parser = argparse.ArgumentParser(description="tritonclient and the kserve SDK against a real salient serve.")
    parser.add_argument("--salient", default=str(REPO / ".build" / "release" / "salient"))
    args = parser.parse_args()
    checks = Checks()
    work = Path(tempfile.mkdtemp(prefix="salient-clients-"))
    model, logits = materialize(str(shared("onnx-light", "light_squeezenet.onnx")))
    onnx_path = work / "squeezenet.onnx"
    onnx.save(model, str(onnx_path))
    reference = Reference(onnx_path, logits)
    images = shared("images")
    server = Server(args.salient, ["--token", MANAGEMENT, "--read-token", READ]).wait_listening()
    try:
        checks.run("upload SqueezeNet with closed-form weights", lambda: upload(server.port, onnx_path))
        triton_checks(checks, server.port, reference, images, onnx_path)
        second_model_checks(checks, server.port, images, work)
        perf_analyzer_checks(checks, server.port, work)
        kserve_checks(checks, server.port, reference, images)
    finally:
        server.stop()
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
