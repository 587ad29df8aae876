//! Parsing a request's path and query into what it asks for, the way upstream's `RequestInfoFactory` does.

use crate::errors::{ApiError, ApiResult};
use percent_encoding::percent_decode_str;
use std::collections::HashMap;

/// What a resource request addresses: `/api/v1/namespaces/default/pods/x/status` and friends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// The deprecated `/watch/` path prefix.
    pub watch_prefix: bool,
}

/// Parses the part of a path after `/api` or `/apis`. `None` when it does not address a resource
/// (e.g. `/api/v1` itself, which is discovery).
pub fn parse_resource_path(path: &str) -> Option<ResourcePath> {
    let segs: Vec<String> =
        path.trim_matches('/').split('/').map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
    let (group, version, rest) = match segs.first().map(String::as_str) {
        Some("api") if segs.len() >= 3 => (String::new(), segs[1].clone(), &segs[2..]),
        Some("apis") if segs.len() >= 4 => (segs[1].clone(), segs[2].clone(), &segs[3..]),
        _ => return None,
    };
    let mut rest = rest;
    let mut watch_prefix = false;
    if rest.first().map(String::as_str) == Some("watch") {
        watch_prefix = true;
        rest = &rest[1..];
    }
    let mut p = ResourcePath { group, version, watch_prefix, ..Default::default() };
    let at = |i: usize| rest.get(i).filter(|s| !s.is_empty()).cloned();
    // As upstream: `namespaces/<ns>/<x>` addresses a resource in the namespace unless <x> is one of the
    // namespace's own subresources.
    let ns_sub = rest.get(2).is_some_and(|s| s == "status" || s == "finalize");
    if rest.first().map(String::as_str) == Some("namespaces") && rest.len() >= 3 && !ns_sub {
        p.namespace = at(1);
        p.resource = at(2)?;
        p.name = at(3);
        p.subresource = at(4);
        if rest.len() > 5 {
            return None;
        }
    } else {
        p.resource = at(0)?;
        p.name = at(1);
        p.subresource = at(2);
        if rest.len() > 3 {
            return None;
        }
    }
    Some(p)
}

/// Query parameters, decoded (`+` is a space, as in HTML forms and Go's `url.ParseQuery`).
#[derive(Debug, Default, Clone)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            // Like Go's url.Values.Get, the first value of a repeated key wins.
            map.entry(dec(k)).or_insert_with(|| dec(v));
        }
        Query(map)
    }

    /// A copy with `k` set to `v`.
    pub fn with(&self, k: &str, v: &str) -> Query {
        let mut q = self.clone();
        q.0.insert(k.to_string(), v.to_string());
        q
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// Go's strconv.ParseBool spellings, as upstream's query decoding accepts.
    pub fn flag(&self, k: &str) -> ApiResult<bool> {
        match self.get(k) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(ApiError::BadRequest(format!("invalid value for {k}: {v:?}"))),
        }
    }

    pub fn int(&self, k: &str) -> ApiResult<Option<i64>> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::BadRequest(format!("invalid value for {k}: {v:?}: must be an integer"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_subresource_path() {
        let p = parse_resource_path("/api/v1/namespaces/default/pods/x/status").unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.resource.as_str(), p.name.as_deref(), p.subresource.as_deref()),
            (Some("default"), "pods", Some("x"), Some("status"))
        );
    }

    #[test]
    fn namespace_object_and_group_paths() {
        let p = parse_resource_path("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!((p.resource.as_str(), p.name.as_deref(), p.namespace), ("namespaces", Some("kube-system"), None));
        let p = parse_resource_path("/api/v1/namespaces/x/finalize").unwrap();
        assert_eq!(
            (p.resource.as_str(), p.name.as_deref(), p.subresource.as_deref()),
            ("namespaces", Some("x"), Some("finalize"))
        );
        let p = parse_resource_path("/apis/apps/v1/watch/namespaces/d/deployments").unwrap();
        assert!(p.watch_prefix);
        assert_eq!((p.group.as_str(), p.resource.as_str()), ("apps", "deployments"));
        assert!(parse_resource_path("/api/v1").is_none());
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some("labelSelector=app%3Dnginx&fieldSelector=a+b&watch=1"));
        assert_eq!(q.get("labelSelector"), Some("app=nginx"));
        assert_eq!(q.get("fieldSelector"), Some("a b"));
        assert!(q.flag("watch").unwrap());
    }
}
