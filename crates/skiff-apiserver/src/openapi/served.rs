// Shared between `build.rs` (which `include!`s this file) and `openapi.rs` (whose unit test keeps it equal to
// `skiff_api::registry::RESOURCES`): build scripts cannot depend on the crates they build against.

/// `(group, version, plural, subresources)` of every resource skiff serves: the OpenAPI documents keep the
/// reference document's paths for these and drop every other resource's.
pub const SERVED: &[(&str, &str, &str, &[&str])] = &[
    ("", "v1", "namespaces", &["status", "finalize"]),
    ("", "v1", "pods", &["status", "binding", "log"]),
    ("", "v1", "configmaps", &[]),
    ("", "v1", "secrets", &[]),
    ("", "v1", "events", &[]),
    ("", "v1", "services", &["status"]),
    ("", "v1", "endpoints", &[]),
    ("", "v1", "serviceaccounts", &["token"]),
    ("", "v1", "nodes", &["status"]),
    ("", "v1", "persistentvolumes", &["status"]),
    ("", "v1", "persistentvolumeclaims", &["status"]),
    ("apps", "v1", "deployments", &["status", "scale"]),
    ("apps", "v1", "replicasets", &["status", "scale"]),
    ("apps", "v1", "statefulsets", &["status", "scale"]),
    ("apps", "v1", "daemonsets", &["status"]),
    ("apps", "v1", "controllerrevisions", &[]),
    ("batch", "v1", "jobs", &["status"]),
    ("batch", "v1", "cronjobs", &["status"]),
    ("coordination.k8s.io", "v1", "leases", &[]),
    ("discovery.k8s.io", "v1", "endpointslices", &[]),
    ("events.k8s.io", "v1", "events", &[]),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", &[]),
];
