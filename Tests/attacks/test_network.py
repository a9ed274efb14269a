#!/usr/bin/env python3
"""Attacks on the network side of a real `salient serve`, each built here, each measured.

    python3 Tests/attacks/test_network.py --salient .build/release/salient [--results FILE]
    python3 Tests/attacks/test_network.py --salient OLD/salient --config OLD/config/salient.json --measure-only

Starts the binary with its default configuration (a free port, a fresh data folder, and a token
where the attack is on authorization), then: refuses to start exposed without a token or with an
empty one; sends unauthenticated 200 MB uploads; floods the inference queue; holds large bodies
open on many connections; pipelines thousands of requests on one connection; forges cross-site
requests and rebound host names. Each attack's peak resident memory is read from the server's
/proc/PID/status (VmHWM, reset before each attack through /proc/PID/clear_refs) and must stay
under 1 GB; refusals are timed from the request head to the status line.

Prints PASS or FAIL per check, then a table of the measurements (also written to --results);
exits 1 on any failure. --measure-only runs the attacks that measure memory and refusal time,
for a side-by-side run against an older binary (with its own configuration file).
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from png import encode_png  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MEMORY_TARGET_MB = 1024
TOKEN = "attack-test-token-0123456789abcdef"
CONFIG = None  # --config: the configuration file the servers read (SALIENT_CONFIG)


class Checks:
    def __init__(self):
        self.failed = 0
        self.passed = 0
        self.measurements = []

    def run(self, name, step):
        started = time.time()
        try:
            detail = step()
            self.passed += 1
            print(f"PASS {name}" + (f" — {detail}" if detail else "") + f" ({time.time() - started:.1f} s)", flush=True)
        except Exception as error:  # one failed attack is reported and the next still runs
            self.failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)

    def measure(self, attack, peak_mb, baseline_mb, refusal_ms, outcome):
        self.measurements.append({"attack": attack, "peak_mb": round(peak_mb, 1), "baseline_mb": round(baseline_mb, 1),
                                  "refusal_ms": refusal_ms, "outcome": outcome})


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


class Server:
    """`salient serve` on a free port with its own data folder, default settings otherwise."""

    def __init__(self, binary, arguments=(), environment=None):
        self.data = tempfile.mkdtemp(prefix="salient-attack-")
        self.log_path = Path(self.data) / "serve.log"
        self.log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENT_")}
        if CONFIG:
            env["SALIENT_CONFIG"] = CONFIG
        env.update(environment or {})
        self.process = subprocess.Popen([binary, "serve", "--port", "0", "--data-dir", self.data, *arguments],
                                        cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None

    def wait_listening(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self.log_path.read_text(errors="replace")
            # The second form is what builds before the exposure line logged.
            match = re.search(r"listening on (\S+):(\d+):", log) or re.search(r"port=(\d+)() .*listening", log)
            if match:
                self.port = int(match.group(2) or match.group(1))
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}: {self.output()[-500:]}")
            time.sleep(0.05)
        raise TimeoutError(f"not listening within {timeout} s")

    def output(self):
        return self.log_path.read_text(errors="replace")

    def memory_mb(self):
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        value = lambda key: int(re.search(rf"{key}:\s+(\d+) kB", status).group(1)) / 1024
        return value("VmRSS"), value("VmHWM")

    def reset_peak(self):
        """From here on VmHWM is the peak of what follows (Linux 4.0+: clear_refs 5)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        return self.memory_mb()[0]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.data, ignore_errors=True)


def connect(port, timeout=30):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_head(sock):
    """The status code and fields of one response head; (0, {}) when the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            piece = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            piece = b""
        if not piece:
            return 0, {}, data
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), fields, rest


def read_response(sock):
    status, fields, rest = read_head(sock)
    length = int(fields.get("content-length", "0"))
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return status, fields, rest[:length]


def request(port, method, target, body=b"", headers=(), host=None):
    sock = connect(port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", f"Content-Length: {len(body)}",
                 "Connection: close", *headers]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return read_response(sock)
    finally:
        sock.close()


def noise_png(width, height, seed):
    rng = random.Random(seed)
    return encode_png(width, height, bytes(rng.getrandbits(8) for _ in range(width * height * 3)))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else None


def refusal_summary(times):
    return {"median": round(statistics.median(times), 1), "max": round(max(times), 1)} if times else None


# The attacks.

def posture(binary, checks):
    def exposed_without_token():
        for arguments, environment, needle in [
            (["--host", "0.0.0.0"], {}, "refusing to listen on 0.0.0.0 without a token"),
            (["--host", "::"], {}, "--insecure-open"),
            (["--token", ""], {}, "--token is empty"),
            (["--read-token", ""], {}, "--read-token is empty"),
            ([], {"SALIENT_API_TOKEN": ""}, "SALIENT_API_TOKEN is empty"),
            ([], {"SALIENT_HOST": "0.0.0.0"}, "SALIENT_INSECURE_OPEN=1"),
        ]:
            server = Server(binary, arguments, environment)
            try:
                status = server.process.wait(timeout=60)
                expect(status != 0, f"{arguments} {environment} started")
                expect(needle in server.output(), f"{arguments} {environment}: {server.output()[-300:]!r}")
            finally:
                server.stop()
        return "0.0.0.0 and :: without a token, and empty tokens, stop the start with the setting named"
    checks.run("the service will not start exposed or with an empty token", exposed_without_token)

    def loud_insecure_open():
        server = Server(binary, ["--host", "0.0.0.0", "--insecure-open"]).wait_listening()
        try:
            warnings = [line for line in server.output().splitlines() if "INSECURE" in line]
            expect(len(warnings) >= 3 and all(" warning " in line for line in warnings), f"{warnings}")
            return warnings[0].split("INSECURE:", 1)[1].strip()
        finally:
            server.stop()
    checks.run("--insecure-open listens on every interface and says so loudly", loud_insecure_open)

    def default_is_loopback():
        server = Server(binary).wait_listening()
        try:
            expect("listening on 127.0.0.1:" in server.output(), server.output()[-300:])
            expect(request(server.port, "GET", "/healthz")[0] == 200, "no answer on 127.0.0.1")
            return f"port {server.port}"
        finally:
            server.stop()
    checks.run("by default it listens on 127.0.0.1 only", default_is_loopback)


def unauthenticated_uploads(binary, checks):
    """Three 200 MB uploads without the token, sent at once: one waits for 100 Continue, two send at once."""
    server = Server(binary, ["--host", "127.0.0.1", "--token", TOKEN]).wait_listening()
    size = 200 * 1024 * 1024
    results = []

    def upload(target, content_type, expect_continue):
        sock = connect(server.port)
        head = (f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {size}\r\n" + ("Expect: 100-continue\r\n" if expect_continue else "") + "\r\n")
        started = time.perf_counter()
        sock.sendall(head.encode())
        sent = 0
        piece = b"\0" * (1 << 20)
        answer = {}

        def reader():
            answer["status"], answer["fields"], _ = read_head(sock)
            answer["ms"] = (time.perf_counter() - started) * 1000
        thread = threading.Thread(target=reader)
        thread.start()
        if not expect_continue:
            sock.settimeout(5)
            try:
                while sent < size and thread.is_alive():
                    sock.sendall(piece)
                    sent += len(piece)
            except OSError:
                pass  # the server closed after answering
        thread.join(30)
        sock.close()
        results.append((target, expect_continue, answer.get("status"), answer.get("ms"), sent))

    try:
        baseline = server.reset_peak()
        threads = [threading.Thread(target=upload, args=args) for args in [
            ("/v1/datasets", "application/zip", True),
            ("/v1/datasets", "application/zip", False),
            ("/v1/models", "multipart/form-data; boundary=x", False)]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rss, peak = server.memory_mb()

        def refused():
            expect(all(status == 401 for _, _, status, _, _ in results), f"{results}")
            return ", ".join(f"{target}{' (Expect)' if waited else ''}: 401 in {ms:.1f} ms after {sent >> 20} MB sent"
                             for target, waited, _, ms, sent in results)
        checks.run("unauthenticated 200 MB uploads are refused on their head (no 100 Continue)", refused)

        def bounded():
            expect(peak - baseline < 64, f"peak {peak:.0f} MB from {baseline:.0f} MB")
            return f"VmHWM {peak:.0f} MB from {baseline:.0f} MB"
        checks.run("the refused bodies are never held", bounded)
        checks.measure("3 unauthenticated 200 MB uploads", peak, baseline,
                       refusal_summary([ms for *_, ms, _ in results if ms is not None]), "401 x3")
    finally:
        server.stop()


def queue_flood(binary, checks):
    """Far more saliency requests at once than the handlers and the queue hold."""
    server = Server(binary).wait_listening()
    image = noise_png(320, 240, 1)
    count = 400
    outcomes = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def one():
        try:
            sock = connect(server.port, timeout=120)
            head = (f"POST /v1/models/fashion-cnn/saliency?method=smoothgrad HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                    f"Content-Type: image/png\r\nContent-Length: {len(image)}\r\nConnection: close\r\n\r\n").encode()
            barrier.wait()
            started = time.perf_counter()
            sock.sendall(head + image)
            status, fields, _ = read_head(sock)
            elapsed = (time.perf_counter() - started) * 1000
            sock.close()
        except Exception as error:  # noqa: BLE001 - recorded as an outcome of its own
            status, fields, elapsed = f"error {error}", {}, None
        with lock:
            outcomes.append((status, fields.get("retry-after"), elapsed))

    try:
        baseline = server.reset_peak()
        threads = [threading.Thread(target=one) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rss, peak = server.memory_mb()
        statuses = {}
        for status, _, _ in outcomes:
            statuses[status] = statuses.get(status, 0) + 1
        shed = [ms for status, _, ms in outcomes if status == 503]
        metrics = request(server.port, "GET", "/metrics")[2].decode()
        counted = sum(int(m.group(1)) for m in re.finditer(r'salient_http_requests_shed_total\{queue="inference",reason="queue_full"\} (\d+)', metrics))

        def answered():
            expect(set(statuses) <= {200, 503}, f"statuses {statuses}")
            expect(statuses.get(503, 0) > 0, f"no 503 in {statuses}")
            expect(statuses.get(200, 0) > 0, f"nothing served in {statuses}")
            expect(all(retry == "1" for status, retry, _ in outcomes if status == 503), "a 503 without Retry-After: 1")
            expect(counted == statuses[503], f"/metrics counts {counted} shed requests, {statuses[503]} were answered 503")
            return f"{statuses.get(200)} served, {statuses.get(503)} answered 503 with Retry-After (counted in /metrics)"
        checks.run(f"{count} saliency requests at once: the queue is bounded, the rest get 503", answered)

        def bounded():
            expect(peak < MEMORY_TARGET_MB, f"VmHWM {peak:.0f} MB")
            return f"VmHWM {peak:.0f} MB from {baseline:.0f} MB; 503 p50 {percentile(shed, 0.5):.1f} ms"
        checks.run("the flood stays under 1 GB", bounded)
        checks.measure(f"{count} concurrent SmoothGrad requests", peak, baseline, refusal_summary(shed),
                       f"{statuses.get(200)} x 200, {statuses.get(503)} x 503")
    finally:
        server.stop()


def held_bodies(binary, checks):
    """Many connections each declaring a 60 MB image and sending all but its last byte, then waiting."""
    server = Server(binary).wait_listening()
    count, size = 40, 60 * 1024 * 1024
    piece = b"\x89PNG" + b"\0" * ((1 << 20) - 4)
    sockets, refusals, held = [], [], []
    try:
        baseline = server.reset_peak()
        for _ in range(count):
            sock = connect(server.port, timeout=10)
            started = time.perf_counter()
            sock.sendall((f"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: image/png\r\n"
                          f"Content-Length: {size}\r\nExpect: 100-continue\r\n\r\n").encode())
            status, fields, _ = read_head(sock)
            if status == 100:
                sent = 0
                while sent < size - 1:
                    chunk = piece[:min(len(piece), size - 1 - sent)]
                    sock.sendall(chunk)
                    sent += len(chunk)
                held.append(sock)
            else:
                refusals.append((status, (time.perf_counter() - started) * 1000, fields.get("retry-after")))
                sock.close()
            sockets.append(sock)
        rss, peak = server.memory_mb()
        metrics = request(server.port, "GET", "/metrics")[2].decode()

        def refused():
            expect(held and refusals, f"{len(held)} held, {len(refusals)} refused")
            expect(all(status == 503 and retry == "1" for status, _, retry in refusals), f"{refusals[:3]}")
            expect('reason="body_budget"' in metrics, "the refusals are not counted in /metrics")
            return f"{len(held)} bodies held, {len(refusals)} refused on their head with 503"
        checks.run(f"{count} connections holding 60 MB bodies: the bytes in memory are bounded", refused)

        def bounded():
            expect(peak < MEMORY_TARGET_MB, f"VmHWM {peak:.0f} MB")
            return f"VmHWM {peak:.0f} MB from {baseline:.0f} MB"
        checks.run("held bodies stay under 1 GB", bounded)
        checks.measure(f"{count} x 60 MB bodies held open", peak, baseline,
                       refusal_summary([ms for _, ms, _ in refusals]), f"{len(held)} held, {len(refusals)} x 503")
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


def pipelined_flood(binary, checks):
    """One connection sends 20,000 requests without reading a single answer."""
    server = Server(binary).wait_listening()
    try:
        baseline = server.reset_peak()
        sock = connect(server.port, timeout=5)
        one = f"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
        sent = 0
        try:
            for _ in range(200):
                sock.sendall(one * 100)
                sent += 100
        except (socket.timeout, OSError):
            pass  # the server stopped reading: what it has not parsed stays in the kernel's buffers
        rss, peak = server.memory_mb()
        sock.close()

        def bounded():
            expect(peak - baseline < 64, f"VmHWM {peak:.0f} MB from {baseline:.0f} MB")
            expect(request(server.port, "GET", "/healthz")[0] == 200, "the server stopped answering")
            return f"{sent} requests sent before the socket filled; VmHWM {peak:.0f} MB from {baseline:.0f} MB"
        checks.run("a pipelining flood is held in the kernel, not in the server", bounded)
        checks.measure(f"{sent} pipelined requests unread", peak, baseline, None, "reading paused")
    finally:
        server.stop()


def cross_site(binary, checks):
    server = Server(binary).wait_listening()
    port = server.port
    job = json.dumps({"base_model": "fashion-cnn", "dataset": "ds-x", "output_model": "forged", "epochs": 1000}).encode()
    image = noise_png(64, 64, 2)
    try:
        baseline = server.reset_peak()
        cases = [
            ("a cross-site text/plain POST of a job", "POST", "/v1/jobs", job,
             ["Content-Type: text/plain", "Origin: http://evil.example"], None, 403),
            ("a same-origin text/plain POST of a job", "POST", "/v1/jobs", job,
             ["Content-Type: text/plain", f"Origin: http://127.0.0.1:{port}"], None, 415),
            ("curl -d of a job (form-urlencoded)", "POST", "/v1/jobs", job,
             ["Content-Type: application/x-www-form-urlencoded"], None, 415),
            ("a cross-site form posting an image", "POST", "/v1/classify", image,
             ["Content-Type: application/x-www-form-urlencoded", "Origin: http://evil.example"], None, 403),
            ("a cross-site no-cors multipart upload", "POST", "/v1/models", b"--x--",
             ["Content-Type: multipart/form-data; boundary=x", "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors",
              "Origin: http://evil.example"], None, 403),
            ("a sandboxed page (Origin: null) deleting a model", "DELETE", "/v1/models/fashion-cnn", b"", ["Origin: null"], None, 403),
            ("a rebound host name", "GET", "/v1/models", b"", [], "rebound.evil.example", 421),
            ("a rebound host name with this port", "GET", "/v1/models", b"", [], f"rebound.evil.example:{port}", 421),
            ("another site's script reading the listing", "GET", "/v1/models", b"",
             ["Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: cors"], None, 403),
            ("curl --data-binary of an image (no browser)", "POST", "/v1/classify", image,
             ["Content-Type: application/x-www-form-urlencoded"], None, 200),
            ("the UI's own classification", "POST", "/v1/classify", image,
             ["Content-Type: image/png", f"Origin: http://127.0.0.1:{port}", "Sec-Fetch-Site: same-origin"], None, 200),
        ]
        times = []
        for name, method, target, body, headers, host, wanted in cases:
            def case(method=method, target=target, body=body, headers=headers, host=host, wanted=wanted):
                started = time.perf_counter()
                status, _, answer = request(port, method, target, body, headers, host)
                if wanted != 200:
                    times.append((time.perf_counter() - started) * 1000)
                expect(status == wanted, f"{status}, expected {wanted}: {answer[:200]!r}")
                return f"{status} {json.loads(answer)['error']['code']}" if wanted != 200 else "200"
            checks.run(name, case)
        jobs = json.loads(request(port, "GET", "/v1/jobs")[2])["jobs"]
        checks.run("no forged job was queued", lambda: expect(jobs == [], f"{jobs}"))
        rss, peak = server.memory_mb()
        checks.measure("cross-site forgeries and rebound hosts", peak, baseline, refusal_summary(times), "403/415/421")
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description="Network attacks on a real salient serve.")
    parser.add_argument("--salient", default=str(REPO / ".build" / "release" / "salient"))
    parser.add_argument("--results", help="also write the measurements here as JSON")
    parser.add_argument("--config", help="the configuration file the servers read (default: config/salient.json)")
    parser.add_argument("--measure-only", action="store_true", help="only the attacks that measure memory and time")
    args = parser.parse_args()
    global CONFIG
    CONFIG = args.config
    checks = Checks()
    attacks = (unauthenticated_uploads, queue_flood, held_bodies, pipelined_flood) if args.measure_only else (
        posture, unauthenticated_uploads, queue_flood, held_bodies, pipelined_flood, cross_site)
    for attack in attacks:
        attack(args.salient, checks)
    print("\nattack | peak VmHWM (MB) | before (MB) | time to refuse (ms) | outcome")
    for m in checks.measurements:
        refusal = f"median {m['refusal_ms']['median']}, max {m['refusal_ms']['max']}" if m["refusal_ms"] else "-"
        print(f"{m['attack']} | {m['peak_mb']} | {m['baseline_mb']} | {refusal} | {m['outcome']}")
    if args.results:
        Path(args.results).write_text(json.dumps(checks.measurements, indent=2) + "\n")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
