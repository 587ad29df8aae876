//! The resource registry: one entry per served resource, driving discovery, routing, storage keys, field
//! selectors and typed decoding. Adding a resource means adding one entry here.

use k8s_openapi::api::{apps, batch, coordination, core, discovery, events};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A subresource: `pods/status`, `deployments/scale`, ...
#[derive(Debug)]
pub struct Subresource {
    pub name: &'static str,
    /// Kind the subresource speaks (`Scale` for scale, `Binding` for binding, the parent's kind otherwise).
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// Checks that JSON decodes into the kind's typed form (wrong types are rejected as upstream's decoding into Go
/// structs rejects them). Missing required fields are not an error here: upstream decodes them as zero values
/// and validation reports them with a field path.
pub type TypeCheck = fn(&Value) -> Result<(), serde_json::Error>;

#[derive(Debug)]
pub struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Field selector labels beyond `metadata.name` / `metadata.namespace`, with the JSON path each reads.
    pub field_selectors: &'static [(&'static str, &'static str)],
    /// Whether spec changes bump `metadata.generation` (upstream's strategies for workloads).
    pub tracks_generation: bool,
    /// Where the objects live in the store. Two resources may share storage (core and events.k8s.io events).
    pub storage: &'static str,
    pub typecheck: TypeCheck,
}

impl Resource {
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// `Pod` for core, `Deployment.apps` for named groups: the qualified kind upstream puts in messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// `pods` for core, `deployments.apps` for named groups: the qualified resource of NotFound/AlreadyExists.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// What decoding into the Go type does to a request object: wrong types fail, unparseable quantities fail,
    /// unknown fields are dropped. Absent fields stay absent (no zero values are filled in).
    pub fn normalize(&self, obj: Value) -> Result<Value, String> {
        normalize_with(self.typecheck, self.group, self.version, self.kind, obj)
    }

    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The JSON path a field selector label reads, or `None` if the label is not supported for this resource.
    pub fn field_path(&self, label: &str) -> Option<&'static str> {
        match label {
            "metadata.name" => Some("metadata.name"),
            "metadata.namespace" if self.namespaced => Some("metadata.namespace"),
            _ => self.field_selectors.iter().find(|(l, _)| *l == label).map(|(_, p)| *p),
        }
    }
}

/// [`Resource::normalize`] for a kind that is not a stored resource (a subresource's body, e.g. TokenRequest).
pub fn normalize_as<T: DeserializeOwned>(group: &str, version: &str, kind: &str, obj: Value) -> Result<Value, String> {
    normalize_with(typecheck::<T>, group, version, kind, obj)
}

fn normalize_with(check: TypeCheck, group: &str, version: &str, kind: &str, mut obj: Value) -> Result<Value, String> {
    check(&obj).map_err(|e| e.to_string())?;
    if let Some(msg) = crate::schema::first_bad_quantity(group, version, kind, &obj) {
        return Err(msg);
    }
    crate::schema::prune_unknown_fields(group, version, kind, &mut obj);
    Ok(obj)
}

fn typecheck<T: DeserializeOwned>(v: &Value) -> Result<(), serde_json::Error> {
    match T::deserialize(v) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().starts_with("missing field") => Ok(()),
        Err(e) => Err(e),
    }
}

const CRUD: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

const fn status(group: &'static str, version: &'static str, kind: &'static str) -> Subresource {
    Subresource { name: "status", group, version, kind, verbs: GET_PATCH_UPDATE }
}

const fn scale() -> Subresource {
    Subresource { name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: GET_PATCH_UPDATE }
}

/// `serviceaccounts/token`: takes an `authentication.k8s.io/v1` TokenRequest, answers with a signed token.
const fn token() -> Subresource {
    Subresource {
        name: "token",
        group: "authentication.k8s.io",
        version: "v1",
        kind: "TokenRequest",
        verbs: &["create"],
    }
}

const ALL: &[&str] = &["all"];

macro_rules! resource {
    ($group:expr, $version:expr, $kind:expr, $ty:ty, $plural:expr, $singular:expr, namespaced: $ns:expr,
     short: $short:expr, categories: $cat:expr, subresources: $subs:expr, fields: $fields:expr,
     generation: $gen:expr, storage: $storage:expr) => {
        Resource {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            verbs: CRUD,
            short_names: $short,
            categories: $cat,
            subresources: $subs,
            field_selectors: $fields,
            tracks_generation: $gen,
            storage: $storage,
            typecheck: typecheck::<$ty>,
        }
    };
}

const POD_FIELDS: &[(&str, &str)] = &[
    ("spec.nodeName", "spec.nodeName"),
    ("spec.restartPolicy", "spec.restartPolicy"),
    ("spec.schedulerName", "spec.schedulerName"),
    ("spec.serviceAccountName", "spec.serviceAccountName"),
    ("spec.hostNetwork", "spec.hostNetwork"),
    ("status.phase", "status.phase"),
    ("status.podIP", "status.podIP"),
    ("status.nominatedNodeName", "status.nominatedNodeName"),
];

const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject.kind", "involvedObject.kind"),
    ("involvedObject.namespace", "involvedObject.namespace"),
    ("involvedObject.name", "involvedObject.name"),
    ("involvedObject.uid", "involvedObject.uid"),
    ("involvedObject.apiVersion", "involvedObject.apiVersion"),
    ("involvedObject.resourceVersion", "involvedObject.resourceVersion"),
    ("involvedObject.fieldPath", "involvedObject.fieldPath"),
    ("reason", "reason"),
    ("reportingComponent", "reportingComponent"),
    ("source", "source.component"),
    ("type", "type"),
];

/// Every resource skiff serves.
pub static RESOURCES: &[Resource] = &[
    resource!("", "v1", "Namespace", core::v1::Namespace, "namespaces", "namespace", namespaced: false,
        short: &["ns"], categories: &[],
        subresources: &[status("", "v1", "Namespace"),
            Subresource { name: "finalize", group: "", version: "v1", kind: "Namespace", verbs: &["update"] }],
        fields: &[("status.phase", "status.phase")], generation: false, storage: "namespaces"),
    resource!("", "v1", "Pod", core::v1::Pod, "pods", "pod", namespaced: true,
        short: &["po"], categories: ALL,
        subresources: &[status("", "v1", "Pod"),
            Subresource { name: "binding", group: "", version: "v1", kind: "Binding", verbs: &["create"] },
            Subresource { name: "log", group: "", version: "v1", kind: "Pod", verbs: &["get"] }],
        fields: POD_FIELDS, generation: false, storage: "pods"),
    resource!("", "v1", "ConfigMap", core::v1::ConfigMap, "configmaps", "configmap", namespaced: true,
        short: &["cm"], categories: &[], subresources: &[], fields: &[], generation: false, storage: "configmaps"),
    resource!("", "v1", "Secret", core::v1::Secret, "secrets", "secret", namespaced: true,
        short: &[], categories: &[], subresources: &[], fields: &[("type", "type")], generation: false,
        storage: "secrets"),
    resource!("", "v1", "Event", core::v1::Event, "events", "event", namespaced: true,
        short: &["ev"], categories: &[], subresources: &[], fields: EVENT_FIELDS, generation: false,
        storage: "events"),
    resource!("", "v1", "Service", core::v1::Service, "services", "service", namespaced: true,
        short: &["svc"], categories: ALL, subresources: &[status("", "v1", "Service")], fields: &[],
        generation: false, storage: "services/specs"),
    resource!("", "v1", "Endpoints", core::v1::Endpoints, "endpoints", "endpoints", namespaced: true,
        short: &["ep"], categories: &[], subresources: &[], fields: &[], generation: false,
        storage: "services/endpoints"),
    resource!("", "v1", "ServiceAccount", core::v1::ServiceAccount, "serviceaccounts", "serviceaccount",
        namespaced: true, short: &["sa"], categories: &[], subresources: &[token()], fields: &[], generation: false,
        storage: "serviceaccounts"),
    resource!("", "v1", "Node", core::v1::Node, "nodes", "node", namespaced: false,
        short: &["no"], categories: &[], subresources: &[status("", "v1", "Node")],
        fields: &[("spec.unschedulable", "spec.unschedulable")], generation: false, storage: "minions"),
    resource!("", "v1", "PersistentVolume", core::v1::PersistentVolume, "persistentvolumes", "persistentvolume",
        namespaced: false, short: &["pv"], categories: &[],
        subresources: &[status("", "v1", "PersistentVolume")], fields: &[], generation: false,
        storage: "persistentvolumes"),
    resource!("", "v1", "PersistentVolumeClaim", core::v1::PersistentVolumeClaim, "persistentvolumeclaims",
        "persistentvolumeclaim", namespaced: true, short: &["pvc"], categories: &[],
        subresources: &[status("", "v1", "PersistentVolumeClaim")], fields: &[], generation: false,
        storage: "persistentvolumeclaims"),
    resource!("apps", "v1", "Deployment", apps::v1::Deployment, "deployments", "deployment", namespaced: true,
        short: &["deploy"], categories: ALL, subresources: &[status("apps", "v1", "Deployment"), scale()],
        fields: &[], generation: true, storage: "deployments"),
    resource!("apps", "v1", "ReplicaSet", apps::v1::ReplicaSet, "replicasets", "replicaset", namespaced: true,
        short: &["rs"], categories: ALL, subresources: &[status("apps", "v1", "ReplicaSet"), scale()],
        fields: &[("status.replicas", "status.replicas")], generation: true, storage: "replicasets"),
    resource!("apps", "v1", "StatefulSet", apps::v1::StatefulSet, "statefulsets", "statefulset", namespaced: true,
        short: &["sts"], categories: ALL, subresources: &[status("apps", "v1", "StatefulSet"), scale()],
        fields: &[], generation: true, storage: "statefulsets"),
    resource!("apps", "v1", "DaemonSet", apps::v1::DaemonSet, "daemonsets", "daemonset", namespaced: true,
        short: &["ds"], categories: ALL, subresources: &[status("apps", "v1", "DaemonSet")], fields: &[],
        generation: true, storage: "daemonsets"),
    resource!("apps", "v1", "ControllerRevision", apps::v1::ControllerRevision, "controllerrevisions",
        "controllerrevision", namespaced: true, short: &[], categories: &[], subresources: &[], fields: &[],
        generation: false, storage: "controllerrevisions"),
    resource!("batch", "v1", "Job", batch::v1::Job, "jobs", "job", namespaced: true,
        short: &[], categories: ALL, subresources: &[status("batch", "v1", "Job")],
        fields: &[("status.successful", "status.succeeded")], generation: true, storage: "jobs"),
    resource!("batch", "v1", "CronJob", batch::v1::CronJob, "cronjobs", "cronjob", namespaced: true,
        short: &["cj"], categories: ALL, subresources: &[status("batch", "v1", "CronJob")], fields: &[],
        generation: true, storage: "cronjobs"),
    resource!("coordination.k8s.io", "v1", "Lease", coordination::v1::Lease, "leases", "lease", namespaced: true,
        short: &[], categories: &[], subresources: &[], fields: &[], generation: false, storage: "leases"),
    resource!("discovery.k8s.io", "v1", "EndpointSlice", discovery::v1::EndpointSlice, "endpointslices",
        "endpointslice", namespaced: true, short: &[], categories: &[], subresources: &[], fields: &[],
        generation: false, storage: "endpointslices"),
    resource!("events.k8s.io", "v1", "Event", events::v1::Event, "events", "event", namespaced: true,
        short: &["ev"], categories: &[], subresources: &[], fields: &[], generation: false,
        storage: "events"),
    // Listed so that clients can ask which custom resources exist (kubectl does, to explain an unknown kind);
    // serving custom resources is not built yet, so the list is read-only and stays empty.
    Resource {
        group: "apiextensions.k8s.io",
        version: "v1",
        kind: "CustomResourceDefinition",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        namespaced: false,
        verbs: &["get", "list", "watch"],
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        subresources: &[],
        field_selectors: &[],
        tracks_generation: true,
        storage: "apiextensions.k8s.io/customresourcedefinitions",
        typecheck: typecheck::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >,
    },
];

/// The API groups served, in the order discovery lists them ("" is the legacy core group).
pub fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for r in RESOURCES {
        if !out.contains(&r.group) {
            out.push(r.group);
        }
    }
    out
}

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub fn find_kind(group: &str, version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// Splits an `apiVersion` into group and version (`apps/v1` → (`apps`, `v1`), `v1` → (``, `v1`)).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_normalizes_an_empty_object() {
        for r in RESOURCES {
            let obj = serde_json::json!({"apiVersion": r.group_version(), "kind": r.kind, "metadata": {"name": "x"}});
            assert!(r.normalize(obj).is_ok(), "{} does not normalize", r.kind);
        }
    }

    #[test]
    fn normalize_drops_unknown_fields_rejects_wrong_types_and_keeps_absent_fields_absent() {
        let pods = find("", "v1", "pods").unwrap();
        let out = pods
            .normalize(
                serde_json::json!({"metadata": {"name": "x"}, "bogus": 1, "spec": {"containers": [{"name": "a"}]}}),
            )
            .unwrap();
        assert!(out.get("bogus").is_none());
        assert!(out.pointer("/spec/containers/0/image").is_none());
        assert!(pods.normalize(serde_json::json!({"spec": {"containers": "no"}})).is_err());
        let deploy = find("apps", "v1", "deployments").unwrap();
        let out = deploy.normalize(serde_json::json!({"spec": {"replicas": 1}})).unwrap();
        assert!(out.pointer("/spec/selector").is_none());
    }
}
