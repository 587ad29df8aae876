//! OpenAPI documents, as kube-apiserver serves them: `/openapi/v2` (JSON only) and `/openapi/v3` (the index)
//! with one OpenAPI 3.0 document per discovery path under it (`/openapi/v3/api/v1`, `/openapi/v3/apis/apps/v1`,
//! ...). kubectl reads the v3 documents to learn that the server supports server-side field validation (a
//! `fieldValidation` query parameter on the kind's PATCH operation), to build strategic merge patches, and for
//! `kubectl explain`.
//!
//! The documents are generated at build time (see `build.rs`) from Kubernetes 1.32's own v2 document, cut down to
//! the resources skiff serves, and embedded gzip-compressed: nothing is parsed at run time, and a response is
//! either the embedded bytes (`Content-Encoding: gzip`) or their decompression.

use crate::errors::ApiError;
use crate::http::{full, Body};
use crate::request::Query;
use ::http::header::{self, HeaderMap, HeaderValue};
use ::http::{Response, StatusCode};
use std::io::Read;

#[cfg(test)]
mod served;

/// One embedded document.
pub struct Doc {
    /// The document, gzip-compressed.
    gz: &'static [u8],
    /// Length of the uncompressed document.
    len: usize,
    /// SHA-512 of the uncompressed document, upper-case hex: upstream's ETag and `?hash=`.
    hash: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/openapi_generated.rs"));

impl Doc {
    fn json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        flate2::read::GzDecoder::new(self.gz).read_to_end(&mut out).expect("embedded OpenAPI document is valid gzip");
        out
    }
}

/// The v3 document for a discovery path (`api/v1`, `apis/apps/v1`, `apis/apps`, `api`, `apis`, `version`).
fn v3_doc(key: &str) -> Option<&'static Doc> {
    V3.binary_search_by(|(k, _)| (*k).cmp(key)).ok().map(|i| &V3[i].1)
}

/// Serves `GET /openapi/...`.
pub fn serve(path: &str, headers: &HeaderMap, query: &Query) -> Result<Response<Body>, ApiError> {
    let rest = path.trim_start_matches('/').strip_prefix("openapi").unwrap_or("");
    match rest.trim_end_matches('/') {
        "/v2" => match v2_format(headers) {
            Some(V2Format::Json) => Ok(respond(&V2, headers, &["Accept"], "application/json")),
            Some(V2Format::Protobuf) => Ok(respond(&V2_PB, headers, &["Accept"], PROTOBUF_V2)),
            None => Err(not_acceptable(headers)),
        },
        "/v3" => Ok(respond(&V3_INDEX, headers, &[], "application/json")),
        r => {
            let key = r.strip_prefix("/v3/").ok_or(ApiError::NoRoute)?;
            let doc = v3_doc(key).ok_or(ApiError::NoRoute)?;
            if !accepts_json(headers) {
                return Err(not_acceptable(headers));
            }
            match query.get("hash").filter(|h| !h.is_empty()) {
                Some(h) if h != doc.hash => {
                    // Upstream redirects a stale hash to the current one.
                    let mut resp = Response::new(full(""));
                    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
                    if let Ok(loc) = HeaderValue::from_str(&format!("/openapi/v3/{key}?hash={}", doc.hash)) {
                        resp.headers_mut().insert(header::LOCATION, loc);
                    }
                    Ok(resp)
                }
                Some(_) => {
                    let mut resp = respond(doc, headers, &["Accept"], "application/json");
                    let h = resp.headers_mut();
                    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
                    let expires =
                        (chrono::Utc::now() + chrono::Duration::days(365)).format("%a, %d %b %Y %H:%M:%S GMT");
                    if let Ok(v) = HeaderValue::from_str(&expires.to_string()) {
                        h.insert(header::EXPIRES, v);
                    }
                    Ok(resp)
                }
                None => Ok(respond(doc, headers, &["Accept"], "application/json")),
            }
        }
    }
}

fn not_acceptable(headers: &HeaderMap) -> ApiError {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    ApiError::NotAcceptable(format!(
        "only the following media types are accepted: application/json (requested {accept:?})"
    ))
}

/// The media ranges of an `Accept` header with a non-zero quality.
fn media_ranges(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').filter_map(|clause| {
        let mut parts = clause.split(';');
        let range = parts.next()?.trim();
        let zero = parts
            .any(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0));
        (!range.is_empty() && !zero).then_some(range)
    })
}

/// The media ranges of the request's `Accept` headers, in order; `*/*` when there are none.
fn accept_ranges(headers: &HeaderMap) -> Vec<&str> {
    let ranges: Vec<&str> =
        headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(media_ranges).collect();
    if ranges.is_empty() {
        vec!["*/*"]
    } else {
        ranges
    }
}

fn is_json_range(r: &str) -> bool {
    r.eq_ignore_ascii_case("application/json") || r.eq_ignore_ascii_case("application/*") || r == "*/*"
}

/// Whether the client takes JSON: no `Accept`, or one naming `application/json`, `application/*` or `*/*`.
fn accepts_json(headers: &HeaderMap) -> bool {
    accept_ranges(headers).into_iter().any(is_json_range)
}

/// The content type upstream answers protobuf v2 requests with.
const PROTOBUF_V2: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

enum V2Format {
    Json,
    Protobuf,
}

/// The first of the client's media ranges that upstream's v2 handler serves: JSON, or gnostic protobuf (either
/// spelling), which kubectl up to 1.28 asks for exclusively, before anything else, for `apply` and `explain`.
fn v2_format(headers: &HeaderMap) -> Option<V2Format> {
    accept_ranges(headers).into_iter().find_map(|r| {
        if is_json_range(r) {
            Some(V2Format::Json)
        } else if r.eq_ignore_ascii_case("application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
            || r.eq_ignore_ascii_case(PROTOBUF_V2)
        {
            Some(V2Format::Protobuf)
        } else {
            None
        }
    })
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(media_ranges)
        .any(|e| e.eq_ignore_ascii_case("gzip") || e == "*")
}

/// The document, gzip-compressed when the client takes that, with its ETag; `304 Not Modified` when the
/// client already has it.
fn respond(doc: &'static Doc, headers: &HeaderMap, vary: &[&str], content_type: &'static str) -> Response<Body> {
    let etag = format!("\"{}\"", doc.hash);
    let not_modified = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == etag || t.trim() == "*");
    let gzip = accepts_gzip(headers);
    let mut resp = if not_modified {
        let mut r = Response::new(full(""));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if gzip {
        Response::new(full(doc.gz))
    } else {
        Response::new(full(doc.json()))
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if gzip && !not_modified {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    let mut vary: Vec<&str> = vary.to_vec();
    vary.push("Accept-Encoding");
    if let Ok(v) = HeaderValue::from_str(&vary.join(", ")) {
        h.insert(header::VARY, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use serde_json::Value;
    use sha2::Digest;
    use skiff_api::registry::RESOURCES;
    use std::collections::BTreeSet;

    fn parse(doc: &Doc) -> Value {
        serde_json::from_slice(&doc.json()).unwrap()
    }

    fn gv_key(group: &str, version: &str) -> String {
        if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        }
    }

    #[test]
    fn served_list_matches_the_registry() {
        let registry: BTreeSet<(String, String, String, BTreeSet<String>)> = RESOURCES
            .iter()
            .map(|r| {
                let subs = r.subresources.iter().map(|s| s.name.to_string()).collect();
                (r.group.to_string(), r.version.to_string(), r.plural.to_string(), subs)
            })
            .collect();
        let served: BTreeSet<(String, String, String, BTreeSet<String>)> = served::SERVED
            .iter()
            .map(|(g, v, p, subs)| {
                (g.to_string(), v.to_string(), p.to_string(), subs.iter().map(|s| s.to_string()).collect())
            })
            .collect();
        assert_eq!(
            served, registry,
            "src/openapi/served.rs must list exactly the registry's resources and subresources (build.rs reads it)"
        );
    }

    #[test]
    fn index_lists_every_served_group_version_with_content_hashes() {
        let index = parse(&V3_INDEX);
        let paths = index["paths"].as_object().unwrap();
        let mut expected: BTreeSet<String> = ["api", "apis", "version"].iter().map(|s| s.to_string()).collect();
        for r in RESOURCES {
            expected.insert(gv_key(r.group, r.version));
            if !r.group.is_empty() {
                expected.insert(format!("apis/{}", r.group));
            }
        }
        let got: BTreeSet<String> = paths.keys().cloned().collect();
        assert_eq!(got, expected);
        for (key, entry) in paths {
            let doc = v3_doc(key).unwrap();
            let hash: String = sha2::Sha512::digest(doc.json()).iter().map(|b| format!("{b:02X}")).collect();
            assert_eq!(hash, doc.hash);
            assert_eq!(entry["serverRelativeURL"], format!("/openapi/v3/{key}?hash={hash}"));
        }
    }

    fn assert_refs_resolve(doc: &Value, prefix: &str, defs: &Value) {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        match (k.as_str(), x) {
                            ("$ref", Value::String(s)) => out.push(s.clone()),
                            _ => walk(x, out),
                        }
                    }
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        let mut refs = Vec::new();
        walk(doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r.strip_prefix(prefix).unwrap_or_else(|| panic!("unexpected $ref {r}"));
            assert!(defs.get(name).is_some(), "dangling $ref {r}");
        }
    }

    #[test]
    fn every_ref_resolves_within_its_document() {
        for (key, doc) in V3 {
            let d = parse(doc);
            assert_eq!(d["openapi"], "3.0.0", "{key}");
            assert_refs_resolve(&d, "#/components/schemas/", &d["components"]["schemas"]);
            // A `$ref` never has siblings in v3: they are wrapped in `allOf`.
            let text = serde_json::to_string(&d).unwrap();
            assert!(!text.contains("#/definitions/") && !text.contains("#/parameters/"), "{key}");
        }
        let v2 = parse(&V2);
        assert_refs_resolve(&v2["definitions"], "#/definitions/", &v2["definitions"]);
        let text = serde_json::to_string(&v2["paths"]).unwrap();
        for r in text.split("\"#/parameters/").skip(1) {
            let name = &r[..r.find('"').unwrap()];
            assert!(v2["parameters"].get(name).is_some(), "dangling parameter {name}");
        }
    }

    #[test]
    fn core_v1_has_pod_create_and_patch_with_field_validation() {
        let d = parse(v3_doc("api/v1").unwrap());
        let pods = &d["paths"]["/api/v1/namespaces/{namespace}/pods"];
        let post = &pods["post"];
        assert_eq!(post["x-kubernetes-group-version-kind"]["kind"], "Pod");
        let has_field_validation = |op: &Value| {
            op["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        };
        assert!(has_field_validation(post));
        assert_eq!(
            post["requestBody"]["content"]["*/*"]["schema"]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.Pod"
        );
        // What kubectl's field validation check and strategic-merge patching look for.
        let patch = &d["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            serde_json::json!({"group": "", "kind": "Pod", "version": "v1"})
        );
        assert!(has_field_validation(patch));
        assert!(patch["requestBody"]["content"].get("application/strategic-merge-patch+json").is_some());
        // Unserved subresources and resources are gone.
        assert!(d["paths"].get("/api/v1/namespaces/{namespace}/pods/{name}/exec").is_none());
        assert!(d["paths"].get("/api/v1/replicationcontrollers").is_none());
        // Schemas as kubectl explain reads them.
        let pod = &d["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
        assert_eq!(pod["properties"]["spec"]["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.core.v1.PodSpec");
        assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
        let qty = &d["components"]["schemas"]["io.k8s.apimachinery.pkg.api.resource.Quantity"];
        assert!(qty.get("type").is_none() && qty["oneOf"].is_array());
    }

    #[test]
    fn v2_is_filtered_to_served_resources() {
        let v2 = parse(&V2);
        assert_eq!(v2["swagger"], "2.0");
        let paths = v2["paths"].as_object().unwrap();
        assert!(paths.contains_key("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"));
        assert!(!paths.keys().any(|p| p.starts_with("/apis/networking.k8s.io") || p.starts_with("/logs")));
        assert!(v2["definitions"].get("io.k8s.api.apps.v1.Deployment").is_some());
        assert!(v2["definitions"].get("io.k8s.api.networking.v1.Ingress").is_none());
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    async fn body(resp: Response<Body>) -> Vec<u8> {
        resp.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn negotiation_and_caching() {
        let q = Query::parse(None);
        // kubectl's v2 request (up to 1.28): protobuf only.
        let pb = headers(&[("accept", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")]);
        let resp = serve("/openapi/v2", &pb, &q).unwrap();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], PROTOBUF_V2);
        let bytes = body(resp).await;
        assert_eq!(&bytes[..5], b"\x0a\x032.0", "field 1 (swagger) = \"2.0\" first");
        let err = serve("/openapi/v2", &headers(&[("accept", "text/html")]), &q).unwrap_err();
        assert_eq!(err.code(), 406);
        let resp = serve("/openapi/v2", &headers(&[("accept", "application/json")]), &q).unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
        let v: Value = serde_json::from_slice(&body(resp).await).unwrap();
        assert_eq!(v["swagger"], "2.0");

        // The index, gzip-compressed on request.
        let resp = serve("/openapi/v3", &headers(&[("accept-encoding", "gzip")]), &q).unwrap();
        assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip");
        let etag = resp.headers()[header::ETAG].to_str().unwrap().to_string();
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&body(resp).await[..]).read_to_end(&mut json).unwrap();
        let index: Value = serde_json::from_slice(&json).unwrap();
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap().to_string();

        // A group-version document by its hashed URL is immutable.
        let (path, query) = url.split_once('?').unwrap();
        let resp = serve(path, &headers(&[("accept", "application/json")]), &Query::parse(Some(query))).unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, immutable");
        let doc: Value = serde_json::from_slice(&body(resp).await).unwrap();
        assert!(doc["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"].is_object());

        // A stale hash redirects; an unknown document is 404; a known ETag is 304.
        let resp = serve(path, &HeaderMap::new(), &Query::parse(Some("hash=ABC"))).unwrap();
        assert_eq!(resp.status(), 301);
        assert_eq!(resp.headers()[header::LOCATION], url.as_str());
        assert_eq!(serve("/openapi/v3/apis/networking.k8s.io/v1", &HeaderMap::new(), &q).unwrap_err().code(), 404);
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
        assert_eq!(serve("/openapi/v3", &h, &q).unwrap().status(), 304);
    }
}
