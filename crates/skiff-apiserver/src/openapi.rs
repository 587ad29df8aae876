//! OpenAPI documents: Kubernetes 1.32's own v2 document, which kubectl reads for `explain` and to learn that
//! the server supports server-side field validation.

use bytes::Bytes;

static V2: &[u8] = include_bytes!("../../skiff-api/openapi/kubernetes-1.32-openapi-v2.json");

pub fn v2() -> Bytes {
    Bytes::from_static(V2)
}
