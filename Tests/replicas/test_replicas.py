#!/usr/bin/env python3
"""Three `salient serve` replicas sharing a throw-away PostgreSQL and one data folder.

    python3 Tests/replicas/test_replicas.py --salient .build/release/salient [--results FILE]

Starts PostgreSQL from Debian's `postgresql` package (initdb into a temporary folder, pg_ctl
start on a free port on 127.0.0.1, stopped at the end) and three replicas on free ports with
`--database-url` and the same `--data-dir`; the third runs no job workers, so it is the replica
that did not run the job. Checks: a model uploaded to replica 1 classifies on replica 3 within
2 s; deleted on 2, gone on 1 and 3 within 2 s; three uploads of one name on three replicas at
once become three consecutive versions; a job submitted to replica 2 runs; kill -9 of the
replica running it, and the other takes it over from its last checkpoint; the killed replica
rejoins; PostgreSQL stopped while the job runs, for longer than the job's lease: requests that
need it fail fast with 503 while classification goes on on every replica, the job's worker
pauses, and everything recovers once it is back (a model uploaded then classifies everywhere
within 2 s); the job ends once, no epoch run twice or lost, its model registered once, its
events streamed from replica 3 throughout. Then classification throughput through a round-robin
client over the three replicas beside one replica (printed, never asserted). Waits on
conditions; the one fixed wait keeps PostgreSQL down past the lease.

Prints PASS or FAIL per check; exits 1 on any failure. Prints SKIP and exits 0 only when
PostgreSQL's server programs are not installed (`make deps` installs them).
"""

import argparse
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import random
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
from png import encode_png  # noqa: E402
from test_ui import dataset_zip, stripes  # noqa: E402

SYNC_SECONDS = 2.0
LEASE_SECONDS = 6
# Per stage: long enough that the job still runs after a kill, a takeover and the database's restart.
JOB_EPOCHS = 30


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def wait_for(condition, timeout, what, interval=0.05):
    """Polls `condition` until it returns a true value; raises naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port, method, target, body=None, headers=None, timeout=60):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, target, body, headers or {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    except OSError as error:
        return None, str(error).encode(), {}
    finally:
        connection.close()


def get_json(port, target):
    status, body, _ = request(port, "GET", target)
    expect(status == 200, f"GET {target} on :{port}: {status} {body[:300]!r}")
    return json.loads(body)


def multipart(fields, file_field, file_name, file_bytes):
    boundary = uuid.uuid4().hex
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
                    for name, value in fields)
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{file_name}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode() + file_bytes + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class PostgreSQL:
    """A throw-away cluster in a temporary folder, run as the `postgres` user when we are root
    (initdb refuses root)."""

    def __init__(self, work):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise FileNotFoundError("PostgreSQL's server programs are not installed (apt-get install postgresql)")
        self.bin = Path(found[-1]).parent
        self.folder = Path(work) / "pg"
        self.folder.mkdir()
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(work, "postgres")
            shutil.chown(self.folder, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.run("initdb", "-D", str(self.folder / "data"), "-U", "salient", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.url = f"postgresql://salient@127.0.0.1:{self.port}/postgres"

    def run(self, program, *arguments):
        subprocess.run(self.as_user + [str(self.bin / program), *arguments], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def start(self):
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self):
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")


class Replica:
    def __init__(self, binary, name, data, database_url, config, log_folder, workers=1):
        self.name = name
        self.port = free_port()
        self.log_path = Path(log_folder) / f"{name}.log"
        self.log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENT_")}
        env.update({"SALIENT_CONFIG": str(config), "SALIENT_JOB_WORKERS": str(workers)})
        self.process = subprocess.Popen(
            [binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(data),
             "--database-url", database_url, "--replica-name", name],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=Path(__file__).resolve().parents[2])

    def ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}: {self.log_text()[-2000:]}")
        return request(self.port, "GET", "/readyz", timeout=5)[0] == 200

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


class Checks:
    def __init__(self):
        self.failed = 0

    def run(self, name, step):
        started = time.time()
        try:
            detail = step()
            print(f"PASS {name}" + (f" — {detail}" if detail else "") + f" ({time.time() - started:.1f} s)", flush=True)
            return True
        except Exception as error:  # one failure is reported and the rest still run
            self.failed += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
            return False


def classify_status(port, model, image):
    return request(port, "POST", f"/v1/models/{model}/classify", image, {"Content-Type": "image/png"}, timeout=30)[0]


class EventStream(threading.Thread):
    """Reads a job's Server-Sent Events from one replica until the stream ends."""

    def __init__(self, port, job):
        super().__init__(daemon=True)
        self.port, self.job = port, job
        self.events = []
        self.error = None

    def run(self):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            connection.request("GET", f"/v1/jobs/{self.job}/events", headers={"Accept": "text/event-stream"})
            response = connection.getresponse()
            if response.status != 200:
                raise AssertionError(f"events: {response.status}")
            name, data = None, []
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and name:
                    self.events.append((name, json.loads("\n".join(data))))
                    name, data = None, []
        except Exception as error:  # reported by the check that reads the stream
            self.error = error

    def named(self, name):
        return [value for event, value in self.events if event == name]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--salient", required=True)
    parser.add_argument("--results", help="append the throughput figures to this file")
    args = parser.parse_args()
    binary = str(Path(args.salient).resolve())
    work = tempfile.mkdtemp(prefix="salient-replicas-")
    try:
        database = PostgreSQL(work)
    except FileNotFoundError as error:
        print(f"SKIP replicas: {error}")
        shutil.rmtree(work, ignore_errors=True)
        return 0
    database.start()
    data = Path(work) / "data"
    data.mkdir()
    config = Path(work) / "salient.json"
    config.write_text(json.dumps({"job_lease_seconds": LEASE_SECONDS, "reconcile_seconds": 2}))
    replicas = []
    checks = Checks()
    try:
        # The third replica runs no jobs: it is the one that did not run the job.
        replicas = [Replica(binary, f"replica-{i + 1}", data, database.url, config, work, workers=0 if i == 2 else 1)
                    for i in range(3)]
        wait_for(lambda: all(r.ready() for r in replicas), 120, "three replicas ready")
        run_checks(checks, replicas, database, work, args,
                   restart=lambda name: Replica(binary, name, data, database.url, config, work, workers=1))
    finally:
        for replica in replicas:
            replica.stop()
        try:
            database.stop()
        except subprocess.CalledProcessError:
            pass
        if checks.failed:
            for replica in replicas:
                print(f"--- {replica.name} log (end) ---\n{replica.log_text()[-3000:]}")
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'FAILED' if checks.failed else 'passed'}: replicas ({checks.failed} failures)")
    return 1 if checks.failed else 0


def run_checks(checks, replicas, database, work, args, restart):
    r1, r2, r3 = replicas
    image = stripes(True, random.Random(3))
    card = get_json(r1.port, "/v1/models/fashion-cnn")
    preprocessing = json.dumps(card.get("preprocessing") or card.get("card", {}).get("preprocessing"))
    labels = card.get("labels") or card.get("card", {}).get("labels")
    status, onnx, _ = request(r1.port, "GET", "/v1/models/fashion-cnn/export?format=onnx")
    expect(status == 200, f"export: {status}")

    def upload(replica, name):
        body, headers = multipart([("name", name.encode()), ("labels", "\n".join(labels).encode()),
                                   ("preprocessing", preprocessing.encode())], "file", "model.onnx", onnx)
        return request(replica.port, "POST", "/v1/models", body, headers)

    def upload_syncs():
        expect(classify_status(r3.port, "shared", image) == 404, "'shared' exists before its upload")
        status, body, _ = upload(r1, "shared")
        expect(status == 201, f"upload on replica 1: {status} {body[:300]!r}")
        uploaded = time.monotonic()
        wait_for(lambda: classify_status(r3.port, "shared", image) == 200, SYNC_SECONDS, "'shared' to classify on replica 3")
        seconds = time.monotonic() - uploaded
        wait_for(lambda: classify_status(r2.port, "shared", image) == 200, SYNC_SECONDS, "'shared' on replica 2")
        objects = list((Path(work) / "data" / "objects").iterdir())
        expect(all(len(o.name) == 64 for o in objects if not o.name.startswith(".")), f"objects not by SHA-256: {objects}")
        return f"classified on replica 3 {seconds * 1000:.0f} ms after the upload answered"

    def delete_syncs():
        status, body, _ = request(r2.port, "DELETE", "/v1/models/shared")
        expect(status == 204, f"delete on replica 2: {status} {body[:200]!r}")
        deleted = time.monotonic()
        for replica in (r1, r3):
            wait_for(lambda: classify_status(replica.port, "shared", image) == 404, SYNC_SECONDS, f"'shared' gone on {replica.name}")
        return f"gone on replicas 1 and 3 after {(time.monotonic() - deleted) * 1000:.0f} ms"

    checks.run("a model uploaded to replica 1 classifies on replica 3 within 2 s", upload_syncs)
    checks.run("a model deleted on replica 2 is gone on replicas 1 and 3 within 2 s", delete_syncs)
    checks.run("one name uploaded on three replicas at once: three consecutive versions, served everywhere",
               lambda: concurrent_versions(replicas, upload, image))
    job = {}
    if checks.run("a job submitted to replica 2 runs; kill -9 of its replica, which rejoins as a new pod; another takes the "
                  "job over from its checkpoint", lambda: job_survives_kill(replicas, work, job, restart)):
        checks.run(f"PostgreSQL stopped mid-job for {LEASE_SECONDS + 2} s: 503 at once, classification goes on; all recovers",
                   lambda: database_restart(replicas, database, image, upload, job))
        checks.run("the job ends once: no epoch run twice or lost, its model registered once, streamed from replica 3",
                   lambda: job_ends_once(replicas, job))
    checks.run("classification throughput: round-robin over three replicas beside one",
               lambda: throughput(replicas, image, args.results))


def job_state(replica, job):
    return get_json(replica.port, f"/v1/jobs/{job}")


def concurrent_versions(replicas, upload, image):
    barrier = threading.Barrier(len(replicas))
    answers = [None] * len(replicas)

    def send(index):
        barrier.wait()
        answers[index] = upload(replicas[index], "twins")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(replicas))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [status for status, _, _ in answers]
    expect(statuses == [201] * len(replicas), f"uploads at once answered {statuses}: {[b[:200] for _, b, _ in answers]}")
    versions = sorted(json.loads(body)["version"] for _, body, _ in answers)
    expect(versions == list(range(1, len(replicas) + 1)), f"versions {versions}")
    for replica in replicas:
        wait_for(lambda: sorted(v["version"] for v in get_json(replica.port, "/v1/models/twins")["versions"]) == versions,
                 SYNC_SECONDS, f"versions {versions} listed on {replica.name}")
        for version in versions:
            status = request(replica.port, "POST", f"/v1/models/twins/classify?version={version}", image,
                             {"Content-Type": "image/png"})[0]
            expect(status == 200, f"version {version} on {replica.name}: {status}")
    status, body, _ = request(replicas[0].port, "DELETE", "/v1/models/twins")
    expect(status == 204, f"delete: {status} {body[:200]!r}")
    return f"versions {versions}, each listed and classifying on every replica"


def job_survives_kill(replicas, work, job, restart):
    r1, r2, r3 = replicas
    archive = Path(work) / "stripes.zip"
    dataset_zip(archive, per_class=150)
    status, body, _ = request(r1.port, "POST", "/v1/datasets", archive.read_bytes(), {"Content-Type": "application/zip"})
    expect(status == 201, f"dataset upload on replica 1: {status} {body[:300]!r}")
    dataset = json.loads(body)["id"]
    expect(dataset in [d["id"] for d in get_json(r3.port, "/v1/datasets")["datasets"]], "the dataset is not listed on replica 3")
    job_request = {"base_model": "fashion-cnn", "dataset": dataset, "output_model": "stripes", "epochs": JOB_EPOCHS,
                   "batch_size": 16, "learning_rate": 0.001, "early_stopping_patience": 100, "augment": False}
    status, body, _ = request(r2.port, "POST", "/v1/jobs", json.dumps(job_request).encode(), {"Content-Type": "application/json"})
    expect(status == 202, f"job on replica 2: {status} {body[:300]!r}")
    job["id"] = json.loads(body)["id"]
    job["stream"] = stream = EventStream(r3.port, job["id"])
    stream.start()
    running = wait_for(lambda: (lambda j: j if j["state"] == "running" and len(j["metrics"]) >= 2 else None)(job_state(r3, job["id"])),
                       300, "the job to finish two epochs")
    first = next(r for r in replicas if r.name == running["worker"])
    expect(first is not r3, "the replica without workers claimed the job")
    done_before = len(job_state(r3, job["id"])["metrics"])
    first.kill()
    killed = time.monotonic()
    # As a Deployment replaces a pod: a new one, under a new name, while the job's lease runs out.
    index = replicas.index(first)
    replicas[index] = restart(f"{first.name}-new")
    wait_for(replicas[index].ready, 120, f"{replicas[index].name} to start")
    expect(classify_status(replicas[index].port, "fashion-cnn", stripes(True, random.Random(3))) == 200,
           "the new replica does not classify")
    workers = {r.name for r in replicas if r is not r3}
    resumed = wait_for(lambda: (lambda j: j if j["worker"] in workers else None)(job_state(r3, job["id"])),
                       LEASE_SECONDS * 4 + 30, "a live replica to take the job over")
    takeover = time.monotonic() - killed
    expect(resumed["state"] == "running", f"taken over in state {resumed['state']}")
    second = next(r for r in replicas if r.name == resumed["worker"])
    expect(second.log_text().count("job started") == 1, f"the job did not start once on {second.name}")
    return (f"ran on {first.name}, killed after {done_before} epochs, {replicas[index].name} started, taken over by "
            f"{second.name} {takeover:.1f} s after the kill (lease {LEASE_SECONDS} s) at epoch {len(resumed['metrics'])}")


def job_ends_once(replicas, job):
    r3 = replicas[2]
    final = wait_for(lambda: (lambda j: j if j["state"] in ("succeeded", "failed", "cancelled") else None)(job_state(r3, job["id"])),
                     600, "the job to end")
    expect(final["state"] == "succeeded", f"the job ended {final['state']}: {final.get('error')}")
    stream = job["stream"]
    stream.join(timeout=30)
    expect(not stream.is_alive(), "the event stream on replica 3 did not end with the job")
    expect(stream.error is None, f"the event stream failed: {stream.error}")
    epochs = [(e["stage"], e["epoch"]) for e in stream.named("epoch")]
    expect(len(epochs) == len(set(epochs)), f"an epoch ran twice: {epochs}")
    finals = [(m["stage"], m["epoch"]) for m in final["metrics"]]
    expect(len(finals) == len(set(finals)), f"the job's metrics repeat an epoch: {finals}")
    for stage in {s for s, _ in finals}:
        numbers = sorted(e for s, e in finals if s == stage)
        expect(numbers == list(range(1, len(numbers) + 1)), f"stage {stage} lost an epoch: {numbers}")
    # The stream opens with the job as it stands (epochs before it included), then sends what follows.
    opening = stream.named("state")[0]
    before = [(m["stage"], m["epoch"]) for m in opening["metrics"]]
    expect(not set(before) & set(epochs), f"epochs {sorted(set(before) & set(epochs))} sent again after the stream opened")
    expect(set(before) | set(epochs) == set(finals), f"replica 3 streamed {sorted(set(before) | set(epochs))}, the job ran {finals}")
    expect(stream.named("state")[-1]["state"] == "succeeded", "the stream's last state is not succeeded")
    starts = [r.log_text().count("job started") for r in replicas]
    expect(starts[2] == 0, "the replica without workers started the job")
    versions = get_json(r3.port, "/v1/models/stripes")["versions"]
    made = [v["version"] for v in versions if (v.get("provenance") or {}).get("job") == job["id"]]
    expect(len(made) == 1, f"the job registered versions {made} of 'stripes'")
    for replica in replicas:
        wait_for(lambda: classify_status(replica.port, "stripes", encode_png(28, 28, bytes(784), channels=1)) == 200,
                 SYNC_SECONDS, f"the job's model to serve on {replica.name}")
    return (f"{len(finals)} epochs once each (stages {sorted({s for s, _ in finals})}), {len(epochs)} epoch events on replica 3, "
            f"job starts per replica {starts}, ended by {final['worker']}, version {made[0]} of 'stripes'")


def database_restart(replicas, database, image, upload, job):
    """Stops PostgreSQL while the job runs, for longer than its lease, so that its worker cannot
    renew and must wait, and another replica could claim the job once the database is back."""
    alive = [r for r in replicas if r.process.poll() is None]
    running = job_state(alive[-1], job["id"])
    expect(running["state"] == "running", f"the job is {running['state']} before the restart")
    worker = next(r for r in alive if r.name == running["worker"])
    # Either the worker was training and pauses, or it was still loading the job's data from the
    # database and gives the job up to its lease (another worker, or itself, resumes it after).
    def waited():
        log = worker.log_text()
        return log.count("job paused"), log.count("job interrupted: the database is unavailable")

    waited_before = waited()
    classifications = {"ok": 0, "failed": []}
    stop_classifying = threading.Event()

    def classify_meanwhile():
        turn = 0
        while not stop_classifying.is_set():
            replica = alive[turn % len(alive)]
            turn += 1
            status = classify_status(replica.port, "fashion-cnn", image)
            if status == 200:
                classifications["ok"] += 1
            else:
                classifications["failed"].append((replica.name, status))

    classifier = threading.Thread(target=classify_meanwhile)
    classifier.start()
    database.stop()
    stopped = time.monotonic()
    slowest = 0.0
    try:
        for replica in alive:
            for target in ("/v1/jobs", f"/v1/jobs/{job['id']}", "/v1/datasets"):
                started = time.monotonic()
                status, body, headers = request(replica.port, "GET", target, timeout=10)
                slowest = max(slowest, time.monotonic() - started)
                expect(status == 503, f"GET {target} on {replica.name} with the database down: {status} {body[:200]!r}")
                expect(json.loads(body)["error"]["code"] == "database_unavailable", f"503 body {body[:200]!r}")
                expect("retry-after" in {k.lower() for k in headers}, "the 503 has no Retry-After")
            started = time.monotonic()
            status, body, _ = upload(replica, "while-down")
            slowest = max(slowest, time.monotonic() - started)
            expect(status == 503, f"an upload on {replica.name} with the database down: {status} {body[:200]!r}")
        expect(slowest < 3, f"a 503 took {slowest:.1f} s")
        # Past the lease: the worker could not renew and waits; its lease has run out in the database.
        time.sleep(max(0.0, LEASE_SECONDS + 2 - (time.monotonic() - stopped)))
        paused, interrupted = (after - before for after, before in zip(waited(), waited_before))
        expect(paused or interrupted, f"{worker.name} neither paused nor gave up the job without its lease")
    finally:
        database.start()
        down = time.monotonic() - stopped
        stop_classifying.set()
        classifier.join()
    expect(not classifications["failed"], f"classification failed while the database was down: {classifications['failed'][:5]}")
    for replica in alive:
        wait_for(lambda: request(replica.port, "GET", "/v1/jobs")[0] == 200, 30, f"{replica.name} to reach the database again")
    recovered = time.monotonic() - stopped - down
    status, body, _ = upload(alive[0], "after-restart")
    expect(status == 201, f"upload after the restart: {status} {body[:200]!r}")
    uploaded = time.monotonic()
    for replica in alive[1:]:
        wait_for(lambda: classify_status(replica.port, "after-restart", image) == 200, SYNC_SECONDS,
                 f"'after-restart' on {replica.name} (LISTEN again)")
    synced = time.monotonic() - uploaded
    after = wait_for(lambda: (lambda j: j if j["progress"] != running["progress"] or j["state"] != "running" else None)(
        job_state(alive[-1], job["id"])), 60, "the job to go on after the restart")
    return (f"down {down:.1f} s: 503s in at most {slowest * 1000:.0f} ms on {len(alive)} replicas, "
            f"{classifications['ok']} classifications meanwhile, none failed; {worker.name} "
            f"{'paused the job' if paused else 'gave the job up to its lease'}; "
            f"all answering {recovered:.1f} s after the start; an upload after it on every replica in {synced * 1000:.0f} ms; "
            f"the job goes on on {after['worker']}")


def throughput(replicas, image, results):
    alive = [r for r in replicas if r.process.poll() is None]

    def run(ports, seconds=4.0, clients=6):
        done = [0] * clients
        stop = time.monotonic() + seconds

        def client(index):
            connections = {p: http.client.HTTPConnection("127.0.0.1", p, timeout=30) for p in ports}
            turn = index
            while time.monotonic() < stop:
                port = ports[turn % len(ports)]
                turn += 1
                connection = connections[port]
                connection.request("POST", "/v1/models/fashion-cnn/classify", image, {"Content-Type": "image/png"})
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    done[index] += 1
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(done) / seconds

    one = run([alive[0].port])
    spread = run([r.port for r in alive])
    load = os.getloadavg()[0]
    line = (f"classification (fashion-cnn, 6 keep-alive clients): {len(alive)} replicas round-robin {spread:.0f} req/s, "
            f"one replica {one:.0f} req/s ({spread / one:.2f}x) on {os.cpu_count()} cores, load {load:.1f}")
    if results:
        with open(results, "a") as out:
            out.write(line + "\n")
    return line


if __name__ == "__main__":
    sys.exit(main())
