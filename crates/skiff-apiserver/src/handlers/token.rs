//! `serviceaccounts/token` (create only): upstream's `TokenREST.Create`
//! (`pkg/registry/core/serviceaccount/storage/token.go`). Takes an `authentication.k8s.io/v1` TokenRequest,
//! answers `201` with it defaulted and `status: {token, expirationTimestamp}`. Nothing is stored: a token is valid
//! for as long as its signature, times, ServiceAccount and bound object are ([`crate::authn`]).

use super::admit::{self, FieldValidation};
use super::Ctx;
use crate::errors::{ApiError, ApiResult};
use crate::http::{self, Body};
use crate::tokens::{Claims, ObjectRef};
use ::http::Response;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use skiff_api::field::{invalid_message, FieldError};
use skiff_api::registry;
use skiff_api::token_request::{self, API_VERSION, GROUP, KIND, VERSION};

/// The expiry a pod's projected token asks for when it wants upstream's expiry extension
/// (`WarnOnlyBoundTokenExpirationSeconds`, the 3607 the ServiceAccount admission writes into pods).
const WARN_ONLY_EXPIRATION_SECONDS: i64 = 60 * 60 + 7;
/// How long such a token really lives (`ExpirationExtensionSeconds`, one year): pods that read their token once
/// keep working while the stale use is noticed (`warnafter`), as with kube-apiserver's default
/// `--service-account-extend-token-expiration`.
const EXTENDED_EXPIRATION_SECONDS: i64 = 24 * 365 * 60 * 60;

pub async fn create(ctx: &Ctx) -> ApiResult<Response<Body>> {
    let name = ctx.name()?;
    let ns = ctx.ns().ok_or_else(|| ApiError::BadRequest("namespace is required".into()))?;
    let validation = FieldValidation::from_query(&ctx.query)?;
    let (obj, warnings) = admit::decode_kind(GROUP, VERSION, KIND, &ctx.body, &ctx.content_type(), validation)?;
    let mut req = check_type(obj)?;
    token_request::default(&mut req);

    // The body's name and namespace, if given, must be the URL's.
    for (field, url, what) in [("name", name, "name"), ("namespace", ns, "namespace")] {
        if let Some(v) = req.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).filter(|v| !v.is_empty()) {
            if v != url {
                let detail = format!("must match the service account {what} if specified");
                return Err(invalid(name, vec![FieldError::invalid(format!("metadata.{field}"), json!(v), detail)]));
            }
        }
    }
    let sa = ctx.objects().get_or_404(ctx.resource, Some(ns), name).await?;

    let mut audiences: Vec<String> = req
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences = crate::authn::API_AUDIENCES.iter().map(|a| a.to_string()).collect();
    }
    // Taken before the token is built, so `status.expirationTimestamp` is never later than the token's `exp`.
    let now = Utc::now().timestamp();
    let errs = token_request::validate(&req);
    if !errs.is_empty() {
        return Err(invalid("", errs));
    }
    let expiration = req.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or_default();
    let bound_ref = req.pointer("/spec/boundObjectRef").filter(|b| b.is_object()).cloned();

    let mut claims = Claims::new(ns, name, uid(&sa), audiences.clone(), now, expiration);
    if let Some(bound) = &bound_ref {
        bind(ctx, ns, name, bound, &mut claims).await?;
    }
    if claims.kubernetes.pod.is_some()
        && expiration == WARN_ONLY_EXPIRATION_SECONDS
        && audiences.iter().all(|a| crate::authn::API_AUDIENCES.contains(&a.as_str()))
    {
        claims.exp = now + EXTENDED_EXPIRATION_SECONDS;
        claims.kubernetes.warnafter = Some(now + expiration);
    }
    let token =
        ctx.server.tokens.sign(&claims).map_err(|e| ApiError::Internal(format!("failed to generate token: {e}")))?;

    // The request's metadata is echoed, with the server's name, namespace and creationTimestamp first, as
    // upstream's serialization orders them.
    let mut metadata = json!({"name": name, "namespace": ns, "creationTimestamp": rfc3339(now)});
    if let (Some(m), Some(given)) = (metadata.as_object_mut(), req.get("metadata").and_then(Value::as_object)) {
        for (k, v) in given {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let out = json!({
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": metadata,
        // Upstream's spec fields have no omitempty: an unbound request echoes `"boundObjectRef": null`.
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": bound_ref},
        "status": {"token": token, "expirationTimestamp": rfc3339(now + expiration)},
    });
    let mut resp = http::json(201, &out);
    http::add_warnings(&mut resp, &warnings);
    Ok(resp)
}

/// Type meta must name TokenRequest (or be absent), and the body must decode into the typed form.
fn check_type(mut obj: Value) -> ApiResult<Value> {
    let cannot = |d: &dyn std::fmt::Display| {
        ApiError::BadRequest(format!("{KIND} in version \"{VERSION}\" cannot be handled as a {KIND}: {d}"))
    };
    if !obj.is_object() {
        return Err(cannot(&"json: cannot unmarshal into Go value of type struct"));
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => obj["apiVersion"] = json!(API_VERSION),
        Some(API_VERSION) => {}
        Some(v) => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({v}) does not match the expected API version ({API_VERSION})"
            )))
        }
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => obj["kind"] = json!(KIND),
        Some(KIND) => {}
        Some(k) => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({k}) does not match the expected kind ({KIND})"
            )))
        }
    }
    // Clients send the zero status Go serializes (`expirationTimestamp: null`, which the typed form rejects);
    // upstream clears the status of a request anyway.
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
    token_request::normalize(obj).map_err(|e| cannot(&e))
}

/// Binds the token to the object `bound` names (a Pod, Secret or Node that must exist, with the uid given if
/// any), recording it in the claims. A pod-bound token also names the pod's node.
async fn bind(ctx: &Ctx, ns: &str, sa_name: &str, bound: &Value, claims: &mut Claims) -> ApiResult<()> {
    let field = |k: &str| bound.get(k).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind, name, wanted_uid) = (field("apiVersion"), field("kind"), field("name"), field("uid"));
    let (group, version) = registry::split_api_version(api_version);
    let found_uid = match (group, kind) {
        ("", "Pod") => {
            let pod = get_or_404(ctx, "pods", Some(ns), name).await?;
            let runs_as = pod.pointer("/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("");
            if runs_as != sa_name {
                return Err(ApiError::BadRequest(format!(
                    "cannot bind token for serviceaccount {} to pod running with different serviceaccount name.",
                    skiff_api::field::go_quote(sa_name)
                )));
            }
            claims.kubernetes.pod = Some(ObjectRef { name: name.into(), uid: uid(&pod).into() });
            // ServiceAccountTokenPodNodeInfo: the node's name even when the Node object is gone, its uid if not.
            if let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                let node_obj = get(ctx, "nodes", None, node).await?;
                let node_uid = node_obj.as_ref().map(uid).unwrap_or_default();
                claims.kubernetes.node = Some(ObjectRef { name: node.into(), uid: node_uid.into() });
            }
            uid(&pod).to_string()
        }
        ("", "Node") => {
            let node = get_or_404(ctx, "nodes", None, name).await?;
            claims.kubernetes.node = Some(ObjectRef { name: name.into(), uid: uid(&node).into() });
            uid(&node).to_string()
        }
        ("", "Secret") => {
            let secret = get_or_404(ctx, "secrets", Some(ns), name).await?;
            claims.kubernetes.secret = Some(ObjectRef { name: name.into(), uid: uid(&secret).into() });
            uid(&secret).to_string()
        }
        _ => {
            return Err(ApiError::BadRequest(format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            )))
        }
    };
    if !wanted_uid.is_empty() && wanted_uid != found_uid {
        // Upstream names the kind where the resource would go (`Operation cannot be fulfilled on Pod "x"`).
        return Err(ApiError::Conflict {
            group: group.into(),
            resource: kind.into(),
            qualified: kind.into(),
            name: name.into(),
            detail: format!(
                "the UID in the bound object reference ({wanted_uid}) does not match the UID in record. \
                 The object might have been deleted and then recreated"
            ),
        });
    }
    Ok(())
}

async fn get(ctx: &Ctx, plural: &str, ns: Option<&str>, name: &str) -> ApiResult<Option<Value>> {
    let r = registry::find("", "v1", plural).ok_or_else(|| ApiError::Internal(format!("{plural} not registered")))?;
    ctx.objects().get(r, ns, name).await
}

async fn get_or_404(ctx: &Ctx, plural: &str, ns: Option<&str>, name: &str) -> ApiResult<Value> {
    let r = registry::find("", "v1", plural).ok_or_else(|| ApiError::Internal(format!("{plural} not registered")))?;
    ctx.objects().get_or_404(r, ns, name).await
}

fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("")
}

fn invalid(name: &str, causes: Vec<FieldError>) -> ApiError {
    ApiError::Invalid {
        group: GROUP.into(),
        kind: KIND.into(),
        name: name.into(),
        message: invalid_message(&format!("{KIND}.{GROUP}"), name, &causes),
        causes,
    }
}

fn rfc3339(secs: i64) -> String {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
