//! PersistentVolume and PersistentVolumeClaim validation (the spec basics of
//! `ValidatePersistentVolume(Claim)` in `pkg/apis/core/validation`, Kubernetes 1.32).

use super::core::{meta_errors, spec_of};
use super::meta::{self, metadata, validate_object_meta, validate_object_meta_update};
use super::names::*;
use super::quantity::quantity_from_json;
use super::{arr, child, get, key, obj, semantic_eq, str_of};
use crate::field::FieldError;
use serde_json::Value;

const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];

fn validate_access_modes(spec: &Value, required_detail: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let modes = arr(spec, "accessModes");
    if modes.is_empty() {
        errs.push(FieldError::required(path, required_detail));
    }
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(FieldError::not_supported(path, m, ACCESS_MODES));
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(FieldError::forbidden(path, "may not use ReadWriteOncePod with other access modes"));
    }
    errs
}

/// PersistentVolume create/update (spec basics; update immutability is not checked).
pub fn validate_persistent_volume(pv: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(pv);
    let mut errs = meta_errors(pv, old, false, name_is_dns_subdomain);
    errs.extend(validate_access_modes(spec, "", "spec.accessModes"));
    let cap = obj(spec, "capacity");
    if cap.map(|c| c.is_empty()).unwrap_or(true) {
        errs.push(FieldError::required("spec.capacity", ""));
    }
    if let Some(c) = cap {
        if !c.contains_key("storage") || c.len() > 1 {
            errs.push(FieldError::not_supported("spec.capacity", Value::Object(c.clone()), &["storage"]));
        }
        for (k, q) in c {
            let p = key("spec.capacity", k);
            if let Ok(q) = quantity_from_json(q) {
                if !q.is_zero() && q.is_negative() || q.is_zero() {
                    errs.push(FieldError::invalid(&p, q.canonical(), "must be greater than zero"));
                }
            }
        }
    }
    let rp = str_of(spec, "persistentVolumeReclaimPolicy");
    if !rp.is_empty() && !matches!(rp, "Delete" | "Recycle" | "Retain") {
        errs.push(FieldError::not_supported(
            "spec.persistentVolumeReclaimPolicy",
            rp,
            &["Delete", "Recycle", "Retain"],
        ));
    }
    const PV_SOURCES: &[&str] = &[
        "hostPath",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "glusterfs",
        "flocker",
        "nfs",
        "rbd",
        "quobyte",
        "cephfs",
        "iscsi",
        "cinder",
        "fc",
        "flexVolume",
        "azureFile",
        "vsphereVolume",
        "photonPersistentDisk",
        "portworxVolume",
        "azureDisk",
        "scaleIO",
        "local",
        "storageos",
        "csi",
    ];
    let mut n = 0;
    for s in PV_SOURCES {
        if get(spec, s).is_some() {
            if n > 0 {
                errs.push(FieldError::forbidden(child("spec", s), "may not specify more than 1 volume type"));
            }
            n += 1;
        }
    }
    if n == 0 {
        errs.push(FieldError::required("spec", "must specify a volume type"));
    }
    errs
}

/// PersistentVolumeClaim create/update.
pub fn validate_persistent_volume_claim(pvc: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let spec = spec_of(pvc);
    let mut errs = Vec::new();
    if let Some(old) = old {
        errs.extend(validate_object_meta_update(metadata(pvc), metadata(old), "metadata"));
    }
    errs.extend(validate_object_meta(metadata(pvc), true, name_is_dns_subdomain, "metadata"));
    errs.extend(validate_access_modes(spec, "at least 1 access mode is required", "spec.accessModes"));
    if let Some(sel) = get(spec, "selector") {
        errs.extend(meta::validate_label_selector(Some(sel), "spec.selector"));
    }
    let storage = get(spec, "resources").and_then(|r| get(r, "requests")).and_then(|r| get(r, "storage"));
    match storage.map(quantity_from_json) {
        None => errs.push(FieldError::required("spec.resources[storage]", "")),
        Some(Ok(q)) if q.is_zero() || q.is_negative() => {
            errs.push(FieldError::invalid("spec.resources[storage]", q.canonical(), "must be greater than zero"))
        }
        Some(Err(e)) => errs.push(FieldError::invalid(
            "spec.resources[storage]",
            storage.cloned().unwrap_or(Value::Null),
            e.to_string(),
        )),
        _ => {}
    }
    if let Some(sc) = get(spec, "storageClassName").and_then(Value::as_str) {
        if !sc.is_empty() {
            for m in name_is_dns_subdomain(sc, false) {
                errs.push(FieldError::invalid("spec.storageClassName", sc, m));
            }
        }
    }
    if let Some(vm) = get(spec, "volumeMode").and_then(Value::as_str) {
        if !matches!(vm, "Block" | "Filesystem") {
            errs.push(FieldError::not_supported("spec.volumeMode", vm, &["Block", "Filesystem"]));
        }
    }
    if let Some(old) = old {
        let os = spec_of(old);
        let mut n = spec.clone();
        let bound = super::str_at(pvc, &["status", "phase"]) == "Bound";
        if let Some(m) = n.as_object_mut() {
            if str_of(os, "volumeName").is_empty() {
                match os.get("volumeName") {
                    Some(v) => m.insert("volumeName".into(), v.clone()),
                    None => m.remove("volumeName"),
                };
                if let Some(v) = spec.get("volumeName") {
                    m.insert("volumeName".into(), v.clone());
                }
            }
            if bound {
                if let (Some(Value::Object(r)), Some(old_storage)) = (
                    m.get_mut("resources").and_then(|r| r.get_mut("requests")),
                    super::get_at(os, &["resources", "requests", "storage"]),
                ) {
                    r.insert("storage".into(), old_storage.clone());
                }
            }
        }
        let mut o = os.clone();
        if str_of(os, "volumeName").is_empty() {
            if let (Some(m), Some(v)) = (o.as_object_mut(), spec.get("volumeName")) {
                m.insert("volumeName".into(), v.clone());
            }
        }
        if !semantic_eq(Some(&n), Some(&o)) {
            errs.push(FieldError::forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n  core.PersistentVolumeClaimSpec{\n  }\n",
            ));
        }
    }
    errs
}
