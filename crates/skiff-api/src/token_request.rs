//! `authentication.k8s.io/v1` TokenRequest, the body of the `serviceaccounts/token` subresource: decoding into
//! the typed form, upstream's defaulting (`SetDefaults_TokenRequestSpec`) and validation
//! (`pkg/apis/authentication/validation.ValidateTokenRequest`), and the request a node agent sends for a pod's
//! projected token.
//!
//! TokenRequest is not a stored resource, so it has no registry entry; the subresource names it
//! (`serviceaccounts/token` speaks `TokenRequest`).

use crate::field::FieldError;
use k8s_openapi::api::authentication::v1::TokenRequest;
use serde_json::{json, Value};

pub const GROUP: &str = "authentication.k8s.io";
pub const VERSION: &str = "v1";
pub const KIND: &str = "TokenRequest";
pub const API_VERSION: &str = "authentication.k8s.io/v1";

/// Upstream's default validity when `spec.expirationSeconds` is absent (one hour).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 60 * 60;
/// Upstream's `MinTokenAgeSec`: ten minutes.
pub const MIN_EXPIRATION_SECONDS: i64 = 10 * 60;
/// Upstream's upper bound on `spec.expirationSeconds` (2^32).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// What decoding into the Go type does: wrong JSON types fail, unknown fields are dropped, absent ones stay
/// absent.
pub fn normalize(obj: Value) -> Result<Value, String> {
    crate::registry::normalize_as::<TokenRequest>(GROUP, VERSION, KIND, obj)
}

/// `SetDefaults_TokenRequestSpec`: a missing `expirationSeconds` means one hour. The audiences default
/// belongs to the API server (its own audiences), so it is set by the handler, not here.
pub fn default(obj: &mut Value) {
    if !obj.is_object() {
        return;
    }
    if !obj.get("spec").is_some_and(Value::is_object) {
        obj["spec"] = json!({});
    }
    if obj["spec"].get("expirationSeconds").is_none_or(Value::is_null) {
        obj["spec"]["expirationSeconds"] = json!(DEFAULT_EXPIRATION_SECONDS);
    }
}

/// `ValidateTokenRequest`: the validity must be at least ten minutes and at most 2^32 seconds.
pub fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let seconds = obj.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(0);
    if seconds < MIN_EXPIRATION_SECONDS {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            json!(seconds),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if seconds > MAX_EXPIRATION_SECONDS {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            json!(seconds),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    errs
}

/// The path of a ServiceAccount's token subresource.
pub fn path(namespace: &str, service_account: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token")
}

/// The TokenRequest a node agent sends for a pod's projected `serviceAccountToken` source: bound to the pod
/// (so the token dies with it), for `audience` (`None`: the API server's own audiences) and the source's
/// `expirationSeconds` (`None`: upstream's default of one hour).
pub fn for_pod(audience: Option<&str>, expiration_seconds: Option<i64>, pod_name: &str, pod_uid: &str) -> Value {
    let audiences: Vec<&str> = audience.filter(|a| !a.is_empty()).into_iter().collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "spec": {
            "audiences": audiences,
            "expirationSeconds": expiration_seconds.unwrap_or(DEFAULT_EXPIRATION_SECONDS),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": pod_uid},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_expiration_defaults_to_an_hour() {
        let mut tr = json!({"spec": {"audiences": ["x"]}});
        default(&mut tr);
        assert_eq!(tr["spec"]["expirationSeconds"], json!(3600));
        let mut given = json!({"spec": {"expirationSeconds": 7200}});
        default(&mut given);
        assert_eq!(given["spec"]["expirationSeconds"], json!(7200));
    }

    #[test]
    fn expiration_below_ten_minutes_is_invalid_with_upstreams_message() {
        let errs = validate(&json!({"spec": {"expirationSeconds": 599}}));
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
        );
        assert!(validate(&json!({"spec": {"expirationSeconds": 600}})).is_empty());
        let too_long = validate(&json!({"spec": {"expirationSeconds": (1i64 << 32) + 1}}));
        assert!(too_long[0].to_string().contains("may not specify a duration larger than 2^32 seconds"));
    }

    #[test]
    fn wrong_types_are_rejected_and_unknown_fields_dropped() {
        assert!(normalize(json!({"spec": {"expirationSeconds": "soon"}})).is_err());
        let ok = normalize(json!({"spec": {"audiences": ["a"], "bogus": 1}})).expect("a valid TokenRequest");
        assert_eq!(ok, json!({"spec": {"audiences": ["a"]}}));
    }

    #[test]
    fn a_pod_request_binds_the_pod() {
        let tr = for_pod(None, Some(3607), "web", "uid-1");
        assert_eq!(tr["spec"]["audiences"], json!([]));
        assert_eq!(tr["spec"]["expirationSeconds"], json!(3607));
        assert_eq!(tr["spec"]["boundObjectRef"]["uid"], json!("uid-1"));
        assert!(validate(&tr).is_empty());
    }
}
