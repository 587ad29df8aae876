#!/usr/bin/env python3
"""Generates crates/skiff-api/src/proto/tables.rs: the static protobuf -> JSON field tables for every message
of the served (1.32) API.

Inputs:
  * the k8s-pb crate's prost-generated sources (wire types, tags, message references), found in the cargo registry
    (skiff-api has k8s-pb as a dev-dependency, so `cargo fetch` brings it);
  * crates/skiff-api/openapi/kubernetes-1.32-openapi-v2.json: which definitions 1.32 serves and their
    group/version/kind;
  * crates/skiff-api/proto-gen/go-fields-1.32.txt: per Go struct, proto tag -> json name and the flags
    ptr / noomit / inline (see extract_go_fields.py, which made it from the v0.32.9 Go sources).

A field k8s-pb knows but 1.32's Go types don't is left out (1.32 skips its tag, as upstream would). A 1.32 field
k8s-pb lacks is reported (and would be skipped at run time).

Usage: python3 crates/skiff-api/proto-gen/gen.py [--k8s-pb DIR]   (run from the repository root)
"""
import glob
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CRATE = os.path.join(ROOT, "crates/skiff-api")
OPENAPI = os.path.join(CRATE, "openapi/kubernetes-1.32-openapi-v2.json")
GOFIELDS = os.path.join(CRATE, "proto-gen/go-fields-1.32.txt")
OUT = os.path.join(CRATE, "src/proto/tables.rs")

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
AEXT = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
SPECIALS = {
    META + "Time": "Time",
    META + "MicroTime": "MicroTime",
    META + "Duration": "Duration",
    META + "FieldsV1": "RawJson",
    META + "Verbs": "Items",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "RawJson",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    AEXT + "JSON": "RawJson",
    AEXT + "JSONSchemaPropsOrArray": "OrArray",
    AEXT + "JSONSchemaPropsOrBool": "OrBool",
    AEXT + "JSONSchemaPropsOrStringArray": "OrStringArray",
}
for g in ("authentication", "authorization", "certificates"):
    for v in ("v1", "v1beta1", "v1alpha1"):
        SPECIALS[f"io.k8s.api.{g}.{v}.ExtraValue"] = "Items"

SCALARS = {"string": "S", "bool": "B", "int32": "I32", "int64": "I64", "double": "F64", "bytes": "Y"}


def find_k8s_pb():
    for i, a in enumerate(sys.argv):
        if a == "--k8s-pb":
            return sys.argv[i + 1]
    lock = open(os.path.join(ROOT, "Cargo.lock")).read()
    m = re.search(r'name = "k8s-pb"\nversion = "([^"]+)"', lock)
    if not m:
        sys.exit("k8s-pb is not in Cargo.lock (it is a dev-dependency of skiff-api)")
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    dirs = glob.glob(os.path.join(home, f"registry/src/*/k8s-pb-{m.group(1)}/src"))
    if not dirs:
        sys.exit(f"k8s-pb {m.group(1)} sources not found: run `cargo fetch` first")
    return dirs[0]


def module_prefix(modpath):
    """k8s-pb module path (list) -> OpenAPI definition prefix."""
    top, rest = modpath[0], modpath[1:]
    if top == "api":
        return "io.k8s.api." + ".".join(rest)
    if top == "apimachinery":
        return "io.k8s.apimachinery." + ".".join(rest)
    if top == "apiextensions_apiserver":
        return "io.k8s.apiextensions-apiserver." + ".".join(rest)
    if top == "kube_aggregator":
        return "io.k8s.kube-aggregator." + ".".join(rest)
    return None


def parse_k8s_pb(src):
    """Returns {(modpath tuple, rust struct name): [(tag, prost kind, card, target)]} where card is
    one/rep/map and target is a scalar kind or (modpath, struct) of a message."""
    msgs = {}
    for path in sorted(glob.glob(os.path.join(src, "**/mod.rs"), recursive=True)):
        modpath = tuple(os.path.relpath(os.path.dirname(path), src).split(os.sep))
        text = open(path, encoding="utf-8").read()
        # join multi-line field declarations
        lines = [l.strip() for l in text.split("\n") if not l.strip().startswith("//")]
        text = " ".join(lines)
        for sm in re.finditer(r"pub struct (\w+) \{(.*?)\}(?=\s+#\[|\s+pub struct|\s+impl\s|\s*$)", text):
            name, body = sm.group(1), sm.group(2)
            fields = []
            for fm in re.finditer(r"#\[prost\(([^\]]*)\)\] pub (?:r#)?(\w+): ([^#]*?),(?=\s+#\[|\s*$)", body):
                attr, fname, ty = fm.group(1), fm.group(2), fm.group(3)
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                kind = attr.split(",")[0].strip()
                if kind.startswith("btree_map"):
                    k, v = re.search(r'btree_map = "(\w+), (\w+)"', attr).groups()
                    assert k == "string", (name, fname, attr)
                    card = "map"
                    kind = v
                else:
                    card = "rep" if "repeated" in attr else "one"
                    kind = kind.split("=")[0].strip()  # bytes = "vec"
                if kind == "message":
                    inner = re.sub(r"\s+", "", ty).replace(",>", ">")
                    inner = inner.rstrip(">").split("<")[-1]  # last generic argument
                    if "," in inner:
                        inner = inner.split(",")[-1]
                    parts = inner.split("::")
                    base = list(modpath)
                    while parts[0] == "super":
                        base.pop()
                        parts.pop(0)
                    target = (tuple(base + parts[:-1]), parts[-1])
                else:
                    assert kind in SCALARS, (name, fname, attr)
                    target = kind
                fields.append((tag, fname, card, target))
            msgs[(modpath, name)] = fields
    return msgs


def parse_gofields():
    out, cur = {}, None
    for line in open(GOFIELDS, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        if line.startswith("= "):
            cur = out.setdefault(line[2:], {})
            continue
        parts = line.split(" ")
        flags = set(parts[2].split(",")) if len(parts) > 2 else set()
        cur[int(parts[0])] = (parts[1], flags)
    return out


def main():
    src = find_k8s_pb()
    pb = parse_k8s_pb(src)
    doc = json.load(open(OPENAPI))
    defs = doc["definitions"]
    gof = parse_gofields()

    # real (Go/OpenAPI) name of each k8s-pb message: prost renames e.g. JSONSchemaProps -> JsonSchemaProps
    known = {}
    for n in list(defs) + list(gof) + list(SPECIALS):
        known.setdefault(n.lower(), n)
    real = {}
    for key in pb:
        prefix = module_prefix(key[0])
        if prefix is None:
            continue
        n = known.get((prefix + "." + key[1]).lower())
        if n is None and prefix + "." + key[1] in ():
            pass
        real[key] = n or (prefix + "." + key[1])

    # messages to emit: those 1.32 serves (in OpenAPI) and everything they reference
    by_real = {real[k]: k for k in real}
    order, index = [], {}

    def add(key):
        if key in index:
            return
        index[key] = len(order)
        order.append(key)
        name = real[key]
        served = gof.get(name, {})
        for tag, fname, card, target in pb[key]:
            if name not in SPECIALS and tag not in served:
                continue  # not a 1.32 field
            if isinstance(target, tuple):
                if target not in pb:
                    sys.exit(f"unresolved message {target} in {key}")
                add(target)

    missing_defs = []
    for d in sorted(defs):
        if d in by_real:
            add(by_real[d])
        elif defs[d].get("type") == "object" and d not in SPECIALS:
            missing_defs.append(d)

    report = []
    for d in missing_defs:
        report.append(f"OpenAPI definition without a k8s-pb message: {d}")

    rows = []
    nfields = 0
    for key in order:
        name = real[key]
        special = SPECIALS.get(name, "None")
        fields = []
        gofields = gof.get(name)
        if special == "None" and gofields is None:
            if pb[key]:
                report.append(f"no Go field info for {name}; skipping all its fields")
            gofields = {}
        covered = set()
        for tag, fname, card, target in sorted(pb[key]):
            if special != "None":
                jname, flags = fname, set()
            elif tag in gofields:
                jname, flags = gofields[tag]
            else:
                report.append(f"{name}: k8s-pb field {tag} {fname} is not in 1.32; skipped")
                continue
            covered.add(jname)
            if isinstance(target, tuple):
                ty = f"M({index[target]})"
            else:
                ty = SCALARS[target]
            fl = []
            if card == "rep":
                fl.append("REP")
            if card == "map":
                fl.append("MAP")
            for f in ("ptr", "noomit", "inline"):
                if f in flags:
                    fl.append(f.upper())
            fields.append(f'F({tag}, "{jname}", {ty}, {" | ".join(fl) or "0"})')
        if special == "None" and name in defs:
            props = set(defs[name].get("properties", {})) - {"apiVersion", "kind"}
            inl = [f for f in fields if "INLINE" in f]
            if not inl:
                for p in sorted(props - covered):
                    report.append(f"{name}: 1.32 property {p} has no k8s-pb field")
        for tag, (jname, flags) in sorted(gofields.items()) if special == "None" else []:
            if tag not in {t for t, *_ in pb[key]}:
                report.append(f"{name}: 1.32 field {tag} {jname} has no k8s-pb field; it will be skipped")
        nfields += len(fields)
        rows.append((name, special, fields))

    kinds = []
    for d, v in defs.items():
        if d not in by_real or by_real[d] not in index:
            continue
        for gvk in v.get("x-kubernetes-group-version-kind", []):
            kinds.append((gvk["group"], gvk["version"], gvk["kind"], index[by_real[d]]))
    kinds = sorted(set(kinds))

    out = []
    out.append("// @generated by crates/skiff-api/proto-gen/gen.py from k8s-pb, the 1.32 OpenAPI document and")
    out.append("// proto-gen/go-fields-1.32.txt. Do not edit by hand.")
    out.append("")
    out.append("use super::schema::Special as X;")
    out.append("use super::schema::Ty::*;")
    out.append("use super::schema::{Field as F, Msg, INLINE, MAP, NOOMIT, PTR, REP};")
    out.append("")
    out.append(f"/// Every message of the served API, referenced by index from `Ty::M` and `KINDS`.")
    out.append(f"pub(super) static MSGS: [Msg; {len(rows)}] = [")
    for i, (name, special, fields) in enumerate(rows):
        out.append(f'    // {i}')
        if not fields:
            out.append(f'    Msg {{ name: "{name}", special: X::{special}, fields: &[] }},')
            continue
        out.append(f'    Msg {{')
        out.append(f'        name: "{name}",')
        out.append(f'        special: X::{special},')
        out.append(f'        fields: &[')
        for f in fields:
            out.append(f"            {f},")
        out.append(f"        ],")
        out.append(f"    }},")
    out.append("];")
    out.append("")
    out.append("/// (group, version, kind) -> index in `MSGS`, sorted for binary search.")
    out.append(f"pub(super) static KINDS: [(&str, &str, &str, u16); {len(kinds)}] = [")
    for g, v, k, i in kinds:
        out.append(f'    ("{g}", "{v}", "{k}", {i}),')
    out.append("];")
    open(OUT, "w").write("\n".join(out) + "\n")
    subprocess.run(["rustfmt", "--edition", "2021", OUT], check=True)
    for r in report:
        print(r, file=sys.stderr)
    print(f"{len(rows)} messages, {nfields} fields, {len(kinds)} kinds -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
