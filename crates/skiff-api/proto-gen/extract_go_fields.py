#!/usr/bin/env python3
"""Extracts, from the Go API types of Kubernetes, how each protobuf field of each API struct maps to JSON.

Output (stdout), one block per struct, used by gen.py:

    = io.k8s.api.apps.v1.DeploymentSpec
    1 replicas ptr
    2 selector ptr
    3 template
    ...

Each field line is `<proto tag> <json name> [flags]`; flags (comma separated):
  ptr     the Go field is a pointer: upstream emits it whenever it is set (also when zero)
  noomit  the json tag has no `omitempty`: upstream emits it even when zero
  inline  the json tag is `,inline`: the sub-message's fields are merged into this object
Fields whose json name is "-" are left out (upstream never shows them in JSON).

Usage: extract_go_fields.py --openapi <openapi-v2.json> <root>...  where each root is a checkout (any tree with the same layout) of
  k8s.io/api, k8s.io/apimachinery, k8s.io/apiextensions-apiserver or k8s.io/kube-aggregator
at the release being served (for skiff: v0.32.x, i.e. Kubernetes 1.32), e.g.
  git -C kubernetes-api archive v0.32.9 | tar -x -C /tmp/api
The committed go-fields-1.32.txt was produced from the v0.32.9 tags of the four repositories, keeping only the
packages (group versions) that crates/skiff-api/openapi/kubernetes-1.32-openapi-v2.json defines.
"""
import os
import re
import sys

STRUCT_RE = re.compile(r"^type (\w+) struct \{")
ALIAS_RE = re.compile(r"^type (\w+) (\w+)\.(\w+)\s*$")
IMPORT_RE = re.compile(r'^\s*(\w+)?\s*"k8s\.io/(api|apimachinery|apiextensions-apiserver|kube-aggregator)/([^"]+)"')
FIELD_RE = re.compile(r"^\s*(?:(\w+)\s+)?(\S+)\s+`([^`]*)`")


def prefix_for(root, d):
    """The OpenAPI definition prefix for the Go package in directory d, or None."""
    rel = os.path.relpath(d, root).replace(os.sep, "/")
    if rel.startswith("pkg/apis/apiextensions/"):
        return "io.k8s.apiextensions-apiserver." + rel.replace("/", ".")
    if rel.startswith("pkg/apis/apiregistration/"):
        return "io.k8s.kube-aggregator." + rel.replace("/", ".")
    if rel.startswith("pkg/"):
        return "io.k8s.apimachinery." + rel.replace("/", ".")
    parts = rel.split("/")
    if len(parts) == 2 and re.fullmatch(r"v\d+((alpha|beta)\d+)?", parts[1]):
        return "io.k8s.api." + rel.replace("/", ".")
    return None


def main(args):
    allowed = None
    if args[:1] == ["--openapi"]:
        import json

        # the packages (group versions) 1.32 serves
        allowed = {d.rsplit(".", 1)[0] for d in json.load(open(args[1]))["definitions"]}
        args = args[2:]
    roots = args
    out = {}
    aliases = []
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs.sort()
            if "/internal" in d or "testdata" in d or "/fuzzer" in d:
                continue
            prefix = prefix_for(root, d)
            if prefix is None:
                continue
            for fn in sorted(files):
                if not fn.endswith(".go") or fn.endswith("_test.go") or fn.startswith("zz_generated") or fn.endswith(".pb.go"):
                    continue
                lines = open(os.path.join(d, fn), encoding="utf-8").read().split("\n")
                imports = {}
                for line in lines:
                    m = IMPORT_RE.match(line)
                    if m:
                        repo, path = m.group(2), m.group(3)
                        alias = m.group(1) or path.split("/")[-1]
                        imports[alias] = "io.k8s." + repo + "." + path.replace("/", ".")
                    m = ALIAS_RE.match(line)
                    if m and m.group(2) in imports:
                        aliases.append((prefix + "." + m.group(1), imports[m.group(2)] + "." + m.group(3)))
                cur = None
                for line in lines:
                    m = STRUCT_RE.match(line)
                    if m:
                        cur = prefix + "." + m.group(1)
                        continue
                    if cur is None:
                        continue
                    if line.startswith("}"):
                        cur = None
                        continue
                    m = FIELD_RE.match(line)
                    if not m:
                        continue
                    gotype, tags = m.group(2), m.group(3)
                    pm = re.search(r'protobuf:"([^"]*)"', tags)
                    jm = re.search(r'json:"([^"]*)"', tags)
                    if not pm or not jm:
                        continue
                    pparts = pm.group(1).split(",")
                    tag = int(pparts[1])
                    jparts = jm.group(1).split(",")
                    jname, jopts = jparts[0], jparts[1:]
                    if jname == "-":
                        continue
                    flags = []
                    if gotype.startswith("*"):
                        flags.append("ptr")
                    if "inline" in jopts:
                        flags.append("inline")
                    elif "omitempty" not in jopts:
                        flags.append("noomit")
                    out.setdefault(cur, []).append((tag, jname or "-", ",".join(flags)))
    print("# Generated by crates/skiff-api/proto-gen/extract_go_fields.py from the Go API types (json and protobuf")
    print("# struct tags) of Kubernetes 1.32 (k8s.io/api, apimachinery, apiextensions-apiserver, kube-aggregator v0.32.9).")
    print("# `= <OpenAPI definition>` then `<proto tag> <json name> [ptr,noomit,inline]` per field; read by gen.py.")
    for name, target in aliases:
        if name not in out and target in out:
            out[name] = out[target]
    for name in sorted(out):
        if allowed is not None and name.rsplit(".", 1)[0] not in allowed:
            continue
        print("= " + name)
        for tag, jname, flags in sorted(out[name]):
            print(f"{tag} {jname} {flags}".rstrip())


if __name__ == "__main__":
    main(sys.argv[1:])
