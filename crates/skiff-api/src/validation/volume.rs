//! Pod volume validation (`ValidateVolumes`, `validateVolumeSource` and the per-source checks of
//! `pkg/apis/core/validation/validation.go`, Kubernetes 1.32). Cloud and legacy in-tree sources are counted
//! for the one-source rule and checked for their required fields only.

use super::container::VolumeMap;
use super::names::*;
use super::quantity::quantity_from_json;
use super::{arr, child, get, index, int, str_of};
use crate::field::FieldError;
use serde_json::Value;
use std::collections::HashSet;

const FILE_MODE_ERROR_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Volume source keys in upstream's checking order, each with the path name used for the
/// "more than 1 volume type" error (upstream spells a few differently from the JSON key).
const SOURCES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// Required string fields of the sources checked only for presence (JSON key, then error path child).
const REQUIRED_FIELDS: &[(&str, &[(&str, &str)])] = &[
    ("gitRepo", &[("repository", "repository")]),
    ("gcePersistentDisk", &[("pdName", "pdName")]),
    ("awsElasticBlockStore", &[("volumeID", "volumeID")]),
    ("glusterfs", &[("endpoints", "endpoints"), ("path", "path")]),
    ("rbd", &[("image", "image")]),
    ("cinder", &[("volumeID", "volumeID")]),
    ("quobyte", &[("volume", "volume")]),
    ("flexVolume", &[("driver", "driver")]),
    ("azureFile", &[("secretName", "secretName"), ("shareName", "shareName")]),
    ("vsphereVolume", &[("volumePath", "volumePath")]),
    ("photonPersistentDisk", &[("pdID", "pdID")]),
    ("portworxVolume", &[("volumeID", "volumeID")]),
    ("azureDisk", &[("diskName", "diskName"), ("diskURI", "diskURI")]),
    ("scaleIO", &[("gateway", "gateway"), ("system", "system"), ("volumeName", "volumeName")]),
];

/// `validatePathNoBacksteps`.
pub fn validate_path_no_backsteps(target: &str, path: &str) -> Vec<FieldError> {
    if target.split('/').any(|p| p == "..") {
        return vec![FieldError::invalid(path, target, "must not contain '..'")];
    }
    Vec::new()
}

/// `validateLocalDescendingPath`: relative and without `..`.
pub fn validate_local_descending_path(target: &str, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    errs.extend(validate_path_no_backsteps(target, path));
    errs
}

/// `ValidateLocalNonReservedPath`.
pub fn validate_local_non_reserved_path(target: &str, path: &str) -> Vec<FieldError> {
    let mut errs = validate_local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(path, target, "must not start with '..'"));
    }
    errs
}

fn validate_mode(v: &Value, k: &str, path: &str) -> Vec<FieldError> {
    match int(v, k) {
        Some(m) if !(0..=0o777).contains(&m) => {
            vec![FieldError::invalid(child(path, k), m, FILE_MODE_ERROR_MSG)]
        }
        _ => Vec::new(),
    }
}

fn validate_key_to_paths(src: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, kp) in arr(src, "items").iter().enumerate() {
        let p = index(&child(path, "items"), i);
        if str_of(kp, "key").is_empty() {
            errs.push(FieldError::required(child(&p, "key"), ""));
        }
        let pth = str_of(kp, "path");
        if pth.is_empty() {
            errs.push(FieldError::required(child(&p, "path"), ""));
        }
        errs.extend(validate_local_non_reserved_path(pth, &child(&p, "path")));
        errs.extend(validate_mode(kp, "mode", &p));
    }
    errs
}

const VOLUME_FIELD_PATHS: &[&str] =
    &["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"];

fn validate_downward_api_file(file: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let p = str_of(file, "path");
    if p.is_empty() {
        errs.push(FieldError::required(child(path, "path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(p, &child(path, "path")));
    if let Some(fr) = get(file, "fieldRef") {
        errs.extend(super::container::validate_object_field_selector(fr, VOLUME_FIELD_PATHS, &child(path, "fieldRef")));
        if get(file, "resourceFieldRef").is_some() {
            errs.push(FieldError::invalid(
                path,
                "resource",
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if let Some(rr) = get(file, "resourceFieldRef") {
        errs.extend(super::container::validate_resource_field_selector(rr, &child(path, "resourceFieldRef"), true));
    } else {
        errs.push(FieldError::required(path, "one of fieldRef and resourceFieldRef is required"));
    }
    errs.extend(validate_mode(file, "mode", path));
    errs
}

fn validate_projected(src: &Value, path: &str, errs: &mut Vec<FieldError>) {
    errs.extend(validate_mode(src, "defaultMode", path));
    let mut all_paths = HashSet::new();
    for (i, source) in arr(src, "sources").iter().enumerate() {
        let sp = index(&child(path, "sources"), i);
        let mut n = 0;
        for k in ["secret", "configMap"] {
            if let Some(s) = get(source, k) {
                n += 1;
                let pp = child(&sp, k);
                if str_of(s, "name").is_empty() {
                    errs.push(FieldError::required(child(&pp, "name"), ""));
                }
                errs.extend(validate_key_to_paths(s, &pp));
                for kp in arr(s, "items") {
                    let cur = str_of(kp, "path");
                    if !cur.is_empty() && !all_paths.insert(cur.to_string()) {
                        errs.push(FieldError::invalid(path, str_of(s, "name"), "conflicting duplicate paths"));
                    }
                }
            }
        }
        if let Some(d) = get(source, "downwardAPI") {
            n += 1;
            for f in arr(d, "items") {
                errs.extend(validate_downward_api_file(f, &child(&sp, "downwardAPI")));
                let cur = str_of(f, "path");
                if !cur.is_empty() && !all_paths.insert(cur.to_string()) {
                    errs.push(FieldError::invalid(path, cur, "conflicting duplicate paths"));
                }
            }
        }
        if let Some(t) = get(source, "serviceAccountToken") {
            n += 1;
            let pp = child(&sp, "serviceAccountToken");
            let exp = int(t, "expirationSeconds").unwrap_or(0);
            if exp < 600 {
                errs.push(FieldError::invalid(
                    child(&pp, "expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > 1 << 32 {
                errs.push(FieldError::invalid(
                    child(&pp, "expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            let tp = str_of(t, "path");
            if tp.is_empty() {
                errs.push(FieldError::required(child(path, "path"), ""));
            } else {
                errs.extend(validate_local_non_reserved_path(tp, &child(path, "path")));
            }
        }
        if get(source, "clusterTrustBundle").is_some() {
            n += 1;
        }
        if n > 1 {
            errs.push(FieldError::forbidden(&sp, "may not specify more than 1 volume type per source"));
        }
    }
}

/// `validateVolumeSource` for one volume.
fn validate_volume_source(vol: &Value, path: &str, vol_name: &str, pod_name: Option<&str>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut n = 0;
    for (k, err_name) in SOURCES {
        let Some(src) = get(vol, k) else { continue };
        if n > 0 {
            errs.push(FieldError::forbidden(child(path, err_name), "may not specify more than 1 volume type"));
            continue;
        }
        n += 1;
        let sp = child(path, k);
        match *k {
            "emptyDir" => {
                if let Some(q) = get(src, "sizeLimit").and_then(|v| quantity_from_json(v).ok()) {
                    if q.is_negative() {
                        errs.push(FieldError::forbidden(
                            child(&sp, "sizeLimit"),
                            "SizeLimit field must be a valid resource quantity",
                        ));
                    }
                }
            }
            "hostPath" => {
                let p = str_of(src, "path");
                if p.is_empty() {
                    errs.push(FieldError::required(child(&sp, "path"), ""));
                } else {
                    errs.extend(validate_path_no_backsteps(p, &child(&sp, "path")));
                    if let Some(t) = get(src, "type").and_then(Value::as_str) {
                        const TYPES: &[&str] = &[
                            "",
                            "BlockDevice",
                            "CharDevice",
                            "Directory",
                            "DirectoryOrCreate",
                            "File",
                            "FileOrCreate",
                            "Socket",
                        ];
                        if !TYPES.contains(&t) {
                            errs.push(FieldError::not_supported(child(&sp, "type"), t, TYPES));
                        }
                    }
                }
            }
            "secret" => {
                if str_of(src, "secretName").is_empty() {
                    errs.push(FieldError::required(child(&sp, "secretName"), ""));
                }
                errs.extend(validate_mode(src, "defaultMode", &sp));
                errs.extend(validate_key_to_paths(src, &sp));
            }
            "configMap" => {
                if str_of(src, "name").is_empty() {
                    errs.push(FieldError::required(child(&sp, "name"), ""));
                }
                errs.extend(validate_mode(src, "defaultMode", &sp));
                errs.extend(validate_key_to_paths(src, &sp));
            }
            "nfs" => {
                if str_of(src, "server").is_empty() {
                    errs.push(FieldError::required(child(&sp, "server"), ""));
                }
                let p = str_of(src, "path");
                if p.is_empty() {
                    errs.push(FieldError::required(child(&sp, "path"), ""));
                }
                if !p.starts_with('/') {
                    errs.push(FieldError::invalid(child(&sp, "path"), p, "must be an absolute path"));
                }
            }
            "persistentVolumeClaim" => {
                if str_of(src, "claimName").is_empty() {
                    errs.push(FieldError::required(child(&sp, "claimName"), ""));
                }
            }
            "downwardAPI" => {
                errs.extend(validate_mode(src, "defaultMode", &sp));
                for f in arr(src, "items") {
                    errs.extend(validate_downward_api_file(f, &sp));
                }
            }
            "projected" => validate_projected(src, &sp, &mut errs),
            "csi" => {
                let driver = str_of(src, "driver");
                let dp = child(&sp, "driver");
                if driver.is_empty() {
                    errs.push(FieldError::required(&dp, ""));
                }
                if driver.len() > 63 {
                    errs.push(FieldError::too_long(&dp, 63));
                }
                for m in is_dns1123_subdomain(&driver.to_lowercase()) {
                    errs.push(FieldError::invalid(&dp, driver, m));
                }
            }
            "ephemeral" => {
                if get(src, "volumeClaimTemplate").is_none() {
                    errs.push(FieldError::required(child(&sp, "volumeClaimTemplate"), ""));
                }
                if let (Some(pod), false) = (pod_name, vol_name.is_empty()) {
                    let pvc = format!("{pod}-{vol_name}");
                    for m in name_is_dns_subdomain(&pvc, false) {
                        errs.push(FieldError::invalid(
                            child(path, "name"),
                            vol_name,
                            format!("PVC name {}: {m}", crate::field::go_quote(&pvc)),
                        ));
                    }
                }
            }
            "image" => {
                if str_of(src, "reference").is_empty() {
                    errs.push(FieldError::required(child(&sp, "reference"), ""));
                }
            }
            other => {
                if let Some((_, fields)) = REQUIRED_FIELDS.iter().find(|(s, _)| s == &other) {
                    for (jk, pk) in fields.iter() {
                        if str_of(src, jk).is_empty() {
                            let base =
                                if other == "gcePersistentDisk" { child(path, "persistentDisk") } else { sp.clone() };
                            errs.push(FieldError::required(child(&base, pk), ""));
                        }
                    }
                }
            }
        }
    }
    if n == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    errs
}

/// `ValidateVolumes`: returns the volumes that validated (by name) and the errors.
pub fn validate_volumes<'a>(
    volumes: &'a [Value],
    pod_name: Option<&str>,
    path: &str,
) -> (VolumeMap<'a>, Vec<FieldError>) {
    let mut map = VolumeMap::new();
    let mut errs = Vec::new();
    let created_pvcs: HashSet<String> = match pod_name {
        Some(p) if !p.is_empty() => volumes
            .iter()
            .filter(|v| get(v, "ephemeral").is_some())
            .map(|v| format!("{p}-{}", str_of(v, "name")))
            .collect(),
        _ => HashSet::new(),
    };
    for (i, vol) in volumes.iter().enumerate() {
        let p = index(path, i);
        let name = str_of(vol, "name");
        let mut el = validate_volume_source(vol, &p, name, pod_name.filter(|n| !n.is_empty()));
        if name.is_empty() {
            el.push(FieldError::required(child(&p, "name"), ""));
        } else {
            for m in is_dns1123_label(name) {
                el.push(FieldError::invalid(child(&p, "name"), name, m));
            }
        }
        if map.contains_key(name) {
            el.push(FieldError::duplicate(child(&p, "name"), name));
        }
        if el.is_empty() {
            map.insert(name.to_string(), vol);
        } else {
            errs.extend(el);
        }
        if let Some(pvc) = get(vol, "persistentVolumeClaim") {
            let claim = str_of(pvc, "claimName");
            if created_pvcs.contains(claim) {
                errs.push(FieldError::invalid(
                    child(&child(&p, "persistentVolumeClaim"), "claimName"),
                    claim,
                    "must not reference a PVC that gets created for an ephemeral volume",
                ));
            }
        }
    }
    (map, errs)
}

/// `ValidateVolumeDevices`.
pub fn validate_volume_devices(ctr: &Value, volumes: &VolumeMap, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mounts: Vec<(&str, &str)> =
        arr(ctr, "volumeMounts").iter().map(|m| (str_of(m, "name"), str_of(m, "mountPath"))).collect();
    let mut paths = HashSet::new();
    let mut names = HashSet::new();
    for (i, dev) in arr(ctr, "volumeDevices").iter().enumerate() {
        let p = index(path, i);
        let name = str_of(dev, "name");
        let dp = str_of(dev, "devicePath");
        let vol = volumes.get(name);
        let is_pvc =
            vol.map(|v| get(v, "persistentVolumeClaim").is_some() || get(v, "ephemeral").is_some()).unwrap_or(false);
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        }
        if names.contains(name) {
            errs.push(FieldError::invalid(child(&p, "name"), name, "must be unique"));
        }
        if vol.is_some() && !is_pvc {
            errs.push(FieldError::invalid(
                child(&p, "name"),
                name,
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            ));
        }
        if vol.is_none() {
            errs.push(FieldError::not_found(child(&p, "name"), name));
        }
        if dp.is_empty() {
            errs.push(FieldError::required(child(&p, "devicePath"), ""));
        }
        if paths.contains(dp) {
            errs.push(FieldError::invalid(child(&p, "devicePath"), dp, "must be unique"));
        }
        if !dp.is_empty() && !validate_path_no_backsteps(dp, "").is_empty() {
            errs.push(FieldError::invalid(child(&p, "devicePath"), dp, "can not contain backsteps ('..')"));
        } else {
            paths.insert(dp);
        }
        if mounts.iter().any(|(n, _)| *n == name) {
            errs.push(FieldError::invalid(child(&p, "name"), name, "must not already exist in volumeMounts"));
        }
        if mounts.iter().any(|(_, mp)| *mp == dp) {
            errs.push(FieldError::invalid(
                child(&p, "devicePath"),
                dp,
                "must not already exist as a path in volumeMounts",
            ));
        }
        if !name.is_empty() {
            names.insert(name);
        }
    }
    errs
}
