//! Reading stored objects as Go would see them after decoding: a missing or mistyped field is the zero value
//! (`""`, `0`, `false`, empty list or map), so printers never have to think about malformed input.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The value at `path`, if every step exists.
pub(super) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.as_object()?.get(*key))
}

/// A string field, `""` when missing or not a string.
pub(super) fn str<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// An optional string field (Go `*string`): `None` when missing, null or not a string.
pub(super) fn opt_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

/// An integer field, 0 when missing or not an integer.
pub(super) fn int(v: &Value, path: &[&str]) -> i64 {
    opt_int(v, path).unwrap_or(0)
}

/// An optional integer field (Go `*int32`).
pub(super) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).and_then(Value::as_i64)
}

/// An optional boolean field (Go `*bool`).
pub(super) fn opt_bool(v: &Value, path: &[&str]) -> Option<bool> {
    get(v, path).and_then(Value::as_bool)
}

/// A boolean field, false when missing.
pub(super) fn bool(v: &Value, path: &[&str]) -> bool {
    opt_bool(v, path).unwrap_or(false)
}

/// A list field, empty when missing or not a list.
pub(super) fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A map field, `None` when missing or not a map.
pub(super) fn map<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    get(v, path).and_then(Value::as_object)
}

/// The number of entries in a map field (0 when missing).
pub(super) fn map_len(v: &Value, path: &[&str]) -> usize {
    map(v, path).map_or(0, Map::len)
}

/// A string-to-string map (labels, selectors) as pairs; non-string values are skipped.
pub(super) fn string_map<'a>(v: &'a Value, path: &[&str]) -> Vec<(&'a str, &'a str)> {
    map(v, path).map(|m| m.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))).collect()).unwrap_or_default()
}

/// A timestamp field (metav1.Time or MicroTime, both RFC 3339); `None` is Go's zero time.
pub(super) fn time(v: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    let text = get(v, path)?.as_str()?;
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// `metadata.name`.
pub(super) fn name(obj: &Value) -> &str {
    str(obj, &["metadata", "name"])
}

/// Whether `metadata.deletionTimestamp` is set (Go checks the pointer, not the value).
pub(super) fn deleting(obj: &Value) -> bool {
    get(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
}
