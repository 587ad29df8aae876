//! Image references, normalized as containerd and Docker do: `nginx:1.24` is `docker.io/library/nginx:1.24`,
//! a missing tag is `latest`, a `@sha256:…` digest pins the content.

use std::fmt;

pub const DEFAULT_REGISTRY: &str = "docker.io";
/// Where `docker.io` really answers the distribution API.
pub const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// `docker.io`, `ghcr.io`, `127.0.0.1:5000`, …
    pub registry: String,
    /// `library/nginx`, `fluent/fluent-bit`, …
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid reference format {reference:?}: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: &'static str,
}

fn err(reference: &str, reason: &'static str) -> ReferenceError {
    ReferenceError { reference: reference.to_string(), reason }
}

/// A path component: lowercase alphanumerics separated by `.`, `_`, `__` or runs of `-`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'a'..=b'z' | b'0'..=b'9' => i += 1,
            b'.' => {
                i += 1;
                if !b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    return false;
                }
            }
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
                if !b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    return false;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some(("sha256", hex)) => {
            hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        }
        Some(("sha512", hex)) => {
            hex.len() == 128 && hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        }
        _ => false,
    }
}

impl Reference {
    /// Parses and normalizes a reference (`nginx`, `nginx:1.24`, `fluent/fluent-bit:2.0`,
    /// `ghcr.io/org/app@sha256:…`, `127.0.0.1:5000/x/y:z`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(err(s, "empty reference"));
        }
        if s.len() > 4096 {
            return Err(err(s, "too long"));
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => {
                if !valid_digest(d) {
                    return Err(err(s, "invalid digest"));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is the part after the last ':' if that part has no '/' (else the ':' was a registry port).
        let (name, tag) = match name_tag.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => {
                if !valid_tag(t) {
                    return Err(err(s, "invalid tag"));
                }
                (n, Some(t.to_string()))
            }
            _ => (name_tag, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" { DEFAULT_REGISTRY.to_string() } else { registry };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(err(s, "repository name must be lowercase"));
        }
        if !path.split('/').all(valid_component) {
            return Err(err(s, "invalid repository name"));
        }
        let repository =
            if registry == DEFAULT_REGISTRY && !path.contains('/') { format!("library/{path}") } else { path };
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_string()) } else { tag };
        Ok(Reference { registry, repository, tag, digest })
    }

    /// `docker.io/library/nginx` — the name without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository at `digest` (what a tag resolved to).
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference { digest: Some(digest.to_string()), ..self.clone() }
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn object(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }
}

impl fmt::Display for Reference {
    /// The canonical form: `docker.io/library/nginx:1.24`, `…@sha256:…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn short_names_normalize_like_containerd() {
        assert_eq!(canon("nginx:1.24"), "docker.io/library/nginx:1.24");
        assert_eq!(canon("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(canon("fluent/fluent-bit:2.0"), "docker.io/fluent/fluent-bit:2.0");
        assert_eq!(canon("nginx/nginx-prometheus-exporter:0.11"), "docker.io/nginx/nginx-prometheus-exporter:0.11");
        assert_eq!(canon("docker.io/library/busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(canon("index.docker.io/library/busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(canon("ghcr.io/org/app:v1"), "ghcr.io/org/app:v1");
        assert_eq!(canon("localhost/app"), "localhost/app:latest");
        assert_eq!(canon("127.0.0.1:5000/library/nginx:1.24"), "127.0.0.1:5000/library/nginx:1.24");
        assert_eq!(canon("127.0.0.1:5000/app"), "127.0.0.1:5000/app:latest");
    }

    #[test]
    fn digests_pin_and_tags_are_optional_with_them() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("nginx@{d}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.digest.as_deref()), (None, Some(d.as_str())));
        assert_eq!(r.object(), d);
        let r = Reference::parse(&format!("nginx:1.24@{d}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/nginx:1.24@{d}"));
    }

    #[test]
    fn bad_references_are_errors() {
        for bad in ["", "Nginx", "nginx:", "nginx:bad tag", "nginx@sha256:abc", "a//b", "-x", "nginx:-1"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }
}
