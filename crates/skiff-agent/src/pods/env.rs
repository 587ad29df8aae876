//! A container's environment as the kubelet builds it (`makeEnvironmentVariables`): `envFrom` sources first, then
//! `env` entries in order (later names win), with `valueFrom` resolved from ConfigMaps, Secrets, the downward API
//! and resource fields; and the service link variables (`KUBERNETES_SERVICE_HOST`, …) of the pod's namespace.
//! Errors carry the kubelet's text; they keep the container in `CreateContainerConfigError`.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use skiff_client::{q, Client};
use skiff_containerspec::EnvVar;

/// Objects fetched once per resolution.
struct Cache<'a> {
    client: &'a Client,
    ns: String,
    config_maps: HashMap<String, Option<ConfigMap>>,
    secrets: HashMap<String, Option<Secret>>,
}

impl Cache<'_> {
    async fn config_map(&mut self, name: &str) -> Result<Option<&ConfigMap>, String> {
        if !self.config_maps.contains_key(name) {
            let path = format!("/api/v1/namespaces/{}/configmaps/{}", q(&self.ns), q(name));
            let v = self.client.get_opt(&path).await.map_err(|e| e.to_string())?;
            let cm = v.and_then(|v| serde_json::from_value(v).ok());
            self.config_maps.insert(name.to_string(), cm);
        }
        Ok(self.config_maps.get(name).and_then(Option::as_ref))
    }

    async fn secret(&mut self, name: &str) -> Result<Option<&Secret>, String> {
        if !self.secrets.contains_key(name) {
            let path = format!("/api/v1/namespaces/{}/secrets/{}", q(&self.ns), q(name));
            let v = self.client.get_opt(&path).await.map_err(|e| e.to_string())?;
            let s = v.and_then(|v| serde_json::from_value(v).ok());
            self.secrets.insert(name.to_string(), s);
        }
        Ok(self.secrets.get(name).and_then(Option::as_ref))
    }
}

fn cm_value(cm: &ConfigMap, key: &str) -> Option<String> {
    cm.data.as_ref().and_then(|d| d.get(key).cloned()).or_else(|| {
        cm.binary_data.as_ref().and_then(|d| d.get(key)).map(|b| String::from_utf8_lossy(&b.0).into_owned())
    })
}

fn secret_value(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .or_else(|| s.string_data.as_ref().and_then(|d| d.get(key).cloned()))
}

/// A C identifier-ish env name as upstream accepts for envFrom keys (`IsEnvVarName`).
fn valid_env_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Sets `var`, replacing an earlier one of the same name in place (its position stays, as upstream's).
fn set(env: &mut Vec<EnvVar>, var: EnvVar) {
    match env.iter_mut().find(|e| e.name == var.name) {
        Some(e) => *e = var,
        None => env.push(var),
    }
}

/// The container's env — literal values are `$(VAR)`-expanded later by skiff-containerspec, resolved ones are
/// not — and the envFrom names skipped as invalid.
pub async fn resolve(
    client: &Client,
    pod: &Pod,
    c: &Container,
    node: &skiff_volumes::NodeInfo,
) -> Result<(Vec<EnvVar>, Vec<String>), String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let mut cache = Cache { client, ns: ns.clone(), config_maps: HashMap::new(), secrets: HashMap::new() };
    let mut env = Vec::new();
    let mut invalid = Vec::new();
    for src in c.env_from.iter().flatten() {
        let prefix = src.prefix.clone().unwrap_or_default();
        if let Some(r) = &src.config_map_ref {
            let optional = r.optional.unwrap_or(false);
            match cache.config_map(&r.name).await? {
                None if optional => {}
                None => return Err(format!("configmap \"{}\" not found", r.name)),
                Some(cm) => {
                    let mut keys: Vec<(String, String)> = cm.data.clone().unwrap_or_default().into_iter().collect();
                    keys.sort();
                    for (k, v) in keys {
                        let name = format!("{prefix}{k}");
                        if valid_env_name(&name) {
                            set(&mut env, EnvVar::resolved(name, v));
                        } else {
                            invalid.push(name);
                        }
                    }
                }
            }
        }
        if let Some(r) = &src.secret_ref {
            let optional = r.optional.unwrap_or(false);
            match cache.secret(&r.name).await? {
                None if optional => {}
                None => return Err(format!("secret \"{}\" not found", r.name)),
                Some(s) => {
                    let mut keys: Vec<String> = s.data.iter().flatten().map(|(k, _)| k.clone()).collect();
                    keys.sort();
                    for k in keys {
                        let name = format!("{prefix}{k}");
                        let v = secret_value(s, &k).unwrap_or_default();
                        if valid_env_name(&name) {
                            set(&mut env, EnvVar::resolved(name, v));
                        } else {
                            invalid.push(name);
                        }
                    }
                }
            }
        }
    }
    for e in c.env.iter().flatten() {
        let Some(from) = &e.value_from else {
            set(&mut env, EnvVar::literal(e.name.clone(), e.value.clone().unwrap_or_default()));
            continue;
        };
        let value = if let Some(r) = &from.config_map_key_ref {
            let optional = r.optional.unwrap_or(false);
            match cache.config_map(&r.name).await? {
                None if optional => continue,
                None => return Err(format!("configmap \"{}\" not found", r.name)),
                Some(cm) => match cm_value(cm, &r.key) {
                    Some(v) => v,
                    None if optional => continue,
                    None => return Err(format!("couldn't find key {} in ConfigMap {ns}/{}", r.key, r.name)),
                },
            }
        } else if let Some(r) = &from.secret_key_ref {
            let optional = r.optional.unwrap_or(false);
            match cache.secret(&r.name).await? {
                None if optional => continue,
                None => return Err(format!("secret \"{}\" not found", r.name)),
                Some(s) => match secret_value(s, &r.key) {
                    Some(v) => v,
                    None if optional => continue,
                    None => return Err(format!("couldn't find key {} in Secret {ns}/{}", r.key, r.name)),
                },
            }
        } else if let Some(f) = &from.field_ref {
            skiff_volumes::field_ref(pod, &f.field_path).map_err(|e| e.to_string())?
        } else if let Some(r) = &from.resource_field_ref {
            let name = r.container_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| c.name.clone());
            skiff_volumes::resource_field_ref(pod, &name, r, node).map_err(|e| e.to_string())?
        } else {
            String::new()
        };
        set(&mut env, EnvVar::resolved(e.name.clone(), value));
    }
    Ok((env, invalid))
}

/// The service link variables of the pod's namespace (when `enableServiceLinks`, the default) and of the
/// `kubernetes` service in `default` (always), as the kubelet's `getServiceEnvVarMap` makes them.
pub async fn service_env(client: &Client, pod: &Pod) -> Vec<(String, String)> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links).unwrap_or(true);
    let mut services: Vec<Service> = Vec::new();
    if links {
        if let Ok((items, _)) = client.list(&format!("/api/v1/namespaces/{}/services", q(&ns))).await {
            services.extend(items.into_iter().filter_map(|v| serde_json::from_value(v).ok()));
        }
    }
    if ns != "default" || !links {
        if let Ok(Some(v)) = client.get_opt("/api/v1/namespaces/default/services/kubernetes").await {
            services.extend(serde_json::from_value::<Service>(v).ok());
        }
    }
    from_services(&services)
}

fn from_services(services: &[Service]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let ip = match spec.cluster_ip.as_deref() {
            Some(ip) if !ip.is_empty() && ip != "None" => ip,
            _ => continue,
        };
        let name = svc.metadata.name.clone().unwrap_or_default().to_uppercase().replace('-', "_");
        let ports = spec.ports.clone().unwrap_or_default();
        let Some(first) = ports.first() else { continue };
        out.push((format!("{name}_SERVICE_HOST"), ip.to_string()));
        out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
        for p in &ports {
            if let Some(pn) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((format!("{name}_SERVICE_PORT_{}", pn.to_uppercase().replace('-', "_")), p.port.to_string()));
            }
        }
        let proto = |p: &k8s_openapi::api::core::v1::ServicePort| p.protocol.clone().unwrap_or_else(|| "TCP".into());
        out.push((format!("{name}_PORT"), format!("{}://{ip}:{}", proto(first).to_lowercase(), first.port)));
        for p in &ports {
            let pr = proto(p);
            let base = format!("{name}_PORT_{}_{}", p.port, pr.to_uppercase());
            out.push((base.clone(), format!("{}://{ip}:{}", pr.to_lowercase(), p.port)));
            out.push((format!("{base}_PROTO"), pr.to_lowercase()));
            out.push((format!("{base}_PORT"), p.port.to_string()));
            out.push((format!("{base}_ADDR"), ip.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_service_vars() {
        let svc: Service = serde_json::from_value(serde_json::json!({"metadata": {"name": "kubernetes"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}))
        .expect("svc");
        let env: HashMap<String, String> = from_services(&[svc]).into_iter().collect();
        assert_eq!(env["KUBERNETES_SERVICE_HOST"], "10.96.0.1");
        assert_eq!(env["KUBERNETES_SERVICE_PORT"], "443");
        assert_eq!(env["KUBERNETES_SERVICE_PORT_HTTPS"], "443");
        assert_eq!(env["KUBERNETES_PORT"], "tcp://10.96.0.1:443");
        assert_eq!(env["KUBERNETES_PORT_443_TCP_ADDR"], "10.96.0.1");
        assert_eq!(env["KUBERNETES_PORT_443_TCP_PROTO"], "tcp");
    }
}
