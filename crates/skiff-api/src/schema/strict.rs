//! Strict field validation (`fieldValidation=Strict|Warn|Ignore`), mirroring upstream's decoder.
//!
//! Upstream decodes request bodies with `sigs.k8s.io/json` `UnmarshalStrict` into the Go type. That reports,
//! in document order and de-duplicated (at most 100):
//! - `unknown field "<path>"` for a key that is no field of the struct (its value is skipped, so nothing
//!   inside an unknown field is reported), matched case-sensitively;
//! - `duplicate field "<path>"` for a key seen twice in the same object (struct or map); the last value wins.
//!
//! Paths join keys with `.` and list indices with `[i]`: `spec.containers[0].imagee`. Inside values with a
//! custom decoder (`RawExtension`, `JSON`, ...) nothing is checked. For kinds without a built-in schema
//! (custom resources decode as unstructured) only duplicates are reported, at every depth.
//!
//! The Strict-mode error text is `strict decoding error: ` followed by the errors joined with `, `
//! (`runtime.NewStrictDecodingError`); Warn mode adds one `Warning` header per error with the error text.

use super::{index, Type};
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// Upstream stops collecting strict errors after this many (`saveStrictError`).
const MAX_STRICT_ERRORS: usize = 100;

/// One strict-decoding violation, displayed exactly as upstream (`unknown field "spec.foo"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StrictError {
    Unknown(String),
    Duplicate(String),
}

impl StrictError {
    pub fn path(&self) -> &str {
        match self {
            StrictError::Unknown(p) | StrictError::Duplicate(p) => p,
        }
    }
}

impl fmt::Display for StrictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictError::Unknown(p) => write!(f, "unknown field {}", go_quote(p)),
            StrictError::Duplicate(p) => write!(f, "duplicate field {}", go_quote(p)),
        }
    }
}

/// Parse a JSON request body, keeping duplicate-key information (serde_json's `Value` silently keeps the
/// last): returns the value (last occurrence wins, like upstream) and the duplicate-field paths, at any depth.
pub fn decode_json_checked(body: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    let (value, errors) = decode_with(body, Mode::Untyped)?;
    Ok((value, errors.into_iter().map(|e| e.path().to_string()).collect()))
}

/// Parse a JSON body for `group/version/kind` and collect every strict error in upstream's order (unknown
/// and duplicate fields interleaved as encountered). Unknown kinds are checked as unstructured objects.
pub fn decode_strict(
    group: &str,
    version: &str,
    kind: &str,
    body: &[u8],
) -> Result<(Value, Vec<StrictError>), serde_json::Error> {
    let mode = match index().kind(group, version, kind) {
        Some(def) => Mode::Root(def),
        None => Mode::Untyped,
    };
    decode_with(body, mode)
}

/// Paths of fields not in the schema for that kind, in upstream's notation (`spec.containers[0].imagee`).
/// Map-typed fields (`metadata.labels`) accept any key; `apiVersion`/`kind` are always known; nothing is
/// reported for kinds without a built-in schema.
pub fn unknown_fields(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    let Some(def) = index().kind(group, version, kind) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut path = String::new();
    if let Value::Object(map) = obj {
        for (k, v) in map {
            match def.field(k) {
                Some(f) => walk_unknown(f.ty, v, &mut path, k, &mut out),
                None if k == "apiVersion" || k == "kind" => {}
                None => out.push(k.clone()),
            }
        }
    }
    out
}

/// Drop the fields [`unknown_fields`] reports, as decoding into the Go type does in every mode.
pub fn prune_unknown_fields(group: &str, version: &str, kind: &str, obj: &mut Value) {
    let Some(def) = index().kind(group, version, kind) else {
        return;
    };
    if let Value::Object(map) = obj {
        map.retain(|k, _| def.field(k).is_some() || k == "apiVersion" || k == "kind");
        for (k, v) in map.iter_mut() {
            if let Some(f) = def.field(k) {
                prune(f.ty, v);
            }
        }
    }
}

/// The exact upstream error text for Strict mode (400 BadRequest on create/update), built from both
/// lists: `strict decoding error: unknown field "spec.foo", duplicate field "metadata.name"`.
/// Upstream interleaves them in document order; use [`decode_strict`] + [`strict_errors_message`] for that.
pub fn strict_error_message(unknown: &[String], duplicates: &[String]) -> String {
    let errors: Vec<StrictError> = unknown
        .iter()
        .map(|p| StrictError::Unknown(p.clone()))
        .chain(duplicates.iter().map(|p| StrictError::Duplicate(p.clone())))
        .collect();
    strict_errors_message(&errors)
}

/// `strict decoding error: ` + the errors joined with `, ` (`runtime.strictDecodingError.Error()`).
pub fn strict_errors_message(errors: &[StrictError]) -> String {
    let mut s = String::from("strict decoding error: ");
    for (i, e) in errors.iter().enumerate() {
        if i != 0 {
            s.push_str(", ");
        }
        s.push_str(&e.to_string());
    }
    s
}

/// The `Warning` header texts for Warn mode: one per violation, e.g. `unknown field "spec.foo"`
/// (upstream `addStrictDecodingWarnings`; the header value is `299 - "<text>"`).
pub fn strict_warnings(unknown: &[String], duplicates: &[String]) -> Vec<String> {
    unknown
        .iter()
        .map(|p| StrictError::Unknown(p.clone()).to_string())
        .chain(duplicates.iter().map(|p| StrictError::Duplicate(p.clone()).to_string()))
        .collect()
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn field_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk_unknown(ty: Type, v: &Value, path: &mut String, key: &str, out: &mut Vec<String>) {
    let len = path.len();
    push_key(path, key);
    walk_unknown_value(ty, v, path, out);
    path.truncate(len);
}

fn walk_unknown_value(ty: Type, v: &Value, path: &mut String, out: &mut Vec<String>) {
    match (ty, v) {
        (Type::Object(_), Value::Object(map)) => {
            let Some(def) = ty.object() else { return };
            for (k, child) in map {
                match def.field(k) {
                    Some(f) => walk_unknown(f.ty, child, path, k, out),
                    None => out.push(field_path(path, k)),
                }
            }
        }
        (Type::Map(elem), Value::Object(map)) => {
            for (k, child) in map {
                walk_unknown(*elem, child, path, k, out);
            }
        }
        (Type::Array(elem), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk_unknown_value(*elem, item, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn prune(ty: Type, v: &mut Value) {
    match (ty, v) {
        (Type::Object(_), Value::Object(map)) => {
            let Some(def) = ty.object() else { return };
            map.retain(|k, _| def.field(k).is_some());
            for (k, child) in map.iter_mut() {
                if let Some(f) = def.field(k) {
                    prune(f.ty, child);
                }
            }
        }
        (Type::Map(elem), Value::Object(map)) => map.values_mut().for_each(|c| prune(*elem, c)),
        (Type::Array(elem), Value::Array(items)) => items.iter_mut().for_each(|c| prune(*elem, c)),
        _ => {}
    }
}

/// How the decoder checks the value at hand.
#[derive(Clone, Copy)]
enum Mode {
    /// Top-level object of a kind: like `Typed(Object)`, and `apiVersion`/`kind` are always known.
    Root(super::TypeRef<'static>),
    /// Decoding into a Go type: unknown fields in structs, duplicates in structs and maps.
    Typed(Type),
    /// Decoding into `map[string]interface{}`: duplicates at every depth.
    Untyped,
    /// A value upstream skips or hands to a custom decoder: nothing is checked.
    Opaque,
}

#[derive(Default)]
struct Ctx {
    path: String,
    errors: Vec<StrictError>,
    seen: HashSet<StrictError>,
}

impl Ctx {
    fn save(&mut self, err: StrictError) {
        if self.errors.len() >= MAX_STRICT_ERRORS || self.seen.contains(&err) {
            return;
        }
        self.seen.insert(err.clone());
        self.errors.push(err);
    }
}

fn decode_with(body: &[u8], mode: Mode) -> Result<(Value, Vec<StrictError>), serde_json::Error> {
    let mut ctx = Ctx::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Seed { ctx: &mut ctx, mode }.deserialize(&mut de)?;
    de.end()?;
    Ok((value, ctx.errors))
}

struct Seed<'c> {
    ctx: &'c mut Ctx,
    mode: Mode,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl Seed<'_> {
    /// The mode for an object member, recording unknown/duplicate errors for its key.
    fn member_mode(&mut self, key: &str, duplicate: bool) -> Mode {
        let struct_field = |def: super::TypeRef<'static>, root: bool| match def.field(key) {
            Some(f) => Some(Mode::Typed(f.ty)),
            None if root && (key == "apiVersion" || key == "kind") => Some(Mode::Typed(Type::String)),
            None => None,
        };
        let (child, checks_duplicates) = match self.mode {
            Mode::Root(def) => (struct_field(def, true), true),
            Mode::Typed(Type::Object(_)) => match self.mode_object() {
                Some(def) => (struct_field(def, false), true),
                None => (Some(Mode::Opaque), false),
            },
            Mode::Typed(Type::Map(elem)) => (Some(Mode::Typed(*elem)), true),
            Mode::Untyped => (Some(Mode::Untyped), true),
            Mode::Typed(_) | Mode::Opaque => (Some(Mode::Opaque), false),
        };
        match child {
            Some(mode) => {
                if duplicate && checks_duplicates {
                    self.ctx.save(StrictError::Duplicate(field_path(&self.ctx.path, key)));
                }
                mode
            }
            None => {
                self.ctx.save(StrictError::Unknown(field_path(&self.ctx.path, key)));
                Mode::Opaque
            }
        }
    }

    fn mode_object(&self) -> Option<super::TypeRef<'static>> {
        match self.mode {
            Mode::Typed(t) => t.object(),
            _ => None,
        }
    }

    fn element_mode(&self) -> Mode {
        match self.mode {
            Mode::Typed(Type::Array(elem)) => Mode::Typed(*elem),
            Mode::Untyped => Mode::Untyped,
            _ => Mode::Opaque,
        }
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let elem = self.element_mode();
        let mut items = Vec::new();
        loop {
            let len = self.ctx.path.len();
            self.ctx.path.push_str(&format!("[{}]", items.len()));
            let item = seq.next_element_seed(Seed { ctx: &mut *self.ctx, mode: elem })?;
            self.ctx.path.truncate(len);
            match item {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let mode = self.member_mode(&key, map.contains_key(&key));
            let len = self.ctx.path.len();
            push_key(&mut self.ctx.path, &key);
            let value = access.next_value_seed(Seed { ctx: &mut *self.ctx, mode })?;
            self.ctx.path.truncate(len);
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Go's `strconv.Quote` (used by upstream for field paths in strict errors).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// An approximation of Go's `unicode.IsPrint` good for the characters met in practice: controls, the Unicode
/// format and separator characters Go treats as non-printable, surrogates, private use and non-characters.
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    !(c.is_control()
        || matches!(u, 0xa0 | 0xad | 0x061c | 0x180e | 0x1680 | 0x3000 | 0xfeff)
        || (0x2000..=0x200f).contains(&u)
        || (0x2028..=0x202f).contains(&u)
        || (0x205f..=0x206f).contains(&u)
        || (0xd800..=0xf8ff).contains(&u)
        || (0xfff0..=0xfffb).contains(&u)
        || (u & 0xfffe) == 0xfffe
        || (0xe0000..=0xe007f).contains(&u)
        || u >= 0xf0000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_json_checked_reports_duplicates_with_paths_and_keeps_last() {
        let body = br#"{"metadata":{"name":"a","name":"b","labels":{"x":"1","x":"2"}},"spec":{"containers":[{"name":"c","name":"d"}]}}"#;
        let (v, dups) = decode_json_checked(body).unwrap();
        assert_eq!(v["metadata"]["name"], "b");
        assert_eq!(v["metadata"]["labels"]["x"], "2");
        assert_eq!(dups, vec!["metadata.name", "metadata.labels.x", "spec.containers[0].name"]);
    }

    #[test]
    fn decode_json_checked_reports_top_level_duplicate_without_dot() {
        let (_, dups) = decode_json_checked(br#"{"kind":"Pod","kind":"Pod","kind":"Pod"}"#).unwrap();
        assert_eq!(dups, vec!["kind"], "repeated errors are de-duplicated");
    }

    #[test]
    fn decode_json_checked_rejects_invalid_json() {
        assert!(decode_json_checked(b"{\"a\":").is_err());
        assert!(decode_json_checked(b"{} x").is_err());
    }

    #[test]
    fn unknown_fields_in_nested_lists_use_upstream_notation() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"any-key": "v"}, "annotations": {"a/b": "c"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}, {"name": "d", "imagee": "x", "ports": [{"containerPort": 80, "bogus": 1}]}]},
            "extra": {"deep": 1}
        });
        assert_eq!(
            unknown_fields("", "v1", "Pod", &pod),
            vec!["spec.containers[1].imagee", "spec.containers[1].ports[0].bogus", "extra"]
        );
    }

    #[test]
    fn unknown_fields_follow_pod_templates_and_ignore_raw_extensions() {
        let dep = json!({
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "n", "foo": 1}]}},
                     "strategy": {"rollingUpdate": {"maxSurge": "25%"}}}
        });
        assert_eq!(unknown_fields("apps", "v1", "Deployment", &dep), vec!["spec.template.spec.containers[0].foo"]);
        let rev = json!({"data": {"anything": {"goes": true}}, "revision": 1});
        assert!(unknown_fields("apps", "v1", "ControllerRevision", &rev).is_empty());
        assert!(unknown_fields("example.com", "v1", "Widget", &json!({"x": 1})).is_empty());
    }

    #[test]
    fn field_names_are_case_sensitive() {
        let pod = json!({"Metadata": {}, "spec": {"Containers": []}});
        assert_eq!(unknown_fields("", "v1", "Pod", &pod), vec!["Metadata", "spec.Containers"]);
    }

    #[test]
    fn decode_strict_interleaves_errors_in_document_order() {
        let body = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b","bogus":{"x":1,"x":2}},
            "spec":{"containers":[{"name":"c","imagee":"x"}]},"metadata":{}}"#;
        let (_, errs) = decode_strict("", "v1", "Pod", body).unwrap();
        assert_eq!(
            errs,
            vec![
                StrictError::Duplicate("metadata.name".into()),
                StrictError::Unknown("metadata.bogus".into()),
                StrictError::Unknown("spec.containers[0].imagee".into()),
                StrictError::Duplicate("metadata".into()),
            ]
        );
    }

    #[test]
    fn decode_strict_skips_raw_extension_contents() {
        let body = br#"{"data":{"a":1,"a":2},"revision":1,"revision":2}"#;
        let (v, errs) = decode_strict("apps", "v1", "ControllerRevision", body).unwrap();
        assert_eq!(v["revision"], 2);
        assert_eq!(errs, vec![StrictError::Duplicate("revision".into())]);
    }

    #[test]
    fn strict_error_message_matches_upstream_wording() {
        let msg = strict_error_message(&["spec.containers[0].imagee".into()], &["metadata.name".into()]);
        assert_eq!(
            msg,
            r#"strict decoding error: unknown field "spec.containers[0].imagee", duplicate field "metadata.name""#
        );
        assert_eq!(
            strict_warnings(&["spec.foo".into()], &["metadata.name".into()]),
            vec![r#"unknown field "spec.foo""#, r#"duplicate field "metadata.name""#]
        );
    }

    #[test]
    fn prune_unknown_fields_drops_what_typed_decoding_drops() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "x": 1},
            "spec": {"containers": [{"name": "c", "y": 2}]}, "z": 3});
        prune_unknown_fields("", "v1", "Pod", &mut pod);
        assert_eq!(
            pod,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}})
        );
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\x01""#);
    }
}
