//! The API objects a pod's volumes read (ConfigMaps, Secrets, ServiceAccount tokens), fetched before the
//! synchronous volume set-up. Tokens are requested through `serviceaccounts/token`, bound to the pod, and kept
//! until 80% of their lifetime has passed, as the kubelet's token manager does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Volume};
use serde_json::json;
use skiff_client::{q, Client};

type TokenKey = (Option<String>, i64);

/// Tokens of one pod, by (audience, expirationSeconds).
#[derive(Default)]
pub struct TokenCache {
    tokens: HashMap<TokenKey, (String, Instant, Duration)>,
}

impl TokenCache {
    fn fresh(&self, key: &TokenKey) -> Option<&str> {
        let (token, at, ttl) = self.tokens.get(key)?;
        (at.elapsed() < ttl.mul_f64(0.8)).then_some(token.as_str())
    }
}

#[derive(Default)]
pub struct VolumeObjects {
    config_maps: HashMap<String, ConfigMap>,
    secrets: HashMap<String, Secret>,
    tokens: HashMap<TokenKey, Result<String, String>>,
}

impl VolumeObjects {
    async fn config_map_named(&mut self, client: &Client, ns: &str, name: &str) {
        if self.config_maps.contains_key(name) {
            return;
        }
        let path = format!("/api/v1/namespaces/{}/configmaps/{}", q(ns), q(name));
        if let Ok(Some(v)) = client.get_opt(&path).await {
            if let Ok(cm) = serde_json::from_value(v) {
                self.config_maps.insert(name.to_string(), cm);
            }
        }
    }

    async fn secret_named(&mut self, client: &Client, ns: &str, name: &str) {
        if self.secrets.contains_key(name) {
            return;
        }
        let path = format!("/api/v1/namespaces/{}/secrets/{}", q(ns), q(name));
        if let Ok(Some(v)) = client.get_opt(&path).await {
            if let Ok(s) = serde_json::from_value(v) {
                self.secrets.insert(name.to_string(), s);
            }
        }
    }

    /// Requests (or reuses) the tokens of `v`'s `serviceAccountToken` sources, bound to the pod.
    pub async fn fetch_tokens(&mut self, client: &Client, pod: &Pod, v: &Volume, cache: &mut TokenCache) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let sa = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            let Some(t) = &src.service_account_token else { continue };
            let exp = t.expiration_seconds.unwrap_or(3600);
            let key = (t.audience.clone().filter(|a| !a.is_empty()), exp);
            if let Some(token) = cache.fresh(&key) {
                self.tokens.insert(key, Ok(token.to_string()));
                continue;
            }
            let body = json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {
                    "audiences": key.0.iter().collect::<Vec<_>>(),
                    "expirationSeconds": exp,
                    "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod.metadata.name, "uid": pod.metadata.uid},
                },
            });
            let path = format!("/api/v1/namespaces/{}/serviceaccounts/{}/token", q(&ns), q(&sa));
            let result = match client.create(&path, &body).await {
                Ok(resp) => match resp.pointer("/status/token").and_then(|t| t.as_str()) {
                    Some(token) => {
                        cache.tokens.insert(
                            key.clone(),
                            (token.to_string(), Instant::now(), Duration::from_secs(exp.max(1) as u64)),
                        );
                        Ok(token.to_string())
                    }
                    None => Err("the TokenRequest answer holds no token".to_string()),
                },
                Err(e) => Err(format!("failed to fetch token: {e}")),
            };
            self.tokens.insert(key, result);
        }
    }

    /// Fetches what `v` refers to (absent objects stay absent: the volume set-up reports them).
    pub async fn fetch_for(&mut self, client: &Client, ns: &str, v: &Volume) {
        if let Some(cm) = &v.config_map {
            self.config_map_named(client, ns, &cm.name).await;
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            self.secret_named(client, ns, &s).await;
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &src.config_map {
                self.config_map_named(client, ns, &cm.name).await;
            }
            if let Some(s) = &src.secret {
                self.secret_named(client, ns, &s.name).await;
            }
        }
    }
}

impl skiff_volumes::Objects for VolumeObjects {
    fn config_map(&self, name: &str) -> Option<&ConfigMap> {
        self.config_maps.get(name)
    }

    fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name)
    }

    fn service_account_token(&self, audience: Option<&str>, expiration_seconds: i64) -> Result<String, String> {
        let key = (audience.filter(|a| !a.is_empty()).map(String::from), expiration_seconds);
        self.tokens.get(&key).cloned().unwrap_or_else(|| Err("no token was requested for this source".into()))
    }
}
