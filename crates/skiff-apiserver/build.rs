//! Generates skiff's OpenAPI documents from Kubernetes 1.32's own v2 document
//! (`crates/skiff-api/openapi/kubernetes-1.32-openapi-v2.json`):
//!
//! - the v2 document with `paths` cut down to the served resources (and the root discovery paths), and
//!   `definitions` / `parameters` cut down to what those paths reference transitively (plus every definition of
//!   a kind those paths speak), as JSON and as gnostic's `openapi.v2.Document` protobuf (kubectl up to 1.28
//!   fetches that before anything else for `apply` and `explain`);
//! - one OpenAPI 3.0 document per discovery path (`api`, `api/v1`, `apis`, `apis/apps`, `apis/apps/v1`, ...,
//!   `version`), converted the way kube-openapi converts v2 to v3 (`pkg/openapiconv`): body parameters become
//!   `requestBody` with one content entry per consumed media type, other parameters get a `schema`, responses
//!   get one content entry per produced media type, `$ref`s point into `#/components/schemas/`, and a `$ref`
//!   with siblings is wrapped in `allOf` (`builder3/util.WrapRefs`). `IntOrString` and `Quantity` get the
//!   `oneOf` forms upstream's v3 documents carry;
//! - the `/openapi/v3` index, whose `serverRelativeURL`s carry each document's SHA-512 (upper-case hex).
//!
//! Every document is written gzip-compressed to `OUT_DIR`, with `openapi_generated.rs` describing them; the
//! server embeds the bytes and never parses them.

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha512};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

include!("src/openapi/served.rs");

const REFERENCE: &str = "../skiff-api/openapi/kubernetes-1.32-openapi-v2.json";
const V2_DEF: &str = "#/definitions/";
const V3_DEF: &str = "#/components/schemas/";
const V2_PARAM: &str = "#/parameters/";

/// Where a reference path belongs.
#[derive(Debug, PartialEq)]
enum Place {
    /// Served: the key of the v3 document it goes in.
    Keep(String),
    Drop,
}

fn served_group(group: &str) -> bool {
    SERVED.iter().any(|(g, _, _, _)| *g == group)
}

fn served_gv(group: &str, version: &str) -> bool {
    SERVED.iter().any(|(g, v, _, _)| *g == group && *v == version)
}

/// Sorts a reference path into its v3 document (`api/v1`, `apis/apps/v1`, `apis/apps`, `api`, `apis`,
/// `version`) if it is a path skiff serves.
fn place(path: &str) -> Place {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest, key) = match segs.as_slice() {
        ["api"] | ["apis"] | ["version"] => return Place::Keep(segs[0].to_string()),
        ["apis", g] => {
            return if served_group(g) { Place::Keep(format!("apis/{g}")) } else { Place::Drop };
        }
        ["api", v, rest @ ..] => ("", *v, rest, format!("api/{v}")),
        ["apis", g, v, rest @ ..] => (*g, *v, rest, format!("apis/{g}/{v}")),
        _ => return Place::Drop,
    };
    if !served_gv(group, version) {
        return Place::Drop;
    }
    let rest = match rest {
        ["watch", r @ ..] => r,
        r => r,
    };
    let (plural, after) = match rest {
        [] => return Place::Keep(key),
        ["namespaces", "{namespace}", plural, after @ ..] => (*plural, after),
        [plural, after @ ..] => (*plural, after),
    };
    let Some((_, _, _, subresources)) = SERVED.iter().find(|(g, v, p, _)| *g == group && *v == version && *p == plural)
    else {
        return Place::Drop;
    };
    match after {
        [] | [_] => Place::Keep(key),
        [_, sub, ..] if subresources.contains(sub) => Place::Keep(key),
        _ => Place::Drop,
    }
}

/// Every `$ref` string anywhere under `v`.
fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// The definition names reachable from `roots` (values that may contain `$ref`s), parameters resolved.
fn reachable_definitions(
    roots: &[&Value],
    definitions: &Map<String, Value>,
    parameters: &Map<String, Value>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = Vec::new();
    for r in roots {
        collect_refs(r, &mut queue);
    }
    while let Some(r) = queue.pop() {
        if let Some(p) = r.strip_prefix(V2_PARAM) {
            if let Some(param) = parameters.get(p) {
                collect_refs(param, &mut queue);
            }
        } else if let Some(name) = r.strip_prefix(V2_DEF) {
            if seen.insert(name.to_string()) {
                let def = definitions.get(name).unwrap_or_else(|| panic!("dangling $ref {r}"));
                collect_refs(def, &mut queue);
            }
        } else {
            panic!("unexpected $ref {r}");
        }
    }
    seen
}

/// kube-openapi's `ConvertSchema` followed by `WrapRefs`.
fn convert_schema(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, x) in m {
        let cx = match (k.as_str(), x) {
            ("$ref", Value::String(s)) => {
                let name = s.strip_prefix(V2_DEF).unwrap_or_else(|| panic!("unexpected schema $ref {s}"));
                Value::String(format!("{V3_DEF}{name}"))
            }
            ("properties" | "patternProperties" | "definitions", Value::Object(props)) => {
                Value::Object(props.iter().map(|(n, s)| (n.clone(), convert_schema(s))).collect())
            }
            ("items", Value::Array(a)) | ("allOf" | "anyOf" | "oneOf", Value::Array(a)) => {
                Value::Array(a.iter().map(convert_schema).collect())
            }
            ("items" | "additionalProperties" | "additionalItems" | "not", Value::Object(_)) => convert_schema(x),
            _ => x.clone(),
        };
        out.insert(k.clone(), cx);
    }
    if out.len() > 1 {
        if let Some(r) = out.remove("$ref") {
            let mut all_of = vec![json!({ "$ref": r })];
            if let Some(Value::Array(existing)) = out.remove("allOf") {
                all_of.extend(existing);
            }
            out.insert("allOf".into(), Value::Array(all_of));
        }
    }
    Value::Object(out)
}

/// Upstream's v3 forms of the two apimachinery types whose v3 schema differs from their v2 one
/// (`OpenAPIV3OneOfTypes`).
fn v3_definition(name: &str, v2: &Value) -> Value {
    let description = v2.get("description").cloned().unwrap_or(Value::Null);
    match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => json!({
            "description": description,
            "format": "int-or-string",
            "oneOf": [{"type": "integer"}, {"type": "string"}],
        }),
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => json!({
            "description": description,
            "oneOf": [{"type": "string"}, {"type": "number"}],
        }),
        _ => convert_schema(v2),
    }
}

fn resolve_param<'a>(p: &'a Value, parameters: &'a Map<String, Value>) -> &'a Value {
    match p.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix(V2_PARAM).unwrap_or_else(|| panic!("unexpected parameter $ref {r}"));
            parameters.get(name).unwrap_or_else(|| panic!("dangling $ref {r}"))
        }
        None => p,
    }
}

/// kube-openapi's `ConvertParameter`, for a non-body parameter.
fn convert_parameter(p: &Value) -> Value {
    let mut out = Map::new();
    for k in ["name", "in", "description", "required", "allowEmptyValue"] {
        if let Some(x) = p.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    let schema = match p.get("schema") {
        Some(s) => convert_schema(s),
        None => {
            let mut s = Map::new();
            for k in ["type", "format", "uniqueItems"] {
                if let Some(x) = p.get(k) {
                    s.insert(k.into(), x.clone());
                }
            }
            Value::Object(s)
        }
    };
    out.insert("schema".into(), schema);
    for (k, x) in p.as_object().into_iter().flatten() {
        if k.starts_with("x-") {
            out.insert(k.clone(), x.clone());
        }
    }
    Value::Object(out)
}

fn media_types(op: &Value, key: &str) -> Vec<String> {
    op.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// kube-openapi's `ConvertOperation`.
fn convert_operation(op: &Value, parameters: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for k in ["description", "summary", "operationId", "tags", "deprecated", "externalDocs"] {
        if let Some(x) = op.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    let mut params = Vec::new();
    for p in op.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        let p = resolve_param(p, parameters);
        if p.get("in").and_then(Value::as_str) == Some("body") {
            let schema = convert_schema(p.get("schema").expect("body parameter without schema"));
            let content: Map<String, Value> =
                media_types(op, "consumes").into_iter().map(|c| (c, json!({ "schema": schema.clone() }))).collect();
            let mut body = Map::new();
            body.insert("content".into(), Value::Object(content));
            if let Some(d) = p.get("description") {
                body.insert("description".into(), d.clone());
            }
            if p.get("required") == Some(&Value::Bool(true)) {
                body.insert("required".into(), Value::Bool(true));
            }
            out.insert("requestBody".into(), Value::Object(body));
        } else {
            params.push(convert_parameter(p));
        }
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    let produces = media_types(op, "produces");
    let mut responses = Map::new();
    for (code, r) in op.get("responses").and_then(Value::as_object).into_iter().flatten() {
        let mut cr = Map::new();
        if let Some(d) = r.get("description") {
            cr.insert("description".into(), d.clone());
        }
        if let Some(s) = r.get("schema") {
            let schema = convert_schema(s);
            let content: Map<String, Value> =
                produces.iter().map(|c| (c.clone(), json!({ "schema": schema.clone() }))).collect();
            cr.insert("content".into(), Value::Object(content));
        }
        responses.insert(code.clone(), Value::Object(cr));
    }
    out.insert("responses".into(), Value::Object(responses));
    for (k, x) in op.as_object().into_iter().flatten() {
        if k.starts_with("x-") {
            out.insert(k.clone(), x.clone());
        }
    }
    Value::Object(out)
}

fn convert_path_item(item: &Value, parameters: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (k, x) in item.as_object().expect("path item is an object") {
        let cx = match k.as_str() {
            "get" | "put" | "post" | "delete" | "options" | "head" | "patch" => convert_operation(x, parameters),
            "parameters" => Value::Array(
                x.as_array().into_iter().flatten().map(|p| convert_parameter(resolve_param(p, parameters))).collect(),
            ),
            _ => x.clone(),
        };
        out.insert(k.clone(), cx);
    }
    Value::Object(out)
}

/// Object keys sorted at every level, as Go's encoding/json writes maps.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let b: BTreeMap<String, Value> = m.into_iter().map(|(k, x)| (k, sorted(x))).collect();
            Value::Object(b.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        x => x,
    }
}

fn sha512_hex(data: &[u8]) -> String {
    Sha512::digest(data).iter().map(|b| format!("{b:02X}")).collect()
}

struct Written {
    file: String,
    len: usize,
    gz_len: usize,
    hash: String,
}

fn write_doc(out_dir: &Path, file: &str, doc: &Value) -> Written {
    write_bytes(out_dir, file, &serde_json::to_vec(doc).expect("serialize"))
}

fn write_bytes(out_dir: &Path, file: &str, json: &[u8]) -> Written {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(json).expect("gzip");
    let gz = enc.finish().expect("gzip");
    std::fs::write(out_dir.join(file), &gz).expect("write OUT_DIR");
    Written { file: file.to_string(), len: json.len(), gz_len: gz.len(), hash: sha512_hex(json) }
}

fn doc_literal(w: &Written) -> String {
    format!(
        "Doc {{ gz: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{}\")), len: {}, hash: \"{}\" }}",
        w.file, w.len, w.hash
    )
}

fn main() {
    println!("cargo:rerun-if-changed={REFERENCE}");
    println!("cargo:rerun-if-changed=src/openapi/served.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let reference: Value =
        serde_json::from_slice(&std::fs::read(REFERENCE).expect("read the reference OpenAPI document")).expect("parse");
    let definitions = reference["definitions"].as_object().expect("definitions");
    let parameters = reference["parameters"].as_object().expect("parameters");
    let paths = reference["paths"].as_object().expect("paths");

    // Paths skiff serves, by v3 document.
    let mut groups: BTreeMap<String, Vec<(&String, &Value)>> = BTreeMap::new();
    for (p, item) in paths {
        if let Place::Keep(key) = place(p) {
            groups.entry(key).or_default().push((p, item));
        }
    }
    for (g, v, plural, _) in SERVED {
        let key = if g.is_empty() { format!("api/{v}") } else { format!("apis/{g}/{v}") };
        let found = groups.get(&key).is_some_and(|ps| ps.iter().any(|(p, _)| p.split('/').any(|s| s == *plural)));
        assert!(found, "no paths for served resource {key}/{plural} in the reference document");
    }

    // v2: the served paths, the definitions they reach plus every definition of a served kind, and the global
    // parameters they use.
    let kept_items: Vec<&Value> = groups.values().flatten().map(|(_, item)| *item).collect();
    let mut v2_defs = reachable_definitions(&kept_items, definitions, parameters);
    let mut served_gvks = Vec::new();
    for item in &kept_items {
        for (_, op) in item.as_object().into_iter().flatten() {
            if let Some(gvk) = op.get("x-kubernetes-group-version-kind") {
                served_gvks.push(gvk.clone());
            }
        }
    }
    for (name, def) in definitions {
        let gvks = def.get("x-kubernetes-group-version-kind").and_then(Value::as_array);
        if gvks.into_iter().flatten().any(|gvk| served_gvks.contains(gvk)) {
            let root = json!({ "$ref": format!("{V2_DEF}{name}") });
            v2_defs.extend(reachable_definitions(&[&root], definitions, parameters));
        }
    }
    let mut used_params = Vec::new();
    for item in &kept_items {
        collect_refs(item, &mut used_params);
    }
    let used_params: BTreeSet<&str> = used_params.iter().filter_map(|r| r.strip_prefix(V2_PARAM)).collect();
    let mut v2 = reference.clone();
    v2["paths"] = Value::Object(groups.values().flatten().map(|(p, item)| ((*p).clone(), (*item).clone())).collect());
    v2["definitions"] = Value::Object(v2_defs.iter().map(|n| (n.clone(), definitions[n.as_str()].clone())).collect());
    v2["parameters"] = Value::Object(used_params.iter().map(|n| (n.to_string(), parameters[*n].clone())).collect());
    let v2 = sorted(v2);
    let v2_written = write_doc(&out_dir, "v2.json.gz", &v2);
    let v2_pb_written = write_bytes(&out_dir, "v2.pb.gz", &pb::document(&v2));

    // v3: one document per discovery path.
    let security_schemes = reference.get("securityDefinitions").cloned();
    let mut v3_written = Vec::new();
    for (i, (key, items)) in groups.iter().enumerate() {
        let roots: Vec<&Value> = items.iter().map(|(_, item)| *item).collect();
        let defs = reachable_definitions(&roots, definitions, parameters);
        let mut components = Map::new();
        components.insert(
            "schemas".into(),
            Value::Object(defs.iter().map(|n| (n.clone(), v3_definition(n, &definitions[n.as_str()]))).collect()),
        );
        if let Some(s) = &security_schemes {
            components.insert("securitySchemes".into(), s.clone());
        }
        let mut doc = json!({
            "openapi": "3.0.0",
            "info": reference["info"],
            "paths": items.iter().map(|(p, item)| ((*p).clone(), convert_path_item(item, parameters))).collect::<Map<_, _>>(),
            "components": components,
        });
        if let Some(s) = reference.get("security") {
            doc["security"] = s.clone();
        }
        let written = write_doc(&out_dir, &format!("v3-{i}.json.gz"), &sorted(doc));
        v3_written.push((key.clone(), written));
    }
    let index = json!({
        "paths": v3_written.iter().map(|(key, w)| {
            (key.clone(), json!({ "serverRelativeURL": format!("/openapi/v3/{key}?hash={}", w.hash) }))
        }).collect::<Map<_, _>>(),
    });
    let index_written = write_doc(&out_dir, "v3-index.json.gz", &sorted(index));

    let mut code = String::from("// Generated by build.rs from the reference OpenAPI v2 document. Do not edit.\n\n");
    code += &format!("/// `/openapi/v2` (JSON, {} bytes gzip-compressed).\n", v2_written.gz_len);
    code += &format!("pub static V2: Doc = {};\n\n", doc_literal(&v2_written));
    code += &format!("/// `/openapi/v2` as gnostic protobuf ({} bytes gzip-compressed).\n", v2_pb_written.gz_len);
    code += &format!("pub static V2_PB: Doc = {};\n\n", doc_literal(&v2_pb_written));
    code += "/// `/openapi/v3`: the index of the documents below.\n";
    code += &format!("pub static V3_INDEX: Doc = {};\n\n", doc_literal(&index_written));
    code += "/// `/openapi/v3/<key>`, sorted by key.\npub static V3: &[(&str, Doc)] = &[\n";
    for (key, w) in &v3_written {
        code +=
            &format!("    // {} bytes, {} gzip-compressed\n    (\"{key}\", {}),\n", w.len, w.gz_len, doc_literal(w));
    }
    code += "];\n";
    std::fs::write(out_dir.join("openapi_generated.rs"), code).expect("write OUT_DIR");
}

/// Encodes the v2 document as gnostic's `openapi.v2.Document` protobuf
/// (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`), which kubectl up to 1.28 reads before
/// anything else. Mirrors gnostic's JSON-to-protobuf mapping for the parts Kubernetes' document uses; vendor
/// extensions, defaults and examples are `Any { yaml }` holding their JSON text (JSON is YAML).
mod pb {
    use serde_json::{Map, Value};

    #[derive(Default)]
    pub struct Msg(Vec<u8>);

    impl Msg {
        fn varint(&mut self, mut v: u64) {
            while v >= 0x80 {
                self.0.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.0.push(v as u8);
        }
        fn key(&mut self, field: u32, wire: u8) {
            self.varint(((field as u64) << 3) | wire as u64);
        }
        fn bytes(&mut self, field: u32, b: &[u8]) {
            self.key(field, 2);
            self.varint(b.len() as u64);
            self.0.extend_from_slice(b);
        }
        fn msg(&mut self, field: u32, m: Msg) {
            self.bytes(field, &m.0);
        }
        fn string(&mut self, field: u32, v: Option<&Value>) {
            if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
                self.bytes(field, s.as_bytes());
            }
        }
        fn strings(&mut self, field: u32, v: Option<&Value>) {
            for s in v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                self.bytes(field, s.as_bytes());
            }
        }
        fn bool(&mut self, field: u32, v: Option<&Value>) {
            if v.and_then(Value::as_bool) == Some(true) {
                self.key(field, 0);
                self.varint(1);
            }
        }
        fn int(&mut self, field: u32, v: Option<&Value>) {
            if let Some(i) = v.and_then(Value::as_i64).filter(|i| *i != 0) {
                self.key(field, 0);
                self.varint(i as u64);
            }
        }
        fn double(&mut self, field: u32, v: Option<&Value>) {
            if let Some(f) = v.and_then(Value::as_f64).filter(|f| *f != 0.0) {
                self.key(field, 1);
                self.0.extend_from_slice(&f.to_le_bytes());
            }
        }
        /// `Any { yaml = 2 }`.
        fn any(&mut self, field: u32, v: Option<&Value>) {
            if let Some(v) = v {
                let mut a = Msg::default();
                a.bytes(2, serde_json::to_string(v).unwrap().as_bytes());
                self.msg(field, a);
            }
        }
        fn anys(&mut self, field: u32, v: Option<&Value>) {
            for x in v.and_then(Value::as_array).into_iter().flatten() {
                self.any(field, Some(x));
            }
        }
        /// `repeated NamedAny vendor_extension`: every `x-` key.
        fn extensions(&mut self, field: u32, v: &Value) {
            for (k, x) in v.as_object().into_iter().flatten().filter(|(k, _)| k.starts_with("x-")) {
                let mut named = Msg::default();
                named.bytes(1, k.as_bytes());
                named.any(2, Some(x));
                self.msg(field, named);
            }
        }
        /// `repeated Named<T> { name = 1; value = 2 }` under `field`.
        fn named(&mut self, field: u32, v: Option<&Value>, encode: impl Fn(&Value) -> Msg) {
            for (k, x) in v.and_then(Value::as_object).into_iter().flatten() {
                let mut named = Msg::default();
                named.bytes(1, k.as_bytes());
                named.msg(2, encode(x));
                self.msg(field, named);
            }
        }
    }

    fn wrap(field: u32, inner: Msg) -> Msg {
        let mut m = Msg::default();
        m.msg(field, inner);
        m
    }

    pub fn document(d: &Value) -> Vec<u8> {
        let mut m = Msg::default();
        m.string(1, d.get("swagger"));
        if let Some(info) = d.get("info") {
            let mut i = Msg::default();
            i.string(1, info.get("title"));
            i.string(2, info.get("version"));
            i.string(3, info.get("description"));
            i.extensions(7, info);
            m.msg(2, i);
        }
        m.string(3, d.get("host"));
        m.string(4, d.get("basePath"));
        m.strings(5, d.get("schemes"));
        m.strings(6, d.get("consumes"));
        m.strings(7, d.get("produces"));
        if let Some(paths) = d.get("paths") {
            let mut p = Msg::default();
            p.extensions(1, paths);
            let items: Map<String, Value> = paths
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !k.starts_with("x-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            p.named(2, Some(&Value::Object(items)), path_item);
            m.msg(8, p);
        }
        if d.get("definitions").is_some() {
            let mut defs = Msg::default();
            defs.named(1, d.get("definitions"), schema);
            m.msg(9, defs);
        }
        if d.get("parameters").is_some() {
            let mut params = Msg::default();
            params.named(1, d.get("parameters"), parameter);
            m.msg(10, params);
        }
        for req in d.get("security").and_then(Value::as_array).into_iter().flatten() {
            let mut r = Msg::default();
            r.named(1, Some(req), |scopes| {
                let mut a = Msg::default();
                a.strings(1, Some(scopes));
                a
            });
            m.msg(12, r);
        }
        if d.get("securityDefinitions").is_some() {
            let mut sd = Msg::default();
            sd.named(1, d.get("securityDefinitions"), |s| {
                let mut x = Msg::default();
                match s.get("type").and_then(Value::as_str) {
                    Some("basic") => {
                        x.string(1, s.get("type"));
                        x.string(2, s.get("description"));
                        x.extensions(3, s);
                        wrap(1, x)
                    }
                    _ => {
                        x.string(1, s.get("type"));
                        x.string(2, s.get("name"));
                        x.string(3, s.get("in"));
                        x.string(4, s.get("description"));
                        x.extensions(5, s);
                        wrap(2, x)
                    }
                }
            });
            m.msg(13, sd);
        }
        m.extensions(16, d);
        m.0
    }

    fn path_item(v: &Value) -> Msg {
        let mut m = Msg::default();
        m.string(1, v.get("$ref"));
        for (field, verb) in
            [(2, "get"), (3, "put"), (4, "post"), (5, "delete"), (6, "options"), (7, "head"), (8, "patch")]
        {
            if let Some(op) = v.get(verb) {
                m.msg(field, operation(op));
            }
        }
        for p in v.get("parameters").and_then(Value::as_array).into_iter().flatten() {
            m.msg(9, parameters_item(p));
        }
        m.extensions(10, v);
        m
    }

    fn operation(v: &Value) -> Msg {
        let mut m = Msg::default();
        m.strings(1, v.get("tags"));
        m.string(2, v.get("summary"));
        m.string(3, v.get("description"));
        m.string(5, v.get("operationId"));
        m.strings(6, v.get("produces"));
        m.strings(7, v.get("consumes"));
        for p in v.get("parameters").and_then(Value::as_array).into_iter().flatten() {
            m.msg(8, parameters_item(p));
        }
        if let Some(responses) = v.get("responses") {
            let mut r = Msg::default();
            let codes: Map<String, Value> = responses
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| !k.starts_with("x-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            r.named(1, Some(&Value::Object(codes)), |resp| {
                if resp.get("$ref").is_some() {
                    let mut j = Msg::default();
                    j.string(1, resp.get("$ref"));
                    return wrap(2, j);
                }
                let mut x = Msg::default();
                x.string(1, resp.get("description"));
                if let Some(s) = resp.get("schema") {
                    x.msg(2, wrap(1, schema(s)));
                }
                x.extensions(5, resp);
                wrap(1, x)
            });
            r.extensions(2, responses);
            m.msg(9, r);
        }
        m.strings(10, v.get("schemes"));
        m.bool(11, v.get("deprecated"));
        m.extensions(13, v);
        m
    }

    fn parameters_item(v: &Value) -> Msg {
        if v.get("$ref").is_some() {
            let mut j = Msg::default();
            j.string(1, v.get("$ref"));
            j.string(2, v.get("description"));
            return wrap(2, j);
        }
        wrap(1, parameter(v))
    }

    /// `Parameter`: a body parameter or one of the four non-body sub-schemas.
    fn parameter(v: &Value) -> Msg {
        let mut m = Msg::default();
        let location = v.get("in").and_then(Value::as_str).unwrap_or("");
        if location == "body" {
            m.string(1, v.get("description"));
            m.string(2, v.get("name"));
            m.string(3, v.get("in"));
            m.bool(4, v.get("required"));
            if let Some(s) = v.get("schema") {
                m.msg(5, schema(s));
            }
            m.extensions(6, v);
            return wrap(1, m);
        }
        m.bool(1, v.get("required"));
        m.string(2, v.get("in"));
        m.string(3, v.get("description"));
        m.string(4, v.get("name"));
        // Query and formData sub-schemas have allow_empty_value at 5, shifting the rest by one.
        let (variant, o) = match location {
            "header" => (1, 0),
            "formData" => (2, 1),
            "path" => (4, 0),
            _ => (3, 1),
        };
        if o == 1 {
            m.bool(5, v.get("allowEmptyValue"));
        }
        m.string(5 + o, v.get("type"));
        m.string(6 + o, v.get("format"));
        if let Some(items) = v.get("items") {
            m.msg(7 + o, primitives_items(items));
        }
        m.string(8 + o, v.get("collectionFormat"));
        m.any(9 + o, v.get("default"));
        m.double(10 + o, v.get("maximum"));
        m.bool(11 + o, v.get("exclusiveMaximum"));
        m.double(12 + o, v.get("minimum"));
        m.bool(13 + o, v.get("exclusiveMinimum"));
        m.int(14 + o, v.get("maxLength"));
        m.int(15 + o, v.get("minLength"));
        m.string(16 + o, v.get("pattern"));
        m.int(17 + o, v.get("maxItems"));
        m.int(18 + o, v.get("minItems"));
        m.bool(19 + o, v.get("uniqueItems"));
        m.anys(20 + o, v.get("enum"));
        m.double(21 + o, v.get("multipleOf"));
        m.extensions(22 + o, v);
        wrap(2, wrap(variant, m))
    }

    fn primitives_items(v: &Value) -> Msg {
        let mut m = Msg::default();
        m.string(1, v.get("type"));
        m.string(2, v.get("format"));
        if let Some(items) = v.get("items") {
            m.msg(3, primitives_items(items));
        }
        m.string(4, v.get("collectionFormat"));
        m.any(5, v.get("default"));
        m.bool(15, v.get("uniqueItems"));
        m.anys(16, v.get("enum"));
        m.extensions(18, v);
        m
    }

    fn schema(v: &Value) -> Msg {
        let mut m = Msg::default();
        m.string(1, v.get("$ref"));
        m.string(2, v.get("format"));
        m.string(3, v.get("title"));
        m.string(4, v.get("description"));
        m.any(5, v.get("default"));
        m.double(6, v.get("multipleOf"));
        m.double(7, v.get("maximum"));
        m.bool(8, v.get("exclusiveMaximum"));
        m.double(9, v.get("minimum"));
        m.bool(10, v.get("exclusiveMinimum"));
        m.int(11, v.get("maxLength"));
        m.int(12, v.get("minLength"));
        m.string(13, v.get("pattern"));
        m.int(14, v.get("maxItems"));
        m.int(15, v.get("minItems"));
        m.bool(16, v.get("uniqueItems"));
        m.int(17, v.get("maxProperties"));
        m.int(18, v.get("minProperties"));
        m.strings(19, v.get("required"));
        m.anys(20, v.get("enum"));
        match v.get("additionalProperties") {
            Some(Value::Bool(b)) => {
                let mut a = Msg::default();
                a.key(2, 0);
                a.varint(*b as u64);
                m.msg(21, a);
            }
            Some(s @ Value::Object(_)) => m.msg(21, wrap(1, schema(s))),
            _ => {}
        }
        match v.get("type") {
            Some(t @ Value::String(_)) => {
                let mut ty = Msg::default();
                ty.string(1, Some(t));
                m.msg(22, ty);
            }
            Some(t @ Value::Array(_)) => {
                let mut ty = Msg::default();
                ty.strings(1, Some(t));
                m.msg(22, ty);
            }
            _ => {}
        }
        match v.get("items") {
            Some(s @ Value::Object(_)) => m.msg(23, wrap(1, schema(s))),
            Some(Value::Array(a)) => {
                let mut items = Msg::default();
                for s in a {
                    items.msg(1, schema(s));
                }
                m.msg(23, items);
            }
            _ => {}
        }
        for s in v.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            m.msg(24, schema(s));
        }
        if v.get("properties").is_some() {
            let mut props = Msg::default();
            props.named(1, v.get("properties"), schema);
            m.msg(25, props);
        }
        m.string(26, v.get("discriminator"));
        m.bool(27, v.get("readOnly"));
        m.any(30, v.get("example"));
        m.extensions(31, v);
        m
    }
}
