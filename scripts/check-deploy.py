#!/usr/bin/env python3
"""Checks deploy/ without a cluster: every file parses as Kubernetes YAML, and the pieces agree
with each other and with the Dockerfile (ports, probes, claim, secret, selector, user).

    python3 scripts/check-deploy.py [deploy-folder]

Prints one line per problem and exits 1 if there is any.
"""

import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def load(folder):
    documents = []
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                documents.append((path.name, document))
    return documents


def check(folder):
    problems = []
    documents = load(folder)
    objects = {}
    for name, doc in documents:
        if doc.get("kind") == "Kustomization":
            for resource in doc.get("resources", []):
                if not (folder / resource).is_file():
                    problems.append(f"{name}: resource {resource} does not exist")
            continue
        for key in ("apiVersion", "kind"):
            if key not in doc:
                problems.append(f"{name}: no {key}")
        objects[(doc.get("kind"), doc.get("metadata", {}).get("name"))] = doc

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
            secret = env.get("SALIENT_API_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef")
            if not secret:
                problems.append(f"{where}: SALIENT_API_TOKEN should come from a Secret")
            else:
                example = objects.get(("Secret", secret["name"]))
                if example is None or secret["key"] not in example.get("stringData", {}):
                    problems.append(f"{where}: no example Secret {secret['name']} with key {secret['key']}")

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


def main():
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "deploy"
    try:
        problems, count = check(folder)
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        problems, count = [f"cannot read the manifests: {type(error).__name__}: {error}"], 0
    for problem in problems:
        print(problem)
    print(f"{count} documents in {folder}, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
