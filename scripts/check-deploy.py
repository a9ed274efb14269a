#!/usr/bin/env python3
"""Checks deploy/ without a cluster: every kustomization in it (deploy/ itself, one replica with
SQLite, and deploy/replicas/, several sharing PostgreSQL) is rendered as kustomize would (its
resources, files or folders, with its strategic-merge patches; with `kubectl kustomize` too when
kubectl is installed), every file parses as Kubernetes YAML, and the pieces agree with each other
and with the Dockerfile (ports, probes, claim, secrets, selector, user). A variant with more than
one replica must also roll (RollingUpdate, never below its count), share its volume
(ReadWriteMany), take its database URL from a Secret, name each pod in the job queue, wait for
the registry to sync before it is ready, and scale on a metric /metrics exports.

    python3 scripts/check-deploy.py [deploy-folder]

Prints one line per problem and exits 1 if there is any.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def load_file(path):
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def merge(base, patch):
    """A strategic merge as kustomize applies it to these manifests: maps merge key by key,
    lists of named maps (containers, env, volumes) merge by name, anything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if (isinstance(base, list) and isinstance(patch, list) and all(isinstance(i, dict) and "name" in i for i in base + patch)):
        merged = list(base)
        for item in patch:
            index = next((i for i, old in enumerate(merged) if old["name"] == item["name"]), None)
            if index is None:
                merged.append(item)
            else:
                merged[index] = merge(merged[index], item)
        return merged
    return patch


def render(folder, problems):
    """The objects a kustomization folder yields."""
    kustomization = folder / "kustomization.yaml"
    documents = load_file(kustomization)
    if len(documents) != 1 or documents[0].get("kind") != "Kustomization":
        problems.append(f"{kustomization}: not one Kustomization")
        return []
    spec = documents[0]
    objects = []
    for resource in spec.get("resources", []):
        path = (folder / resource).resolve()
        if path.is_dir() and (path / "kustomization.yaml").is_file():
            objects += render(path, problems)
        elif path.is_file():
            objects += [(path.name, document) for document in load_file(path)]
        else:
            problems.append(f"{kustomization}: resource {resource} does not exist")
    for entry in spec.get("patches", []):
        path = folder / entry.get("path", "")
        if not path.is_file():
            problems.append(f"{kustomization}: patch {entry} is not a file")
            continue
        for patch in load_file(path):
            key = (patch.get("kind"), patch.get("metadata", {}).get("name"))
            index = next((i for i, (_, o) in enumerate(objects) if (o.get("kind"), o.get("metadata", {}).get("name")) == key), None)
            if index is None:
                problems.append(f"{path.name}: patches {key}, which no resource defines")
            else:
                objects[index] = (objects[index][0], merge(objects[index][1], patch))
    return objects


def check(folder, root):
    problems = []
    documents = render(folder, problems)
    if shutil.which("kubectl"):
        built = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True)
        if built.returncode != 0:
            problems.append(f"kubectl kustomize {folder.name}: {built.stderr.strip()[:300]}")
    # Secrets the kustomizations leave to the operator, described by *.example.yaml files.
    examples = {}
    for path in sorted(root.rglob("*.example.yaml")):
        for document in load_file(path):
            examples[(document.get("kind"), document.get("metadata", {}).get("name"))] = document
    objects = {}
    for name, doc in documents:
        for key in ("apiVersion", "kind"):
            if key not in doc:
                problems.append(f"{name}: no {key}")
        objects[(doc.get("kind"), doc.get("metadata", {}).get("name"))] = doc
    objects = {**examples, **objects}

    dockerfile = (REPO / "Dockerfile").read_text()
    exposed = int(re.search(r"^EXPOSE (\d+)", dockerfile, re.M).group(1))
    uid = int(re.search(r"--uid (\d+)", dockerfile).group(1))

    deployments = [d for (kind, _), d in objects.items() if kind == "Deployment"]
    if not deployments:
        problems.append("no Deployment")
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]
        labels = pod["metadata"]["labels"]
        if deployment["spec"]["selector"]["matchLabels"].items() - labels.items():
            problems.append(f"{name}: the selector does not match the pod labels")
        spec = pod["spec"]
        if not spec.get("securityContext", {}).get("runAsNonRoot") or spec["securityContext"].get("runAsUser") != uid:
            problems.append(f"{name}: pods should run as non-root uid {uid}, the image's user")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for volume in volumes.values():
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and ("PersistentVolumeClaim", claim) not in objects:
                problems.append(f"{name}: claim {claim} is not defined in {folder.name}/")
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
            if exposed not in ports.values():
                problems.append(f"{where}: no containerPort {exposed} (the image's EXPOSE)")
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                get = container.get(probe, {}).get("httpGet", {})
                if get.get("path") != path:
                    problems.append(f"{where}: {probe} should GET {path}")
                if get.get("port") not in ports and get.get("port") not in ports.values():
                    problems.append(f"{where}: {probe} port {get.get('port')} is not a container port")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= resources.get(part, {}).keys():
                    problems.append(f"{where}: resources.{part} needs cpu and memory")
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if "persistentVolumeClaim" not in volumes.get(mounts.get("/data"), {}):
                problems.append(f"{where}: /data is not a PersistentVolumeClaim")
            env = {e["name"]: e for e in container.get("env", [])}
            secrets = ["SALIENT_API_TOKEN"] + (["SALIENT_DATABASE_URL"] if deployment["spec"].get("replicas", 1) > 1 else [])
            for variable in secrets:
                secret = env.get(variable, {}).get("valueFrom", {}).get("secretKeyRef")
                if not secret:
                    problems.append(f"{where}: {variable} should come from a Secret")
                else:
                    example = objects.get(("Secret", secret["name"]))
                    if example is None or secret["key"] not in example.get("stringData", {}):
                        problems.append(f"{where}: no example Secret {secret['name']} with key {secret['key']}")
            if deployment["spec"].get("replicas", 1) > 1:
                problems += replica_problems(where, deployment, container, env, volumes, mounts, objects)

    for (kind, name), service in objects.items():
        if kind != "Service":
            continue
        selector = service["spec"]["selector"]
        targets = [d for d in deployments if not selector.items() - d["spec"]["template"]["metadata"]["labels"].items()]
        if not targets:
            problems.append(f"Service {name}: selects no Deployment's pods")
        for port in service["spec"]["ports"]:
            for deployment in targets:
                names = {p.get("name") for c in deployment["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
                if isinstance(port["targetPort"], str) and port["targetPort"] not in names:
                    problems.append(f"Service {name}: targetPort {port['targetPort']} is not a port of {deployment['metadata']['name']}")
    return problems, len(documents)


def exported_metrics():
    """Metric names the service writes in /metrics (ServiceMetrics and the HTTP server's)."""
    names = set()
    for path in (REPO / "Sources").rglob("*.swift"):
        names |= set(re.findall(r"# TYPE (salient_[a-z_]+) ", path.read_text()))
    return names


def replica_problems(where, deployment, container, env, volumes, mounts, objects):
    """What several replicas sharing PostgreSQL and one volume need."""
    problems = []
    name = deployment["metadata"]["name"]
    strategy = deployment["spec"].get("strategy", {})
    if strategy.get("type") != "RollingUpdate":
        problems.append(f"{where}: {deployment['spec']['replicas']} replicas should roll (strategy RollingUpdate), not {strategy.get('type')}")
    elif str(strategy.get("rollingUpdate", {}).get("maxUnavailable", "25%")) not in ("0", "0%"):
        problems.append(f"{where}: a rolling update should keep every replica up (maxUnavailable 0)")
    claim = volumes.get(mounts.get("/data"), {}).get("persistentVolumeClaim", {}).get("claimName")
    pvc = objects.get(("PersistentVolumeClaim", claim), {})
    if "ReadWriteMany" not in pvc.get("spec", {}).get("accessModes", []):
        problems.append(f"{where}: replicas share /data, so claim {claim} needs ReadWriteMany")
    if env.get("SALIENT_REPLICA_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
        problems.append(f"{where}: SALIENT_REPLICA_NAME should be the pod's name (fieldRef metadata.name)")
    if container.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        problems.append(f"{where}: readiness must wait for the registry to sync (GET /readyz)")
    autoscalers = [o for (kind, _), o in objects.items() if kind in ("HorizontalPodAutoscaler", "ScaledObject")
                   and o["spec"]["scaleTargetRef"].get("name") == name]
    if not autoscalers:
        problems.append(f"{where}: no HorizontalPodAutoscaler or ScaledObject scales {name}")
    exported = exported_metrics()
    for autoscaler in autoscalers:
        spec = autoscaler["spec"]
        if spec.get("minReplicas", 1) < 2:
            problems.append(f"{autoscaler['kind']} {autoscaler['metadata']['name']}: minReplicas below 2 leaves no replica to resume jobs")
        metrics = [m["pods"]["metric"]["name"] for m in spec.get("metrics", []) if m.get("type") == "Pods"]
        metrics += [t.get("metadata", {}).get("metricName") or t.get("metadata", {}).get("query", "") for t in spec.get("triggers", [])]
        if not any(any(e in metric for e in exported) for metric in metrics):
            problems.append(f"{autoscaler['kind']} {autoscaler['metadata']['name']}: scales on none of the metrics /metrics exports")
    return problems


def main():
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "deploy"
    folders = sorted({path.parent for path in root.rglob("kustomization.yaml")} - {root / "base"})
    failed = 0
    for folder in folders:
        try:
            problems, count = check(folder, root)
        except (yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
            problems, count = [f"cannot read the manifests: {type(error).__name__}: {error}"], 0
        for problem in problems:
            print(f"{folder.relative_to(root.parent)}: {problem}")
        print(f"{count} objects rendered from {folder.relative_to(root.parent)}, {len(problems)} problems")
        failed += len(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
