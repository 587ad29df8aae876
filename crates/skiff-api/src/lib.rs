//! Kubernetes object semantics with no I/O: which resources exist (the registry), how objects are defaulted and
//! validated, how patches apply, and how objects print as `meta.k8s.io/v1` Tables.
//!
//! Everything here is a pure function of its inputs, so the API server, the in-process client and tests share it.

pub mod convert;
pub mod defaults;
pub mod field;
pub mod patch;
pub mod proto;
pub mod registry;
pub mod schema;
pub mod strategy;
pub mod table;
pub mod token_request;
pub mod validation;
