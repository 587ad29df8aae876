//! Field-level validation errors, rendered exactly like apimachinery's `field.Error` (k8s.io/apimachinery
//! v0.32, `pkg/util/validation/field/errors.go`), plus the aggregate message of `errors.NewInvalid`.
//!
//! Upstream prints the bad value with Go's `fmt` verbs: `%v` for numbers and booleans, `%q` for strings and
//! `%#v` (Go syntax) for everything else. JSON values cover the first two directly; maps of strings and
//! string slices are rendered the way `%#v` prints `map[string]string` and `[]string`. For any other Go value
//! a caller passes [`go_repr`], a marker object whose text is printed verbatim.

use serde_json::Value;
use std::fmt;

/// The machine-readable kind of a field error (upstream `field.ErrorType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

impl ErrorType {
    /// The `reason` of a `metav1.StatusCause` (upstream's string value of the type).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The human-readable text (upstream `ErrorType.String()`).
    pub fn message(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
            ErrorType::TypeInvalid => "Invalid value",
        }
    }
}

/// The key of the marker object made by [`go_repr`].
const GO_REPR_KEY: &str = "__go_repr__";

/// A bad value that prints verbatim, for Go values whose `%#v` form JSON cannot express
/// (structs such as `v1.LabelSelector{...}`). It is a JSON object `{"__go_repr__": text}`.
pub fn go_repr(text: impl Into<String>) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(GO_REPR_KEY.to_string(), Value::String(text.into()));
    Value::Object(m)
}

/// One validation failure: which field, what kind, the offending value and a detail text.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub error_type: ErrorType,
    pub field: String,
    /// `None` means the value is omitted from the message (upstream's `omitValue`, or the types that never
    /// print one); `Some(Value::Null)` prints `null`.
    pub bad_value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    fn new(
        error_type: ErrorType,
        field: impl Into<String>,
        bad_value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError { error_type, field: field.into(), bad_value, detail: detail.into() }
    }

    /// `field.Required`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, None, detail)
    }

    /// `field.Invalid`.
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, Some(value.into()), detail)
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::Duplicate, field, Some(value.into()), "")
    }

    /// `field.NotFound`.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::NotFound, field, Some(value.into()), "")
    }

    /// `field.NotSupported`: the detail lists the valid values, each Go-quoted, in the order given.
    pub fn not_supported(field: impl Into<String>, value: impl Into<Value>, valid: &[&str]) -> Self {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, field, Some(value.into()), detail)
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, field, None, detail)
    }

    /// `field.TooLong` as of apimachinery 0.32 (`may not be more than N bytes`).
    pub fn too_long(field: impl Into<String>, max_length: i64) -> Self {
        let detail = if max_length >= 0 {
            format!("may not be more than {max_length} bytes")
        } else {
            "value is too long".to_string()
        };
        Self::new(ErrorType::TooLong, field, None, detail)
    }

    /// `field.TooMany`.
    pub fn too_many(field: impl Into<String>, actual: i64, max: i64) -> Self {
        let detail = if max >= 0 { format!("must have at most {max} items") } else { "has too many items".to_string() };
        let value = if actual >= 0 { Some(Value::from(actual)) } else { None };
        Self::new(ErrorType::TooMany, field, value, detail)
    }

    /// `field.InternalError`.
    pub fn internal(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Internal, field, None, detail)
    }

    /// `field.TypeInvalid`.
    pub fn type_invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::TypeInvalid, field, Some(value.into()), detail)
    }

    /// The `reason` of the Status cause for this error.
    pub fn reason(&self) -> &'static str {
        self.error_type.reason()
    }

    /// Upstream `ErrorBody()`: the message without the field path (the Status cause `message`).
    pub fn body(&self) -> String {
        let t = self.error_type.message();
        let mut s = match self.error_type {
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong | ErrorType::Internal => t.to_string(),
            _ => match &self.bad_value {
                None => t.to_string(),
                Some(v) => format!("{t}: {}", render_value(v)),
            },
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// Upstream `errors.NewInvalid(...).Error()`: `Pod "x" is invalid: <aggregate>`, where the aggregate drops
/// repeated messages and brackets the list when more than one remains.
pub fn invalid_message(qualified_kind: &str, name: &str, errs: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        let msg = e.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    let head = format!("{} {} is invalid", qualified_kind, go_quote(name));
    match seen.len() {
        0 => head,
        1 => format!("{head}: {}", seen[0]),
        _ => format!("{head}: [{}]", seen.join(", ")),
    }
}

/// Renders a bad value the way upstream's `ErrorBody` prints it.
fn render_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => render_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            if items.iter().all(Value::is_string) {
                let parts: Vec<String> = items.iter().map(|i| go_quote(i.as_str().unwrap_or_default())).collect();
                format!("[]string{{{}}}", parts.join(", "))
            } else {
                serde_json::to_string(v).unwrap_or_default()
            }
        }
        Value::Object(m) => {
            if let (1, Some(Value::String(text))) = (m.len(), m.get(GO_REPR_KEY)) {
                return text.clone();
            }
            go_string_map(m)
        }
    }
}

/// `%#v` of a `map[string]string` (fmt sorts map keys).
pub(crate) fn go_string_map(m: &serde_json::Map<String, Value>) -> String {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let val = match m.get(k.as_str()) {
                Some(Value::String(s)) => go_quote(s),
                Some(other) => go_quote(&other.to_string()),
                None => String::new(),
            };
            format!("{}:{}", go_quote(k), val)
        })
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// `%v` of a number: integers as digits; floats like Go's `%v` (shortest representation, exponent
/// form only for very large or small magnitudes).
fn render_number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f == f.trunc() && f.abs() < 1e21 {
        format!("{}", f as i64)
    } else if f.abs() >= 1e21 || f.abs() < 1e-4 {
        let s = format!("{f:e}");
        // Go writes e+21 / e-05 where Rust writes e21 / e-5.
        match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = if let Some(d) = e.strip_prefix('-') { ('-', d) } else { ('+', e) };
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        }
    } else {
        f.to_string()
    }
}

/// Go's `strconv.Quote`: double-quoted with Go escapes; printable Unicode stays as is.
pub fn go_quote(s: &str) -> String {
    crate::schema::go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_renders_without_value() {
        let e = FieldError::required("spec.containers[0].image", "");
        assert_eq!(e.to_string(), "spec.containers[0].image: Required value");
        assert_eq!(e.reason(), "FieldValueRequired");
    }

    #[test]
    fn required_with_detail() {
        let e = FieldError::required("metadata.name", "name or generateName is required");
        assert_eq!(e.to_string(), "metadata.name: Required value: name or generateName is required");
    }

    #[test]
    fn invalid_string_value_is_quoted() {
        let e = FieldError::invalid("metadata.name", "Foo", "bad");
        assert_eq!(e.body(), "Invalid value: \"Foo\": bad");
    }

    #[test]
    fn invalid_int_value_is_plain() {
        let e = FieldError::invalid("x", 70000, "must be between 1 and 65535, inclusive");
        assert_eq!(e.to_string(), "x: Invalid value: 70000: must be between 1 and 65535, inclusive");
    }

    #[test]
    fn not_supported_lists_quoted_values() {
        let e = FieldError::not_supported("spec.restartPolicy", "Sometimes", &["Always", "OnFailure", "Never"]);
        assert_eq!(
            e.body(),
            "Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
        assert_eq!(e.reason(), "FieldValueNotSupported");
    }

    #[test]
    fn string_map_renders_like_go() {
        let e = FieldError::invalid("l", json!({"b": "2", "a": "1"}), "d");
        assert_eq!(e.body(), "Invalid value: map[string]string{\"a\":\"1\", \"b\":\"2\"}: d");
    }

    #[test]
    fn go_repr_prints_verbatim() {
        let e = FieldError::invalid("s", go_repr("v1.LabelSelector{}"), "field is immutable");
        assert_eq!(e.body(), "Invalid value: v1.LabelSelector{}: field is immutable");
    }

    #[test]
    fn too_long_has_no_value() {
        let e = FieldError::too_long("metadata.annotations", 262144);
        assert_eq!(e.to_string(), "metadata.annotations: Too long: may not be more than 262144 bytes");
    }

    #[test]
    fn too_many_shows_count() {
        let e = FieldError::too_many("x", 5, 3);
        assert_eq!(e.body(), "Too many: 5: must have at most 3 items");
    }

    #[test]
    fn invalid_message_single_and_many_with_dedup() {
        let a = FieldError::required("spec.containers", "");
        assert_eq!(
            invalid_message("Pod", "x", std::slice::from_ref(&a)),
            "Pod \"x\" is invalid: spec.containers: Required value"
        );
        let b = FieldError::required("metadata.name", "name or generateName is required");
        assert_eq!(
            invalid_message("Deployment.apps", "d", &[a.clone(), b, a]),
            "Deployment.apps \"d\" is invalid: [spec.containers: Required value, metadata.name: Required value: name or generateName is required]"
        );
        assert_eq!(invalid_message("Pod", "x", &[]), "Pod \"x\" is invalid");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\n\u{1}"), "\"a\\\"b\\n\\x01\"");
        assert_eq!(go_quote("héllo"), "\"héllo\"");
    }
}
