//! ObjectMeta, labels, annotations and label selectors (apimachinery v0.32 `pkg/api/validation/objectmeta.go`
//! and `pkg/apis/meta/v1/validation`), plus the core-group finalizer rule.

use super::names::{is_qualified_name, is_valid_label_value, NameFn};
use super::{arr, child, flag, get, index, int, obj, semantic_eq, str_of, string_map};
use crate::field::{go_quote, go_repr, go_string_map, FieldError};
use serde_json::Value;

/// Upstream `IsNegativeErrorMsg`.
pub const IS_NEGATIVE_ERROR_MSG: &str = "must be greater than or equal to 0";
/// Upstream `FieldImmutableErrorMsg`.
pub const FIELD_IMMUTABLE_ERROR_MSG: &str = "field is immutable";
/// Upstream `TotalAnnotationSizeLimitB`.
pub const TOTAL_ANNOTATION_SIZE_LIMIT_B: i64 = 256 * (1 << 10);

/// `ValidateLabelName`: a label key must be a qualified name (reported on the map's path, not the key's).
pub fn validate_label_name(name: &str, path: &str) -> Vec<FieldError> {
    is_qualified_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect()
}

/// `ValidateLabels` over sorted `(key, value)` pairs.
pub fn validate_labels(labels: &[(String, String)], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        errs.extend(validate_label_name(k, path));
        for m in is_valid_label_value(v) {
            errs.push(FieldError::invalid(path, v.as_str(), m));
        }
    }
    errs
}

/// `ValidateAnnotations`: keys are qualified names (checked lower-cased) and the total size is bounded.
pub fn validate_annotations(annotations: &[(String, String)], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total: i64 = 0;
    for (k, v) in annotations {
        for m in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), m));
        }
        total += (k.len() + v.len()) as i64;
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT_B));
    }
    errs
}

/// The core group's extra finalizer rule: an unqualified finalizer must be a standard one.
pub fn validate_kube_finalizer_name(name: &str, path: &str) -> Vec<FieldError> {
    if !name.contains('/') && !matches!(name, "kubernetes" | "orphan" | "foregroundDeletion") {
        return vec![FieldError::invalid(
            path,
            name,
            "name is neither a standard finalizer name nor is it fully qualified",
        )];
    }
    Vec::new()
}

fn string_list(v: &Value, k: &str) -> Vec<String> {
    arr(v, k).iter().map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect()
}

/// `ValidateFinalizers` (apimachinery) followed by the per-item kube finalizer rule.
fn validate_finalizers(meta: &Value, path: &str) -> Vec<FieldError> {
    let finalizers = string_list(meta, "finalizers");
    let mut errs = Vec::new();
    for f in &finalizers {
        for m in is_qualified_name(f) {
            errs.push(FieldError::invalid(path, f.as_str(), m));
        }
    }
    if finalizers.iter().any(|f| f == "orphan") && finalizers.iter().any(|f| f == "foregroundDeletion") {
        let list: Vec<Value> = finalizers.iter().map(|f| Value::from(f.as_str())).collect();
        errs.push(FieldError::invalid(
            path,
            Value::Array(list),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

fn kube_finalizers(meta: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, f) in string_list(meta, "finalizers").iter().enumerate() {
        errs.extend(validate_kube_finalizer_name(f, &index(path, i)));
    }
    errs
}

/// `%#v` of a `metav1.OwnerReference` (pointer fields print as `(*bool)(nil)` or a placeholder address).
fn owner_ref_repr(r: &Value) -> String {
    let ptr = |k: &str| {
        if get(r, k).is_some() {
            "(*bool)(0xc000000000)".to_string()
        } else {
            "(*bool)(nil)".to_string()
        }
    };
    format!(
        "v1.OwnerReference{{APIVersion:{}, Kind:{}, Name:{}, UID:{}, Controller:{}, BlockOwnerDeletion:{}}}",
        go_quote(str_of(r, "apiVersion")),
        go_quote(str_of(r, "kind")),
        go_quote(str_of(r, "name")),
        go_quote(str_of(r, "uid")),
        ptr("controller"),
        ptr("blockOwnerDeletion")
    )
}

/// `ValidateOwnerReferences`; errors name the list's path, not an item's (as upstream does).
fn validate_owner_references(meta: &Value, path: &str) -> Vec<FieldError> {
    let refs = arr(meta, "ownerReferences");
    let mut errs = Vec::new();
    let mut first_controller = String::new();
    for r in refs {
        let api_version = str_of(r, "apiVersion");
        let kind = str_of(r, "kind");
        let (group, version) = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] => ("", *v),
            [g, v] => (*g, *v),
            _ => ("", ""),
        };
        if version.is_empty() {
            errs.push(FieldError::invalid(child(path, "apiVersion"), api_version, "version must not be empty"));
        }
        if kind.is_empty() {
            errs.push(FieldError::invalid(child(path, "kind"), kind, "kind must not be empty"));
        }
        if str_of(r, "name").is_empty() {
            errs.push(FieldError::invalid(child(path, "name"), "", "name must not be empty"));
        }
        if str_of(r, "uid").is_empty() {
            errs.push(FieldError::invalid(child(path, "uid"), "", "uid must not be empty"));
        }
        if group.is_empty() && version == "v1" && kind == "Event" {
            errs.push(FieldError::invalid(
                path,
                go_repr(owner_ref_repr(r)),
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if flag(r, "controller") {
            let cur = format!("{}/{}", kind, str_of(r, "name"));
            if first_controller.is_empty() {
                first_controller = cur;
            } else {
                let list: Vec<String> = refs.iter().map(owner_ref_repr).collect();
                errs.push(FieldError::invalid(
                    path,
                    go_repr(format!("[]v1.OwnerReference{{{}}}", list.join(", "))),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first_controller} and {cur}"
                    ),
                ));
            }
        }
    }
    errs
}

/// `ValidateObjectMeta` (core flavour, including the kube finalizer rule). `meta` is the `metadata` object.
pub fn validate_object_meta(meta: &Value, requires_namespace: bool, name_fn: NameFn, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let generate_name = str_of(meta, "generateName");
    if !generate_name.is_empty() {
        for m in name_fn(generate_name, true) {
            errs.push(FieldError::invalid(child(path, "generateName"), generate_name, m));
        }
    }
    let name = str_of(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), "name or generateName is required"));
    } else {
        for m in name_fn(name, false) {
            errs.push(FieldError::invalid(child(path, "name"), name, m));
        }
    }
    let namespace = str_of(meta, "namespace");
    if requires_namespace {
        if namespace.is_empty() {
            errs.push(FieldError::required(child(path, "namespace"), ""));
        } else {
            for m in super::names::name_is_dns_label(namespace, false) {
                errs.push(FieldError::invalid(child(path, "namespace"), namespace, m));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(child(path, "namespace"), "not allowed on this type"));
    }
    errs.extend(super::nonnegative(int(meta, "generation").unwrap_or(0), &child(path, "generation")));
    errs.extend(validate_labels(&string_map(meta, "labels"), &child(path, "labels")));
    errs.extend(validate_annotations(&string_map(meta, "annotations"), &child(path, "annotations")));
    errs.extend(validate_owner_references(meta, &child(path, "ownerReferences")));
    errs.extend(validate_finalizers(meta, &child(path, "finalizers")));
    errs.extend(kube_finalizers(meta, &child(path, "finalizers")));
    errs
}

fn immutable(new: &Value, old: &Value, k: &str, path: &str) -> Vec<FieldError> {
    if semantic_eq(get(new, k), get(old, k)) {
        return Vec::new();
    }
    let v = get(new, k).cloned().unwrap_or(Value::String(String::new()));
    vec![FieldError::invalid(child(path, k), v, FIELD_IMMUTABLE_ERROR_MSG)]
}

/// `ValidateObjectMetaUpdate` (core flavour). `new`/`old` are the `metadata` objects.
pub fn validate_object_meta_update(new: &Value, old: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if get(old, "deletionTimestamp").is_some() {
        let old_f = string_list(old, "finalizers");
        let mut extra: Vec<String> =
            string_list(new, "finalizers").into_iter().filter(|f| !old_f.contains(f)).collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let quoted: Vec<String> = extra.iter().map(|f| go_quote(f)).collect();
            errs.push(FieldError::forbidden(
                child(path, "finalizers"),
                format!("no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}", quoted.join(", ")),
            ));
        }
    }
    if str_of(new, "resourceVersion").is_empty() {
        errs.push(FieldError::invalid(child(path, "resourceVersion"), "", "must be specified for an update"));
    }
    let (ng, og) = (int(new, "generation").unwrap_or(0), int(old, "generation").unwrap_or(0));
    if ng < og {
        errs.push(FieldError::invalid(child(path, "generation"), ng, "must not be decremented"));
    }
    for k in ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"] {
        errs.extend(immutable(new, old, k, path));
    }
    errs.extend(validate_labels(&string_map(new, "labels"), &child(path, "labels")));
    errs.extend(validate_annotations(&string_map(new, "annotations"), &child(path, "annotations")));
    errs.extend(validate_owner_references(new, &child(path, "ownerReferences")));
    errs.extend(kube_finalizers(new, &child(path, "finalizers")));
    errs
}

/// The `metadata` of an object, or an empty object.
pub(crate) fn metadata(v: &Value) -> &Value {
    static EMPTY: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::Object(Default::default()));
    get(v, "metadata").unwrap_or(&EMPTY)
}

/// `ValidateLabelSelector` (strict: label values in expressions must be valid).
pub fn validate_label_selector(sel: Option<&Value>, path: &str) -> Vec<FieldError> {
    let Some(sel) = sel else { return Vec::new() };
    let mut errs = validate_labels(&string_map(sel, "matchLabels"), &child(path, "matchLabels"));
    for (i, expr) in arr(sel, "matchExpressions").iter().enumerate() {
        let p = index(&child(path, "matchExpressions"), i);
        let op = str_of(expr, "operator");
        let values = arr(expr, "values");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(FieldError::required(
                        child(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(FieldError::forbidden(
                        child(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(FieldError::invalid(child(&p, "operator"), op, "not a valid selector operator")),
        }
        errs.extend(validate_label_name(str_of(expr, "key"), &child(&p, "key")));
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            for m in is_valid_label_value(v) {
                errs.push(FieldError::invalid(index(&child(&p, "values"), j), v, m));
            }
        }
    }
    errs
}

/// Whether a label selector matches `labels`; `Err` when it cannot be converted to a selector
/// (upstream `LabelSelectorAsSelector` failing). An absent selector matches nothing.
#[allow(clippy::result_unit_err)] // the caller only needs "not convertible", upstream gives no detail
pub fn selector_matches(sel: Option<&Value>, labels: &[(String, String)]) -> Result<bool, ()> {
    let Some(sel) = sel else { return Ok(false) };
    let lookup = |k: &str| labels.iter().find(|(lk, _)| lk == k).map(|(_, v)| v.as_str());
    let mut ok = true;
    for (k, v) in string_map(sel, "matchLabels") {
        if !is_qualified_name(&k).is_empty() || !is_valid_label_value(&v).is_empty() {
            return Err(());
        }
        ok &= lookup(&k) == Some(v.as_str());
    }
    for expr in arr(sel, "matchExpressions") {
        let k = str_of(expr, "key");
        let values: Vec<&str> = arr(expr, "values").iter().filter_map(Value::as_str).collect();
        if !is_qualified_name(k).is_empty() || values.iter().any(|v| !is_valid_label_value(v).is_empty()) {
            return Err(());
        }
        let have = lookup(k);
        ok &= match str_of(expr, "operator") {
            "In" if !values.is_empty() => have.map(|h| values.contains(&h)).unwrap_or(false),
            "NotIn" if !values.is_empty() => have.map(|h| !values.contains(&h)).unwrap_or(true),
            "Exists" if values.is_empty() => have.is_some(),
            "DoesNotExist" if values.is_empty() => have.is_none(),
            _ => return Err(()),
        };
    }
    Ok(ok)
}

/// Whether a selector has no requirements (selects everything).
pub fn selector_is_empty(sel: Option<&Value>) -> bool {
    match sel {
        None => true,
        Some(s) => obj(s, "matchLabels").map(|m| m.is_empty()).unwrap_or(true) && arr(s, "matchExpressions").is_empty(),
    }
}

/// `%#v` of a `map[string]string` field, `map[string]string(nil)` when absent.
pub fn go_map_repr(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        Some(m) => go_string_map(m),
        None => "map[string]string(nil)".to_string(),
    }
}

/// `%#v` of a `metav1.LabelSelector` value.
pub fn label_selector_repr(sel: &Value) -> String {
    let exprs = arr(sel, "matchExpressions");
    let exprs_repr = if get(sel, "matchExpressions").is_none() {
        "[]v1.LabelSelectorRequirement(nil)".to_string()
    } else {
        let items: Vec<String> = exprs
            .iter()
            .map(|e| {
                let values = match get(e, "values").and_then(Value::as_array) {
                    Some(vs) => {
                        let q: Vec<String> = vs.iter().map(|v| go_quote(v.as_str().unwrap_or(""))).collect();
                        format!("[]string{{{}}}", q.join(", "))
                    }
                    None => "[]string(nil)".to_string(),
                };
                format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                    go_quote(str_of(e, "key")),
                    go_quote(str_of(e, "operator")),
                    values
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    format!("v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}", go_map_repr(get(sel, "matchLabels")), exprs_repr)
}
