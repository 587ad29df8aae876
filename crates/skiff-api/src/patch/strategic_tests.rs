//! Upstream's strategic merge patch test cases, run unchanged against upstream's test type `MergeItem`.
//!
//! `testdata/upstream_smp_cases.json` is extracted from apimachinery v0.32.13
//! `pkg/util/strategicpatch/patch_test.go` (Apache-2.0): every case that applies a patch — two-way
//! (`original` + `twoWay` → `twoWayResult`/`modified`) and three-way (`current` + `threeWay` → `result`).

use super::*;
use serde_json::json;

/// Upstream's `MergeItem` / `RetainKeysMergeItem` test structs, as patch metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TestType {
    MergeItem,
    RetainKeysMergeItem,
}

impl TestType {
    pub(super) fn lookup(self, key: &str) -> (Schema, Schema, Meta) {
        let item = Schema::Test(TestType::MergeItem);
        let meta = |strategy, merge_key| Meta { strategy, merge_key };
        let plain = (Schema::Untyped, Schema::Untyped, meta(Strategy::Default, ""));
        match (self, key) {
            (_, "mergingList") => (item, item, meta(Strategy::Merge, "name")),
            (_, "nonMergingList") => (item, item, meta(Strategy::Default, "")),
            (_, "mergingIntList") => (Schema::Untyped, Schema::Untyped, meta(Strategy::Merge, "")),
            (_, "simpleMap") => (Schema::MapOf(Type::String), Schema::Untyped, meta(Strategy::Default, "")),
            (TestType::MergeItem, "mergeItemPtr") => (item, item, meta(Strategy::Merge, "name")),
            (TestType::MergeItem, "replacingItem") => (Schema::Untyped, Schema::Untyped, meta(Strategy::Replace, "")),
            (TestType::MergeItem, "retainKeysMap") => {
                (Schema::Test(TestType::RetainKeysMergeItem), Schema::Untyped, meta(Strategy::Default, ""))
            }
            (TestType::MergeItem, "retainKeysMergingList") => (item, item, meta(Strategy::Merge, "name")),
            _ => plain,
        }
    }
}

fn obj(v: &Value) -> JsonMap {
    match v {
        Value::Object(m) => m.clone(),
        _ => JsonMap::new(),
    }
}

fn smp(original: Value, patch: Value) -> Result<Value, PatchError> {
    merge_map(obj(&original), obj(&patch), Schema::Test(TestType::MergeItem)).map(Value::Object)
}

#[test]
fn upstream_strategic_merge_patch_cases_pass() {
    let cases: Vec<Value> = serde_json::from_str(include_str!("testdata/upstream_smp_cases.json")).unwrap();
    assert!(cases.len() > 200);
    let mut failures = Vec::new();
    for c in &cases {
        let desc = c["description"].as_str().unwrap_or("");
        let expected_error = c["expectedError"].as_str().unwrap_or("");
        let result = smp(c["original"].clone(), c["patch"].clone());
        match result {
            Err(e) if !expected_error.is_empty() && e.to_string().contains(expected_error) => {}
            Err(e) => failures.push(format!("{desc}: unexpected error {e}")),
            Ok(_) if !expected_error.is_empty() => failures.push(format!("{desc}: expected error {expected_error}")),
            Ok(got) => {
                let expected = if c["expected"].is_null() { json!({}) } else { c["expected"].clone() };
                if got != expected {
                    failures
                        .push(format!("{desc}:\n  patch    {}\n  expected {expected}\n  got      {got}", c["patch"]));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn merging_int_list_keeps_unique_scalars() {
    let got = smp(json!({"mergingIntList": [1, 2]}), json!({"mergingIntList": [2, 3]})).unwrap();
    assert_eq!(got, json!({"mergingIntList": [1, 2, 3]}));
}

#[test]
fn patch_directive_delete_on_map_leaves_empty_map() {
    let got = smp(json!({"simpleMap": {"a": "1"}}), json!({"simpleMap": {"$patch": "delete"}})).unwrap();
    assert_eq!(got, json!({"simpleMap": {}}));
}

#[test]
fn patch_directive_replace_in_list_replaces_whole_list() {
    let got = smp(
        json!({"mergingList": [{"name": "a"}, {"name": "b"}]}),
        json!({"mergingList": [{"name": "c"}, {"$patch": "replace"}]}),
    )
    .unwrap();
    assert_eq!(got, json!({"mergingList": [{"name": "c"}]}));
}

#[test]
fn patch_directive_merge_in_list_is_rejected() {
    let err = smp(json!({"mergingList": [{"name": "a"}]}), json!({"mergingList": [{"$patch": "merge"}]})).unwrap_err();
    assert_eq!(err, PatchError::Internal("merging lists cannot yet be specified in the patch".into()));
}

#[test]
fn unknown_map_directive_reports_go_formatted_map() {
    let err = smp(json!({"simpleMap": {"a": "1"}}), json!({"simpleMap": {"$patch": "merge", "b": "2"}})).unwrap_err();
    assert_eq!(err.to_string(), "unknown patch type: merge in map: map[$patch:merge b:2]");
    assert_eq!(err.code(), 500);
}

#[test]
fn missing_merge_key_is_reported() {
    let err = smp(json!({"mergingList": [{"name": "a"}]}), json!({"mergingList": [{"value": "x"}]})).unwrap_err();
    assert_eq!(err.to_string(), "map: map[value:x] does not contain declared merge key: name");
}

#[test]
fn list_of_lists_is_unprocessable() {
    let err = smp(json!({"mergingIntList": [[1]]}), json!({"mergingIntList": [[2]]})).unwrap_err();
    assert_eq!(err, PatchError::Unprocessable("lists of lists are not supported".into()));
    assert_eq!(err.code(), 422);
}

#[test]
fn retain_keys_must_list_every_patched_key() {
    let err = smp(
        json!({"retainKeysMap": {"name": "a", "value": "b"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "other": "c"}}),
    )
    .unwrap_err();
    assert_eq!(err, PatchError::BadRequest("invalid patch format of retainKeys".into()));
    let got = smp(
        json!({"retainKeysMap": {"name": "a", "value": "b"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "other"], "other": "c"}}),
    )
    .unwrap();
    assert_eq!(got, json!({"retainKeysMap": {"name": "a", "other": "c"}}));
}

#[test]
fn malformed_directive_keys_are_bad_requests() {
    let err = smp(json!({}), json!({"$deleteFromPrimitiveListX/mergingIntList": [1]})).unwrap_err();
    assert_eq!(err, PatchError::BadRequest("invalid patch format of primitive list".into()));
    let err = smp(json!({}), json!({"$setElementOrderX/mergingList": []})).unwrap_err();
    assert_eq!(err, PatchError::BadRequest("invalid patch format of setElementOrder list".into()));
}

#[test]
fn set_element_order_mismatch_is_reported() {
    let err = smp(
        json!({"mergingList": [{"name": "a"}, {"name": "b"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "a"}], "mergingList": [{"name": "b", "value": "x"}]}),
    )
    .unwrap_err();
    assert!(err
        .to_string()
        .starts_with("The order in patch list:\n[map[name:b value:x]]\n doesn't match $setElementOrder list:"));
}

#[test]
fn delete_from_primitive_list_removes_values() {
    let got = smp(
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [2], "$setElementOrder/mergingIntList": [3, 1]}),
    )
    .unwrap();
    assert_eq!(got, json!({"mergingIntList": [3, 1]}));
}
