//! What the Service REST storage adds to the generic handlers: cluster IP and node port allocation on create,
//! release on delete.

use crate::allocators;
use crate::errors::{ApiError, ApiResult};
use serde_json::{json, Value};
use skiff_api::field::FieldError;
use skiff_api::registry::Resource;
use skiff_store::Store;

pub fn is_service(r: &Resource) -> bool {
    r.group.is_empty() && r.kind == "Service"
}

/// What a Service holds in the allocators.
pub fn held(obj: &Value) -> (Vec<String>, Vec<u32>) {
    let mut ips: Vec<String> = obj
        .pointer("/spec/clusterIPs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default();
    if ips.is_empty() {
        ips.extend(obj.pointer("/spec/clusterIP").and_then(Value::as_str).map(String::from));
    }
    let ports = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p.get("nodePort").and_then(Value::as_u64)).map(|p| p as u32).collect())
        .unwrap_or_default();
    (ips, ports)
}

/// Allocates the cluster IP and node ports a new Service needs, writing them into `obj`.
pub async fn allocate(store: &dyn Store, r: &Resource, obj: &mut Value) -> ApiResult<()> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let owner = format!("{}/{}", obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""), name);
    let ty = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
    if ty == "ExternalName" {
        return Ok(());
    }
    let requested = obj.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
    let ip = match requested.as_str() {
        "None" => "None".to_string(),
        "" => allocators::allocate_ip(store, &owner).await?,
        wanted => {
            if !allocators::claim_ip(store, wanted, &owner).await? {
                let err = FieldError::invalid(
                    "spec.clusterIPs",
                    json!([wanted]),
                    format!("failed to allocate IP {wanted}: provided IP is already allocated"),
                );
                return Err(ApiError::invalid(r, &name, vec![err]));
            }
            wanted.to_string()
        }
    };
    obj["spec"]["clusterIP"] = json!(ip);
    obj["spec"]["clusterIPs"] = json!([ip]);
    if ty == "NodePort" || ty == "LoadBalancer" {
        let count = obj.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
        for i in 0..count {
            let port = &mut obj["spec"]["ports"][i];
            match port.get("nodePort").and_then(Value::as_u64) {
                Some(p) if p > 0 => {
                    if !allocators::claim_node_port(store, p as u32, &owner).await? {
                        let err = FieldError::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            json!(p),
                            "provided port is already allocated",
                        );
                        return Err(ApiError::invalid(r, &name, vec![err]));
                    }
                }
                _ => port["nodePort"] = json!(allocators::allocate_node_port(store, &owner).await?),
            }
        }
    }
    Ok(())
}

pub async fn release(store: &dyn Store, obj: &Value) -> ApiResult<()> {
    let (ips, ports) = held(obj);
    allocators::release(store, &ips, &ports).await
}
