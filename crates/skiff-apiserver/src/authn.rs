//! Bearer-token authentication (`Authorization: Bearer <service-account token>`), upstream's service-account
//! authenticator: a token signed by our key, issued by us, unexpired, for the API server's audience, whose
//! ServiceAccount (and bound Pod, Secret or Node) still exists with the uid the token names, authenticates as
//! `system:serviceaccount:NS:NAME` in groups `system:serviceaccounts`, `system:serviceaccounts:NS` and
//! `system:authenticated`.
//!
//! Verified signatures are cached (a token's claims never change; the cache only saves the ECDSA verification),
//! but the times and the objects are checked on every request: they are in-memory store reads, and that way a
//! deleted ServiceAccount or pod stops its tokens at once.

use crate::errors::ApiError;
use crate::serve::User;
use crate::tokens::{Claims, ObjectRef, TokenError, TokenSigner, ISSUER, LEEWAY_SECONDS};
use crate::ApiServer;
use serde_json::Value;
use skiff_api::registry;
use std::collections::HashMap;
use std::sync::Mutex;

/// The audiences the API server accepts (upstream's `--api-audiences`, defaulting to the issuer).
pub const API_AUDIENCES: &[&str] = &[ISSUER];

/// How many verified tokens are remembered; past it the cache starts over (simpler than LRU, and a refill costs
/// one signature check per token).
const CACHE_CAPACITY: usize = 4096;

/// Why a bearer token was refused. Clients only ever see `401 Unauthorized`; the reason goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("service account {0} has been deleted")]
    ServiceAccountDeleted(String),
    #[error("service account UID ({found}) does not match claim ({claimed})")]
    ServiceAccountUid { found: String, claimed: String },
    /// The bound pod, secret or node is gone or was recreated (upstream: "service account token has been
    /// invalidated").
    #[error("service account token has been invalidated: {0}")]
    Invalidated(String),
    #[error("looking up the token's objects: {0}")]
    Lookup(#[from] ApiError),
}

/// Signature-verified tokens.
#[derive(Default)]
pub struct TokenCache {
    verified: Mutex<HashMap<String, Claims>>,
}

impl TokenCache {
    fn verify(&self, signer: &TokenSigner, token: &str) -> Result<Claims, TokenError> {
        if let Some(c) = self.verified.lock().unwrap_or_else(|p| p.into_inner()).get(token) {
            return Ok(c.clone());
        }
        let claims = signer.verify(token)?;
        let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(token.to_string(), claims.clone());
        Ok(claims)
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one. As upstream's bearertoken
/// authenticator: the value is split on single spaces, the scheme is case-insensitive, the token is the second
/// part, and an empty token counts as no token (the request is then anonymous, not refused).
pub fn bearer_token(headers: &::http::HeaderMap) -> Option<&str> {
    let value = headers.get(::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let mut parts = value.splitn(3, ' ');
    let (scheme, token) = (parts.next()?, parts.next()?);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Authenticates a service-account token.
pub async fn authenticate(server: &ApiServer, token: &str) -> Result<User, AuthnError> {
    let claims = server.token_cache.verify(&server.tokens, token)?;
    let now = chrono::Utc::now().timestamp();
    claims.check(now, API_AUDIENCES)?;
    let k = &claims.kubernetes;
    let ns = k.namespace.as_str();
    let sa_name = k.serviceaccount.name.as_str();
    let sa = get(server, "serviceaccounts", Some(ns), sa_name).await?;
    let Some(sa) = sa.filter(|o| !deleted_before(o, now - LEEWAY_SECONDS)) else {
        return Err(AuthnError::ServiceAccountDeleted(format!("{ns}/{sa_name}")));
    };
    let found = uid(&sa);
    if found != k.serviceaccount.uid {
        return Err(AuthnError::ServiceAccountUid { found: found.into(), claimed: k.serviceaccount.uid.clone() });
    }
    if let Some(secret) = &k.secret {
        check_bound(server, "secrets", Some(ns), secret, now).await?;
    }
    if let Some(pod) = &k.pod {
        check_bound(server, "pods", Some(ns), pod, now).await?;
    } else if let Some(node) = &k.node {
        // A node named in a pod-bound token is informational; only a node-bound token depends on its node.
        check_bound(server, "nodes", None, node, now).await?;
    }
    Ok(User {
        name: crate::tokens::username(ns, sa_name),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
    })
}

/// The bound object must exist, not have been deleted more than a leeway ago, and have the uid the token names.
async fn check_bound(
    server: &ApiServer,
    plural: &str,
    ns: Option<&str>,
    bound: &ObjectRef,
    now: i64,
) -> Result<(), AuthnError> {
    let what = format!("{plural} {}", bound.name);
    match get(server, plural, ns, &bound.name).await? {
        None => Err(AuthnError::Invalidated(format!("{what} not found"))),
        Some(o) if deleted_before(&o, now - LEEWAY_SECONDS) => Err(AuthnError::Invalidated(format!("{what} deleted"))),
        Some(o) if uid(&o) != bound.uid => Err(AuthnError::Invalidated(format!("{what} has another uid"))),
        Some(_) => Ok(()),
    }
}

async fn get(server: &ApiServer, plural: &str, ns: Option<&str>, name: &str) -> Result<Option<Value>, ApiError> {
    let r = registry::find("", "v1", plural).ok_or_else(|| ApiError::Internal(format!("{plural} not registered")))?;
    server.objects.get(r, ns, name).await
}

fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("")
}

/// Upstream treats an object whose deletion started before `cutoff` as gone (a pod in its grace period keeps
/// its token working for a while, as upstream).
fn deleted_before(obj: &Value, cutoff: i64) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .is_some_and(|t| t.timestamp() < cutoff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::http::{HeaderMap, HeaderValue};

    fn auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(::http::header::AUTHORIZATION, HeaderValue::from_str(v).expect("header value"));
        h
    }

    #[test]
    fn bearer_tokens_are_read_like_upstream() {
        assert_eq!(bearer_token(&auth("Bearer abc.def.ghi")), Some("abc.def.ghi"));
        assert_eq!(bearer_token(&auth("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&auth("Bearer")), None);
        assert_eq!(bearer_token(&auth("Bearer  abc")), None);
        assert_eq!(bearer_token(&auth("Bearer a b")), Some("a"));
        assert_eq!(bearer_token(&auth("Basic dXNlcjpwYXNz")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    /// A server over a fresh embedded store, with the `default` namespace and a fresh signing key.
    async fn server(dir: &std::path::Path) -> std::sync::Arc<ApiServer> {
        let store = skiff_store::EmbeddedStore::open(dir).expect("an embedded store");
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key generation");
        let signer = TokenSigner::from_pem(&key.serialize_pem()).expect("a P-256 key");
        let config = crate::Config {
            data_dir: dir.into(),
            listen: ([127, 0, 0, 1], 0).into(),
            compaction_interval: std::time::Duration::from_secs(300),
        };
        let server = std::sync::Arc::new(ApiServer::new(
            std::sync::Arc::new(store),
            config,
            "127.0.0.1:0".into(),
            String::new(),
            signer,
        ));
        crate::lifecycle::bootstrap(&server).await.expect("bootstrap");
        server
    }

    #[tokio::test]
    async fn an_in_process_token_authenticates_until_its_account_is_deleted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = server(dir.path()).await;
        let client =
            skiff_client::Client::new(std::sync::Arc::new(crate::inprocess::InProcess { server: server.clone() }));
        let sa = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}});
        client.create("/api/v1/namespaces/default/serviceaccounts", &sa).await.expect("creating the ServiceAccount");
        let path = skiff_api::token_request::path("default", "robot");
        let tr = client.create(&path, &serde_json::json!({"spec": {}})).await.expect("a TokenRequest");
        assert_eq!(tr["spec"]["expirationSeconds"], serde_json::json!(3600));
        let token = tr["status"]["token"].as_str().expect("a token").to_string();

        let user = authenticate(&server, &token).await.expect("a valid token");
        assert_eq!(user.name, "system:serviceaccount:default:robot");
        assert_eq!(user.groups, ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]);

        client.delete("/api/v1/namespaces/default/serviceaccounts/robot", None).await.expect("deleting");
        assert!(matches!(authenticate(&server, &token).await, Err(AuthnError::ServiceAccountDeleted(_))));
        client.create("/api/v1/namespaces/default/serviceaccounts", &sa).await.expect("recreating");
        assert!(matches!(authenticate(&server, &token).await, Err(AuthnError::ServiceAccountUid { .. })));
        let missing = client.create(&skiff_api::token_request::path("default", "nosuch"), &serde_json::json!({})).await;
        assert!(missing.is_err_and(|e| e.is_not_found()));
    }

    #[tokio::test]
    async fn a_pod_token_needs_its_pod() {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = server(dir.path()).await;
        let client =
            skiff_client::Client::new(std::sync::Arc::new(crate::inprocess::InProcess { server: server.clone() }));
        let sa = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
        client.create("/api/v1/namespaces/default/serviceaccounts", &sa).await.expect("creating the ServiceAccount");
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        let pod = client.create("/api/v1/namespaces/default/pods", &pod).await.expect("creating the pod");
        let pod_uid = pod["metadata"]["uid"].as_str().expect("a uid");
        // What the node agent sends for the pod's projected token (3607 s asks for upstream's extension).
        let body = skiff_api::token_request::for_pod(None, Some(3607), "web", pod_uid);
        let tr = client.create(&skiff_api::token_request::path("default", "default"), &body).await.expect("token");
        let token = tr["status"]["token"].as_str().expect("a token").to_string();
        let claims = server.tokens.verify(&token).expect("our signature");
        assert_eq!(claims.kubernetes.pod, Some(ObjectRef { name: "web".into(), uid: pod_uid.into() }));
        assert_eq!(claims.kubernetes.warnafter, Some(claims.iat + 3607));
        assert_eq!(claims.exp, claims.iat + 365 * 24 * 3600);
        authenticate(&server, &token).await.expect("a valid token while the pod exists");

        client.delete("/api/v1/namespaces/default/pods/web", None).await.expect("deleting the pod");
        assert!(matches!(authenticate(&server, &token).await, Err(AuthnError::Invalidated(_))));
    }

    #[test]
    fn deletion_counts_only_past_the_cutoff() {
        let obj = serde_json::json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}});
        let t = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").expect("time").timestamp();
        assert!(deleted_before(&obj, t + 1));
        assert!(!deleted_before(&obj, t));
        assert!(!deleted_before(&serde_json::json!({"metadata": {}}), t));
    }
}
