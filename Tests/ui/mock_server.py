#!/usr/bin/env python3
"""A stand-in for `salient serve` while the real routes are being built: serves public/ and
answers the API of /work/notes/api.md with made-up but well-formed data, so the browser test
can drive the UI today. Not a model of the service's numbers, only of its JSON shapes.

    python Tests/ui/mock_server.py --port 8765 [--token SECRET]   (or SALIENT_PORT, SALIENT_API_TOKEN)
"""

import argparse
import email.policy
import hashlib
import io
import json
import math
import os
import signal
import sys
import tarfile
import threading
import time
import uuid
import zipfile
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from png import encode_png, png_size  # noqa: E402

PUBLIC = Path(__file__).resolve().parents[2] / "public"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
    ".json": "application/json", ".ico": "image/x-icon",
}
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
ARCHITECTURE = [  # fashion-cnn as in models/fashion-cnn.architecture.json
    ("conv1", "conv2d", dict(filters=32, kernel=3, pad=1, stride=1)), ("bn1", "batchnorm", {}), ("relu1", "relu", {}),
    ("pool1", "maxpool2d", dict(kernel=2, pad=0, stride=2)),
    ("conv2", "conv2d", dict(filters=64, kernel=3, pad=1, stride=1)), ("bn2", "batchnorm", {}), ("relu2", "relu", {}),
    ("pool2", "maxpool2d", dict(kernel=2, pad=0, stride=2)),
    ("flatten", "flatten", {}), ("dropout", "dropout", {}), ("fc1", "dense", dict(units=128)), ("fc2", "dense", dict(units=None)),
]
METHODS = {"gradient", "smoothgrad", "integrated_gradients", "gradcam", "guided_backprop"}
COLORMAPS = {"gray", "viridis", "inferno", "magma", "jet"}
FINAL = {"succeeded", "failed", "cancelled"}


class APIError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def analysis(classes):
    """Layer table with the receptive-field arithmetic of the CNN module (pixel centres are integers)."""
    c, h, w = 1, 28, 28
    size, jump, start = 1, 1, 0.0
    layers, total_params, total_macs = [], 0, 0
    for name, kind, o in ARCHITECTURE:
        params = macs = 0
        if kind in ("conv2d", "maxpool2d"):
            k, s, p = o["kernel"], o["stride"], o["pad"]
            start += ((k - 1) / 2 - p) * jump
            size += (k - 1) * jump
            jump *= s
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            if kind == "conv2d":
                params = o["filters"] * c * k * k
                macs = o["filters"] * h * w * c * k * k
                c = o["filters"]
            shape = [c, h, w]
        elif kind == "batchnorm":
            params, shape = 4 * c, [c, h, w]
        elif kind in ("relu", "dropout"):
            shape = layers[-1]["output_shape"]
        elif kind == "flatten":
            c, shape = c * h * w, [c * h * w]
        else:
            units = o["units"] or classes
            params, macs = c * units + units, c * units
            c, shape = units, [units]
        if len(shape) == 1:
            size, jump, start = 28, 28, 13.5
        total_params += params
        total_macs += macs
        layers.append({"name": name, "type": kind, "output_shape": shape, "params": params, "macs": macs,
                       "receptive_field": {"size": [size, size], "jump": [jump, jump], "start": [start, start]}})
    return {"layers": layers, "total_params": total_params, "trainable_params": total_params, "total_macs": total_macs}


def colormap(name, t):
    """An approximation of each colormap, enough to tell them apart on screen."""
    t = min(1.0, max(0.0, t))
    if name == "gray":
        v = int(255 * t)
        return v, v, v
    if name == "jet":
        return tuple(int(255 * min(1, max(0, 1.5 - abs(4 * t - k)))) for k in (3, 2, 1))
    ends = {"viridis": ((68, 1, 84), (33, 145, 140), (253, 231, 37)),
            "inferno": ((0, 0, 4), (188, 55, 84), (252, 255, 164)),
            "magma": ((0, 0, 4), (183, 55, 121), (252, 253, 191))}[name]
    a, b = (ends[0], ends[1]) if t < 0.5 else (ends[1], ends[2])
    u = t * 2 if t < 0.5 else t * 2 - 1
    return tuple(int(a[i] + (b[i] - a[i]) * u) for i in range(3))


def saliency_png(width, height, class_index, cmap, overlay, alpha):
    cx, cy = width * (0.3 + 0.04 * class_index), height * (0.35 + 0.03 * class_index)
    sigma = max(width, height) / 5
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            t = math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma))
            r, g, b = colormap(cmap, t)
            if overlay:  # over a neutral backdrop: the mock does not decode the photo
                r, g, b = (int(alpha * v + (1 - alpha) * 128) for v in (r, g, b))
            pixels += bytes((r, g, b))
    return encode_png(width, height, bytes(pixels))


class State:
    def __init__(self, token):
        self.token = token
        self.lock = threading.Condition()
        self.models = {"fashion-cnn": {"labels": FASHION, "default": True, "format": "native", "created_by": "salient train"}}
        self.datasets = {}
        self.jobs = {}
        self.events = {}  # job id -> list of (event, payload)
        self.maps = {}
        self.cancelled = set()  # ids of jobs asked to stop

    def summary(self, name):
        m = self.models[name]
        return {"name": name, "default": m["default"], "classes": len(m["labels"]), "input": [1, 28, 28], "format": m["format"]}

    def model(self, name):
        if name not in self.models:
            raise APIError(404, "not_found", f"no model named {name!r}")
        return self.models[name]


class Handler(BaseHTTPRequestHandler):
    server_version = "salient-mock/0"
    state: State = None

    def log_message(self, fmt, *args):
        if os.environ.get("MOCK_VERBOSE"):
            super().log_message(fmt, *args)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            # As in the service: classify and saliency are POSTs that change nothing.
            reads = method == "GET" or (len(parts) == 4 and parts[3] in ("classify", "saliency"))
            if not reads and self.state.token and self.headers.get("Authorization") != f"Bearer {self.state.token}":
                raise APIError(401, "unauthorized", "this route needs Authorization: Bearer <token>")
            if not parts or parts[0] not in ("v1", "healthz", "readyz"):
                return self.static(url.path) if method == "GET" else self.fail(APIError(405, "method_not_allowed", "static files are read-only"))
            self.route(method, parts, query)
        except APIError as error:
            self.fail(error)
        except (ValueError, KeyError) as error:
            self.fail(APIError(400, "bad_parameter", str(error)))

    def route(self, method, parts, query):
        s = self.state
        if parts == ["healthz"]:
            return self.json({"status": "ok"})
        if parts == ["readyz"]:
            return self.json({"status": "ready", "models": len(s.models)})
        rest = parts[1:]
        if rest == ["models"] and method == "GET":
            return self.json({"models": [s.summary(n) for n in s.models]})
        if rest == ["models"] and method == "POST":
            return self.upload_model()
        if len(rest) == 2 and rest[0] == "models" and method == "DELETE":
            s.model(rest[1])
            if s.models[rest[1]]["default"]:
                raise APIError(409, "conflict", "the default model cannot be deleted")
            with s.lock:
                del s.models[rest[1]]
            return self.send(204, b"", "application/json")
        if len(rest) == 3 and rest[0] == "models" and rest[2] == "export" and method == "GET":
            s.model(rest[1])
            fmt = query.get("format", "onnx")
            if fmt not in ("onnx", "safetensors"):
                raise APIError(400, "bad_parameter", "format must be onnx or safetensors")
            return self.send(200, f"mock {fmt} export of {rest[1]}".encode(), "application/octet-stream",
                             {"Content-Disposition": f'attachment; filename="{rest[1]}.{fmt}"'})
        if len(rest) == 2 and rest[0] == "models" and method == "GET":
            m = s.model(rest[1])
            card = {"name": rest[1], "labels": m["labels"],
                    "preprocessing": {"kind": "fashion-mnist", "resize": 28, "mean": [0.286], "std": [0.353]},
                    "provenance": {"created_by": m["created_by"]},
                    "metrics": {"validation_accuracy": 0.91},
                    "weights_sha256": hashlib.sha256(rest[1].encode()).hexdigest()}
            return self.json({"card": card, "analysis": analysis(len(m["labels"])), "input": [1, 28, 28]})
        if len(rest) == 3 and rest[0] == "models" and rest[2] == "classify" and method == "POST":
            return self.classify(rest[1], query)
        if len(rest) == 3 and rest[0] == "models" and rest[2] == "saliency" and method == "POST":
            return self.saliency(rest[1], query)
        if len(rest) == 2 and rest[0] == "saliency" and rest[1].endswith(".png") and method == "GET":
            png = s.maps.get(rest[1][:-4])
            if png is None:
                raise APIError(404, "not_found", "no such saliency map")
            return self.send(200, png, "image/png")
        if rest == ["datasets"]:
            return self.upload_dataset() if method == "POST" else self.json({"datasets": list(s.datasets.values())})
        if rest == ["jobs"]:
            return self.start_job() if method == "POST" else self.json({"jobs": list(s.jobs.values())})
        if len(rest) >= 2 and rest[0] == "jobs":
            job = s.jobs.get(rest[1])
            if job is None:
                raise APIError(404, "not_found", f"no job {rest[1]!r}")
            if len(rest) == 2:
                return self.json(job)
            if rest[2] == "cancel" and method == "POST":
                with s.lock:
                    if job["state"] not in FINAL:
                        s.cancelled.add(job["id"])
                return self.json(job)
            if rest[2] == "events":
                return self.stream(rest[1])
        raise APIError(404, "not_found", f"no route for {method} {self.path}")

    def image_body(self):
        body = self.body()
        if not body:
            raise APIError(400, "bad_parameter", "the request body is empty; send the image bytes")
        if not (body.startswith(b"\x89PNG") or body.startswith(b"\xff\xd8")):
            raise APIError(415, "unsupported_media_type", "only PNG and JPEG images are accepted")
        return body

    def ranked(self, name, body):
        labels = self.state.model(name)["labels"]
        digest = hashlib.sha256(body + name.encode()).digest()
        logits = [digest[i % len(digest)] / 32.0 for i in range(len(labels))]
        peak = max(logits)
        exps = [math.exp(v - peak) for v in logits]
        total = sum(exps)
        order = sorted(range(len(labels)), key=lambda i: -logits[i])
        return [{"index": i, "label": labels[i], "probability": exps[i] / total, "logit": logits[i]} for i in order]

    def classify(self, name, query):
        top_k = int(query.get("top_k", 5))
        if not 1 <= top_k <= 1000:
            raise APIError(400, "bad_parameter", "top_k must be between 1 and 1000")
        body = self.image_body()
        started = time.perf_counter()
        predictions = self.ranked(name, body)[:top_k]
        self.json({"model": name, "predictions": predictions,
                   "timing_ms": {"decode": 1.2, "preprocess": 0.3, "inference": (time.perf_counter() - started) * 1000}})

    def saliency(self, name, query):
        labels = self.state.model(name)["labels"]
        method, cmap = query.get("method", "gradient"), query.get("colormap", "inferno")
        if method not in METHODS:
            raise APIError(400, "bad_parameter", f"unknown method {method!r}")
        if cmap not in COLORMAPS:
            raise APIError(400, "bad_parameter", f"unknown colormap {cmap!r}")
        alpha = float(query.get("alpha", 0.5))
        if not 0 <= alpha <= 1:
            raise APIError(400, "bad_parameter", "alpha must be between 0 and 1")
        body = self.image_body()
        ranked = self.ranked(name, body)
        wanted = query.get("class", "top")
        if wanted == "top":
            chosen = ranked[0]
        elif wanted.isdigit() and int(wanted) < len(labels):
            chosen = next(p for p in ranked if p["index"] == int(wanted))
        elif wanted in labels:
            chosen = next(p for p in ranked if p["label"] == wanted)
        else:
            raise APIError(400, "bad_parameter", f"class {wanted!r} is neither an index below {len(labels)} nor a label")
        width, height = png_size(body) or (224, 224)
        scale = min(1.0, 320 / max(width, height))  # keeps the pure-Python encoder quick
        png = saliency_png(max(1, int(width * scale)), max(1, int(height * scale)), chosen["index"], cmap,
                           query.get("overlay", "true") == "true", alpha)
        map_id = uuid.uuid4().hex[:16]
        with self.state.lock:
            self.state.maps[map_id] = png
            while len(self.state.maps) > 64:
                self.state.maps.pop(next(iter(self.state.maps)))
        if query.get("format", "png") == "png":
            return self.send(200, png, "image/png", {"X-Saliency-Id": map_id, "Link": f"</v1/saliency/{map_id}.png>"})
        result = {"model": name, "method": method, "class": {"index": chosen["index"], "label": chosen["label"]},
                  "score": chosen["logit"], "probability": chosen["probability"],
                  "map": {"width": 28, "height": 28, "values": [0.0] * 784}, "png_url": f"/v1/saliency/{map_id}.png"}
        if method == "integrated_gradients":
            result["completeness_error"] = 0.0012
        self.json(result)

    def upload_model(self):
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("multipart/form-data"):
            raise APIError(415, "unsupported_media_type", "send a multipart form with file, name, labels, preprocessing")
        message = BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + self.body())
        fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                  for part in message.iter_parts()}
        if not fields.get("file"):
            raise APIError(400, "bad_parameter", "the form needs a 'file' part with the ONNX model")
        name = (fields.get("name") or b"").decode().strip()
        labels = [line.strip() for line in (fields.get("labels") or b"").decode().splitlines() if line.strip()]
        if not name or not labels:
            raise APIError(400, "bad_parameter", "the form needs 'name' and 'labels'")
        if name in self.state.models:
            raise APIError(409, "conflict", f"a model named {name!r} exists")
        with self.state.lock:
            self.state.models[name] = {"labels": labels, "default": False, "format": "onnx", "created_by": "uploaded ONNX file"}
        self.json(self.state.summary(name), 201)

    def upload_dataset(self):
        body = self.body()
        try:
            if body.startswith(b"PK"):
                with zipfile.ZipFile(io.BytesIO(body)) as archive:
                    names = [i.filename for i in archive.infolist() if not i.is_dir()]
            else:
                with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
                    names = [m.name for m in archive.getmembers() if m.isfile()]
        except (zipfile.BadZipFile, tarfile.TarError, OSError) as error:
            raise APIError(415, "unsupported_media_type", f"not a zip archive ({error})")
        counts, skipped = {}, 0
        for path in names:
            parts = [p for p in path.split("/") if p]
            if len(parts) >= 2 and parts[-1].lower().endswith((".png", ".jpg", ".jpeg")):
                counts[parts[-2]] = counts.get(parts[-2], 0) + 1
            else:
                skipped += 1
        if len(counts) < 2:
            raise APIError(400, "bad_parameter", "a dataset needs at least two class folders with images")
        dataset = {"id": "ds-" + uuid.uuid4().hex[:8], "classes": sorted(counts), "counts": counts, "skipped": skipped,
                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with self.state.lock:
            self.state.datasets[dataset["id"]] = dataset
        self.json(dataset, 201)

    def start_job(self):
        try:
            request = json.loads(self.body() or b"{}")
        except json.JSONDecodeError as error:
            raise APIError(400, "bad_parameter", f"the body is not JSON: {error}")
        s = self.state
        s.model(request.get("base_model", ""))
        dataset = s.datasets.get(request.get("dataset"))
        if dataset is None:
            raise APIError(404, "not_found", f"no dataset {request.get('dataset')!r}")
        output = request.get("output_model", "")
        if not output or output in s.models:
            raise APIError(409, "conflict", f"output_model {output!r} is empty or taken")
        epochs = int(request.get("epochs", 3))
        if not 1 <= epochs <= 200:
            raise APIError(400, "bad_parameter", "epochs must be between 1 and 200")
        job = {"id": "job-" + uuid.uuid4().hex[:8], "state": "queued", "request": request,
               "progress": {"stage": 1, "epoch": 0, "epochs": epochs, "step": 0, "steps": 4},
               "metrics": [], "confusion_matrix": None, "labels": dataset["classes"], "per_class": [],
               "error": None, "output_model": output,
               "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "started": None, "finished": None}
        with s.lock:
            s.jobs[job["id"]] = job
            s.events[job["id"]] = []
        threading.Thread(target=train, args=(s, job, dataset), daemon=True).start()
        self.json(job, 202)

    def stream(self, job_id):
        s = self.state
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        with s.lock:
            sent = len(s.events[job_id])
            snapshot = dict(s.jobs[job_id])
        self.event("state", snapshot)
        if snapshot["state"] in FINAL:
            return
        while True:
            with s.lock:
                s.lock.wait_for(lambda: len(s.events[job_id]) > sent, timeout=15)
                pending = s.events[job_id][sent:]
                sent += len(pending)
            for kind, payload in pending:
                self.event(kind, payload)
                if kind == "state" and payload["state"] in FINAL:
                    return

    def event(self, kind, payload):
        with self.state.lock:
            data = json.dumps(payload)
        self.wfile.write(f"event: {kind}\ndata: {data}\n\n".encode())
        self.wfile.flush()

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 64 << 20:
            raise APIError(413, "too_large", "the body is larger than 64 MiB")
        return self.rfile.read(length) if length else b""

    def static(self, path):
        relative = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (PUBLIC / relative).resolve()
        if PUBLIC not in target.parents or not target.is_file():
            raise APIError(404, "not_found", f"no file {path}")
        self.send(200, target.read_bytes(), CONTENT_TYPES.get(target.suffix, "application/octet-stream"))

    def json(self, value, status=200):
        with self.state.lock:  # jobs change under the training thread
            body = json.dumps(value).encode()
        self.send(status, body, "application/json")

    def fail(self, error):
        self.send(error.status, json.dumps({"error": {"code": error.code, "message": error.message}}).encode(), "application/json")

    def send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


def train(state, job, dataset):
    """Plays a job through its epochs with a loss that falls and an accuracy that rises."""
    def emit(kind, payload):
        with state.lock:
            state.events[job["id"]].append((kind, payload))
            state.lock.notify_all()

    def finish(final):
        with state.lock:
            job["state"] = final
            job["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        emit("state", dict(job))

    time.sleep(0.2)
    with state.lock:
        job["state"], job["started"] = "running", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    emit("state", dict(job))
    epochs, steps = job["progress"]["epochs"], job["progress"]["steps"]
    for epoch in range(1, epochs + 1):
        for step in range(1, steps + 1):
            time.sleep(0.12)
            if job["id"] in state.cancelled:
                return finish("cancelled")
            with state.lock:
                job["progress"] = {"stage": 1, "epoch": epoch, "epochs": epochs, "step": step, "steps": steps}
            emit("progress", dict(job["progress"]))
        entry = {"epoch": epoch, "stage": 1, "train_loss": 1.6 / (1 + epoch), "validation_loss": 1.8 / (1 + 0.8 * epoch),
                 "validation_accuracy": 1 - 0.5 / (1 + epoch)}
        with state.lock:
            job["metrics"].append(entry)
        emit("epoch", entry)
    classes = dataset["classes"]
    held_out = [max(1, round(dataset["counts"][c] * job["request"].get("validation_split", 0.2))) for c in classes]
    matrix = [[n - 1 if i == j else (1 if j == (i + 1) % len(classes) else 0) for j in range(len(classes))] for i, n in enumerate(held_out)]
    with state.lock:
        job["confusion_matrix"] = matrix
        job["per_class"] = [{"label": c, "precision": matrix[i][i] / max(1, sum(r[i] for r in matrix)),
                             "recall": matrix[i][i] / max(1, sum(matrix[i]))} for i, c in enumerate(classes)]
        state.models[job["output_model"]] = {"labels": classes, "default": False, "format": "native",
                                             "created_by": f"fine-tuning job {job['id']}"}
    finish("succeeded")


def make_server(port=0, token=None, host="127.0.0.1"):
    handler = type("BoundHandler", (Handler,), {"state": State(token)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("SALIENT_PORT", 8765)))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default=os.environ.get("SALIENT_API_TOKEN") or None,
                        help="require this bearer token on state-changing requests")
    args = parser.parse_args()
    server = make_server(args.port, args.token, args.host)
    # Like the real server: SIGTERM stops accepting and returns normally.
    stop = lambda *_: threading.Thread(target=server.shutdown).start()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"mock Salient on http://{args.host}:{server.server_address[1]}/", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
