#!/usr/bin/env python3
"""check-manifest.py - reads a manifest render.sh wrote and prints what a test needs to check
as one JSON object: each object's kind and name, the shard Job's completions, parallelism,
completion mode, arguments, environment, annotations and volumes, and the merge Job's.

With Debian's python3-kubernetes present, each object is also checked against the Kubernetes
API's own models (the client's OpenAPI types): every field must be one the API has, of the
type it has, and the required ones must be there ("schema": "ok" or the first problem). Without
it "schema" says why it was not checked. Needs python3-yaml.
Usage: check-manifest.py MANIFEST
"""
import json
import sys

import yaml

SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def schema_problem(obj, typ, path, client):
    """The first field of obj that the model typ does not have, or of the wrong type."""
    if typ in ("object", "datetime", "date"):
        return None
    if typ in SCALARS:
        if typ != "bool" and isinstance(obj, bool) or not isinstance(obj, SCALARS[typ]):
            return "%s: expected %s, got %r" % (path, typ, obj)
        return None
    if typ.startswith("list["):
        if not isinstance(obj, list):
            return "%s: expected a list" % path
        for i, item in enumerate(obj):
            p = schema_problem(item, typ[5:-1], "%s[%d]" % (path, i), client)
            if p:
                return p
        return None
    if typ.startswith("dict("):
        if not isinstance(obj, dict):
            return "%s: expected a map" % path
        inner = typ[5:-1].split(", ", 1)[1]
        for k, v in obj.items():
            p = schema_problem(v, inner, "%s.%s" % (path, k), client)
            if p:
                return p
        return None
    cls = getattr(client, typ)
    if not isinstance(obj, dict):
        return "%s: expected a %s object" % (path, typ)
    by_json = {j: a for a, j in cls.attribute_map.items()}
    for k, v in obj.items():
        if k not in by_json:
            return "%s: %s has no field '%s'" % (path, typ, k)
        p = schema_problem(v, cls.openapi_types[by_json[k]], "%s.%s" % (path, k), client)
        if p:
            return p
    return None


def check_schema(docs):
    try:
        import kubernetes.client as client
        from kubernetes.client import ApiClient
    except ImportError:
        return "not checked: python3-kubernetes is not installed"
    api = ApiClient()
    for d in docs:
        typ = "V1" + d.get("kind", "")
        if d.get("apiVersion") not in ("v1", "batch/v1") or not hasattr(client, typ):
            return "%s: unknown kind" % d.get("kind")
        p = schema_problem(d, typ, d["kind"], client)
        if p:
            return p
        try:  # builds the model: a required field that is missing raises
            api._ApiClient__deserialize(d, typ)
        except ValueError as e:
            return "%s %s: %s" % (d["kind"], d["metadata"]["name"], e)
    return "ok (python3-kubernetes %s models)" % getattr(client, "__version__", "?")


def job_view(job):
    spec = job["spec"]
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    env = {}
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", e.get("valueFrom"))
    return {
        "name": job["metadata"]["name"],
        "completion_mode": spec.get("completionMode", "NonIndexed"),
        "completions": spec.get("completions"),
        "parallelism": spec.get("parallelism"),
        "backoff_limit": spec.get("backoffLimit"),
        "restart_policy": pod.get("restartPolicy"),
        "image": c.get("image"),
        "args": c.get("args", []),
        "env": env,
        "annotations": spec["template"]["metadata"].get("annotations", {}),
        "ports": [p["containerPort"] for p in c.get("ports", [])],
        "mounts": {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])},
        "volumes": {v["name"]: (v.get("persistentVolumeClaim") or {}).get("claimName")
                    or (v.get("configMap") or {}).get("name") for v in pod.get("volumes", [])},
    }


def main():
    with open(sys.argv[1]) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    out = {"objects": ["%s/%s" % (d["kind"], d["metadata"]["name"]) for d in docs]}
    for d in docs:
        if d["kind"] == "ConfigMap":
            out["scenario"] = json.loads(d["data"]["scenario.json"])
        elif d["kind"] == "Job":
            role = d["metadata"]["labels"].get("app.kubernetes.io/component")
            out[role] = job_view(d)
    out["schema"] = check_schema(docs)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
