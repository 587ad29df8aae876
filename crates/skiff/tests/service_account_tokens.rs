//! ServiceAccount tokens: `kubectl create token` (the `serviceaccounts/token` subresource) returns JWTs with
//! upstream's claims, and those tokens authenticate as their ServiceAccount, for as long as it (and the object
//! the token is bound to) exists.

mod common;
use base64::Engine;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn claims(token: &str) -> Value {
    let payload = token.trim().split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn ca(s: &Server) -> String {
    s.dir.path().join("pki/ca.crt").display().to_string()
}

/// kubectl with only a token: no kubeconfig, so no client certificate to fall back on.
fn kubectl_with_token(s: &Server, token: &str, args: &[&str]) -> Output {
    let empty = s.dir.path().join("empty.kubeconfig");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").expect("writing an empty kubeconfig");
    Command::new(&s.kubectl)
        .env("KUBECONFIG", &empty)
        .arg(format!("--server=https://127.0.0.1:{}", s.port))
        .arg(format!("--certificate-authority={}", ca(s)))
        .arg(format!("--token={}", token.trim()))
        .arg("--cache-dir")
        .arg(s.cache.path())
        .args(args)
        .output()
        .expect("running kubectl")
}

/// `curl` with a bearer token: (HTTP status, body).
fn curl(s: &Server, token: &str, path: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--cacert", &ca(s), "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {}", token.trim()))
        .arg(format!("https://127.0.0.1:{}{path}", s.port))
        .output()
        .expect("running curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn assert_unauthorized(s: &Server, token: &str) {
    let (code, body) = curl(s, token, "/api/v1/namespaces/default/pods");
    assert_eq!(code, 401, "body: {body}");
    let status: Value = serde_json::from_str(&body).expect("a Status body");
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
}

#[test]
fn create_token_returns_a_jwt_with_upstreams_claims() {
    let s = Server::start();
    let token = s.ok(&["create", "token", "default", "--audience=x", "--duration=10m"]);
    let c = claims(&token);
    let sa: Value = serde_json::from_str(&s.ok(&["get", "sa", "default", "-o", "json"])).expect("SA JSON");
    assert_eq!(c["iss"], json!(ISSUER));
    assert_eq!(c["sub"], json!("system:serviceaccount:default:default"));
    assert_eq!(c["aud"], json!(["x"]));
    assert_eq!(c["exp"].as_i64().unwrap_or(0) - c["iat"].as_i64().unwrap_or(0), 600);
    assert_eq!(c["nbf"], c["iat"]);
    assert!(c["jti"].as_str().is_some_and(|j| j.len() == 36), "jti: {}", c["jti"]);
    assert_eq!(
        c["kubernetes.io"],
        json!({"namespace": "default", "serviceaccount": {"name": "default", "uid": sa["metadata"]["uid"]}})
    );

    let default = claims(&s.ok(&["create", "token", "default"]));
    assert_eq!(default["aud"], json!([ISSUER]));
    assert_eq!(default["exp"].as_i64().unwrap_or(0) - default["iat"].as_i64().unwrap_or(0), 3600);

    let err = s.fails(&["create", "token", "default", "--duration=5m"]);
    assert!(
        err.contains(
            "TokenRequest.authentication.k8s.io \"\" is invalid: spec.expirationSeconds: Invalid value: 300: \
             may not specify a duration less than 10 minutes"
        ),
        "{err}"
    );
    let err = s.fails(&["create", "token", "nosuch"]);
    assert!(err.contains("serviceaccounts \"nosuch\" not found"), "{err}");
    s.assert_no_panic();
}

#[test]
fn the_token_subresource_is_discoverable() {
    let s = Server::start();
    let list: Value = serde_json::from_str(&s.ok(&["get", "--raw", "/api/v1"])).expect("APIResourceList");
    let token = list["resources"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["name"] == "serviceaccounts/token"))
        .cloned()
        .expect("serviceaccounts/token listed");
    assert_eq!(
        token,
        json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true,
               "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]})
    );
}

#[test]
fn a_token_authenticates_as_its_service_account_until_the_account_is_deleted() {
    let s = Server::start();
    s.ok(&["create", "serviceaccount", "robot"]);
    s.ok(&["create", "configmap", "visible", "--from-literal=a=b"]);
    let token = s.ok(&["create", "token", "robot"]);

    let out = kubectl_with_token(&s, &token, &["get", "configmaps", "visible", "-o", "name"]);
    assert!(out.status.success(), "kubectl --token failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "configmap/visible");
    let (code, body) = curl(&s, &token, "/api/v1/namespaces/default/pods");
    assert_eq!(code, 200, "{body}");

    // A token for another audience is not for the API server; garbage and tampered tokens are refused.
    assert_unauthorized(&s, &s.ok(&["create", "token", "robot", "--audience=vault"]));
    assert_unauthorized(&s, "garbage");
    let mut parts: Vec<String> = token.trim().split('.').map(String::from).collect();
    parts[2] = parts[2].chars().rev().collect();
    assert_unauthorized(&s, &parts.join("."));
    let out = kubectl_with_token(&s, "garbage", &["get", "pods"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Unauthorized"), "{}", String::from_utf8_lossy(&out.stderr));

    s.ok(&["delete", "serviceaccount", "robot"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while curl(&s, &token, "/api/v1/namespaces/default/pods").0 != 401 {
        assert!(Instant::now() < deadline, "the deleted ServiceAccount's token still works");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_unauthorized(&s, &token);
    // Recreating the account (a new uid) does not revive the old token.
    s.ok(&["create", "serviceaccount", "robot"]);
    assert_unauthorized(&s, &token);
    s.assert_no_panic();
}

#[test]
fn a_pod_bound_token_dies_with_its_pod() {
    let s = Server::start();
    s.ok(&["run", "web", "--image=nginx", "--restart=Never"]);
    let pod: Value = serde_json::from_str(&s.ok(&["get", "pod", "web", "-o", "json"])).expect("pod JSON");
    let token = s.ok(&["create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=web"]);
    let c = claims(&token);
    assert_eq!(c["kubernetes.io"]["pod"], json!({"name": "web", "uid": pod["metadata"]["uid"]}));
    assert_eq!(curl(&s, &token, "/api/v1/namespaces/default/pods").0, 200);

    let err = s.fails(&["create", "token", "default", "--bound-object-kind=Pod", "--bound-object-name=nope"]);
    assert!(err.contains("pods \"nope\" not found"), "{err}");
    let err = s.fails(&[
        "create",
        "token",
        "default",
        "--bound-object-kind=Pod",
        "--bound-object-name=web",
        "--bound-object-uid=00000000-0000-0000-0000-000000000000",
    ]);
    assert!(
        err.contains("the UID in the bound object reference (00000000-0000-0000-0000-000000000000) does not match"),
        "{err}"
    );

    // Unscheduled, the pod goes at once.
    s.ok(&["delete", "pod", "web", "--wait=false"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while curl(&s, &token, "/api/v1/namespaces/default/pods").0 != 401 {
        assert!(Instant::now() < deadline, "the deleted pod's token still works");
        std::thread::sleep(Duration::from_millis(200));
    }
    s.assert_no_panic();
}

#[test]
fn the_python_client_authenticates_with_a_token() {
    let s = Server::start();
    let token = s.ok(&["create", "token", "default"]);
    let script = r#"
import sys
from kubernetes import client
c = client.Configuration()
c.host, c.ssl_ca_cert = sys.argv[1], sys.argv[2]
c.api_key = {"authorization": sys.argv[3]}
c.api_key_prefix = {"authorization": "Bearer"}
api = client.CoreV1Api(client.ApiClient(c))
print(api.read_namespaced_service_account("default", "default").metadata.name)
try:
    c.api_key = {"authorization": "garbage"}
    client.CoreV1Api(client.ApiClient(c)).list_namespaced_pod("default")
    print("garbage accepted")
except client.exceptions.ApiException as e:
    print(e.status, e.reason)
"#;
    let out = Command::new("python3")
        .args(["-c", script, &format!("https://127.0.0.1:{}", s.port), &ca(&s), token.trim()])
        .output()
        .expect("running python3 (the test command installs the kubernetes package)");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "default\n401 Unauthorized");
}

#[test]
fn tokens_survive_a_restart_because_the_signing_key_is_kept() {
    let s = Server::start();
    let token = s.ok(&["create", "token", "default"]);
    let key = std::fs::read(s.dir.path().join("pki/sa.key")).expect("pki/sa.key");
    assert!(s.dir.path().join("pki/sa.pub").exists());
    let s = s.crash_and_restart();
    assert_eq!(std::fs::read(s.dir.path().join("pki/sa.key")).expect("pki/sa.key"), key);
    assert_eq!(curl(&s, &token, "/api/v1/namespaces/default/serviceaccounts").0, 200);
}
