//! What configMap, secret and projected volumes contain: upstream's `MakePayload` for configMaps and secrets
//! and the projected volume's `collectData`. Pure functions of the fetched objects; writing is the
//! `AtomicWriter`'s job.

use std::borrow::Cow;

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, ProjectedVolumeSource, Secret};

use crate::atomic_writer::{FileProjection, Payload};
use crate::{downward, NodeInfo, Objects, VolumeError};

/// API defaulting sets `defaultMode: 0644`; objects built by hand may lack it.
pub(crate) const DEFAULT_MODE: i32 = 0o644;
/// Upstream defaults `serviceAccountToken.expirationSeconds` to one hour.
const DEFAULT_TOKEN_EXPIRATION_SECONDS: i64 = 3600;

/// The configMap named by a volume, an empty one when it is missing and `optional`, or kubelet's not-found
/// error.
pub(crate) fn config_map<'a>(
    objects: &'a dyn Objects,
    name: &str,
    optional: bool,
) -> Result<Cow<'a, ConfigMap>, VolumeError> {
    match objects.config_map(name) {
        Some(cm) => Ok(Cow::Borrowed(cm)),
        None if optional => Ok(Cow::Owned(ConfigMap::default())),
        None => Err(VolumeError::NotFound { kind: "configmap", name: name.to_string() }),
    }
}

/// The secret named by a volume, like [`config_map`].
pub(crate) fn secret<'a>(objects: &'a dyn Objects, name: &str, optional: bool) -> Result<Cow<'a, Secret>, VolumeError> {
    match objects.secret(name) {
        Some(s) => Ok(Cow::Borrowed(s)),
        None if optional => Ok(Cow::Owned(Secret::default())),
        None => Err(VolumeError::NotFound { kind: "secret", name: name.to_string() }),
    }
}

/// Every key (`data` and `binaryData`) at its own name, or only the `items`, each at its path with its mode.
/// A missing item key is an error unless the volume is optional.
pub(crate) fn config_map_payload(
    items: Option<&[KeyToPath]>,
    cm: &ConfigMap,
    default_mode: i32,
    optional: bool,
) -> Result<Payload, VolumeError> {
    let lookup = |key: &str| -> Option<Vec<u8>> {
        cm.data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| cm.binary_data.as_ref().and_then(|d| d.get(key)).map(|b| b.0.clone()))
    };
    let all_keys = cm.data.iter().flat_map(|d| d.keys()).chain(cm.binary_data.iter().flat_map(|d| d.keys()));
    make_payload(items, all_keys, lookup, default_mode, optional, VolumeError::MissingConfigMapKey)
}

/// Like [`config_map_payload`] for a secret's `data` (k8s-openapi has already base64-decoded it).
pub(crate) fn secret_payload(
    items: Option<&[KeyToPath]>,
    secret: &Secret,
    default_mode: i32,
    optional: bool,
) -> Result<Payload, VolumeError> {
    let lookup = |key: &str| secret.data.as_ref().and_then(|d| d.get(key)).map(|b| b.0.clone());
    let all_keys = secret.data.iter().flat_map(|d| d.keys());
    make_payload(items, all_keys, lookup, default_mode, optional, VolumeError::MissingSecretKey)
}

fn make_payload<'k>(
    items: Option<&[KeyToPath]>,
    all_keys: impl Iterator<Item = &'k String>,
    lookup: impl Fn(&str) -> Option<Vec<u8>>,
    default_mode: i32,
    optional: bool,
    missing: fn(String) -> VolumeError,
) -> Result<Payload, VolumeError> {
    let mut payload = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for key in all_keys {
                if let Some(data) = lookup(key) {
                    payload.insert(key.clone(), FileProjection::new(data, default_mode as u32));
                }
            }
        }
        Some(items) => {
            for item in items {
                let Some(data) = lookup(&item.key) else {
                    if optional {
                        continue;
                    }
                    return Err(missing(item.key.clone()));
                };
                let mode = item.mode.unwrap_or(default_mode) as u32;
                payload.insert(item.path.clone(), FileProjection::new(data, mode));
            }
        }
    }
    Ok(payload)
}

/// Upstream projected `collectData`: every source into one payload (later sources win on equal paths), every
/// failing source reported together. Service account tokens are 0600 (group-readable once fsGroup ownership
/// is applied) and owned by the pod's common runAsUser when there is an fsUser or fsGroup.
pub(crate) fn projected_payload(
    pod: &Pod,
    source: &ProjectedVolumeSource,
    objects: &dyn Objects,
    node: &NodeInfo,
    fs_user: Option<i64>,
    fs_group: Option<i64>,
) -> Result<Payload, VolumeError> {
    let default_mode = source.default_mode.unwrap_or(DEFAULT_MODE);
    let mut payload = Payload::new();
    let mut errs = Vec::new();
    for s in source.sources.iter().flatten() {
        let part = if let Some(sec) = &s.secret {
            let optional = sec.optional.unwrap_or(false);
            secret(objects, &sec.name, optional)
                .and_then(|obj| secret_payload(sec.items.as_deref(), &obj, default_mode, optional))
        } else if let Some(cm) = &s.config_map {
            let optional = cm.optional.unwrap_or(false);
            config_map(objects, &cm.name, optional)
                .and_then(|obj| config_map_payload(cm.items.as_deref(), &obj, default_mode, optional))
        } else if let Some(d) = &s.downward_api {
            downward::payload(d.items.as_deref().unwrap_or_default(), pod, node, default_mode)
        } else if let Some(t) = &s.service_account_token {
            let mode = if fs_user.is_some() || fs_group.is_some() { 0o600 } else { default_mode as u32 };
            let audience = t.audience.as_deref().filter(|a| !a.is_empty());
            let expiration = t.expiration_seconds.unwrap_or(DEFAULT_TOKEN_EXPIRATION_SECONDS);
            objects.service_account_token(audience, expiration).map_err(VolumeError::ServiceAccountToken).map(|token| {
                let mut file = FileProjection::new(token, mode);
                file.fs_user = fs_user.and_then(|u| u32::try_from(u).ok());
                Payload::from([(t.path.clone(), file)])
            })
        } else if s.cluster_trust_bundle.is_some() {
            Err(VolumeError::Unsupported("clusterTrustBundle projections are not supported on this node".into()))
        } else {
            Ok(Payload::new())
        };
        match part {
            Ok(p) => payload.extend(p),
            Err(e) => errs.push(e),
        }
    }
    VolumeError::aggregate(errs)?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use std::collections::BTreeMap;

    fn cm() -> ConfigMap {
        ConfigMap {
            data: Some(BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])),
            binary_data: Some(BTreeMap::from([("bin".into(), ByteString(vec![0, 1, 2]))])),
            ..Default::default()
        }
    }

    fn ktp(key: &str, path: &str, mode: Option<i32>) -> KeyToPath {
        KeyToPath { key: key.into(), path: path.into(), mode }
    }

    #[test]
    fn all_keys_with_default_mode() {
        let p = config_map_payload(None, &cm(), 0o600, false).expect("payload");
        assert_eq!(p.keys().collect::<Vec<_>>(), ["a", "b", "bin"]);
        assert_eq!(p["bin"], FileProjection::new(vec![0, 1, 2], 0o600));
    }

    #[test]
    fn items_select_rename_and_set_modes() {
        let items = [ktp("a", "x/a.txt", Some(0o400)), ktp("bin", "b.bin", None)];
        let p = config_map_payload(Some(&items), &cm(), 0o644, false).expect("payload");
        assert_eq!(p.len(), 2);
        assert_eq!(p["x/a.txt"], FileProjection::new("1", 0o400));
        assert_eq!(p["b.bin"].mode, 0o644);
    }

    #[test]
    fn missing_item_keys() {
        let items = [ktp("nope", "n", None), ktp("a", "a", None)];
        let err = config_map_payload(Some(&items), &cm(), 0o644, false).expect_err("missing");
        assert_eq!(err.to_string(), "configmap references non-existent config key: nope");
        let p = config_map_payload(Some(&items), &cm(), 0o644, true).expect("optional skips");
        assert_eq!(p.keys().collect::<Vec<_>>(), ["a"]);
        let err = secret_payload(Some(&items), &Secret::default(), 0o644, false).expect_err("missing");
        assert_eq!(err.to_string(), "references non-existent secret key: nope");
    }
}
