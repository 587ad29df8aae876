//! The pod's hostname, as the kubelet computes it for the sandbox (`GeneratePodHostNameAndDomain`,
//! `GetNodenameForKernel`): the agent sets it on the pod's UTS namespace, and containerd repeats it in every
//! container's `HOSTNAME`.

use k8s_openapi::api::core::v1::Pod;

/// The kernel's limit for a hostname (64 bytes with the terminating NUL).
const HOSTNAME_MAX_LEN: usize = 63;
const FQDN_MAX_LEN: usize = 64;

/// `spec.hostname`, else the pod's name, cut to 63 characters without a trailing `-` or `.`; with
/// `setHostnameAsFQDN` and a `subdomain`, `<hostname>.<subdomain>.<namespace>.svc.<cluster_domain>`.
/// Not meaningful for `hostNetwork` pods, which keep the node's hostname.
pub fn pod_hostname(pod: &Pod, cluster_domain: &str) -> Result<String, String> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let mut hostname = spec.and_then(|s| s.hostname.as_deref()).filter(|h| !h.is_empty()).unwrap_or(name).to_string();
    if hostname.len() > HOSTNAME_MAX_LEN {
        let mut cut = HOSTNAME_MAX_LEN;
        while !hostname.is_char_boundary(cut) {
            cut -= 1;
        }
        hostname = hostname[..cut].trim_end_matches(['-', '.']).to_string();
        if hostname.is_empty() {
            return Err(format!("hostname for pod {name:?} was invalid: {hostname:?}"));
        }
    }
    let subdomain = spec.and_then(|s| s.subdomain.as_deref()).unwrap_or_default();
    if !subdomain.is_empty() && spec.and_then(|s| s.set_hostname_as_fqdn) == Some(true) {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let fqdn = format!("{hostname}.{subdomain}.{namespace}.svc.{cluster_domain}");
        if fqdn.len() > FQDN_MAX_LEN {
            return Err(format!(
                "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long ({FQDN_MAX_LEN} \
                 characters is the max, {} characters requested)",
                fqdn.len()
            ));
        }
        return Ok(fqdn);
    }
    Ok(hostname)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(name: &str, spec: PodSpec) -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some("ns".into()), ..Default::default() },
            spec: Some(spec),
            ..Default::default()
        }
    }

    #[test]
    fn hostname_rules() {
        assert_eq!(pod_hostname(&pod("web-0", PodSpec::default()), "cluster.local").unwrap(), "web-0");
        let spec = PodSpec { hostname: Some("db".into()), ..Default::default() };
        assert_eq!(pod_hostname(&pod("web-0", spec), "cluster.local").unwrap(), "db");
        let long = format!("{}-{}", "a".repeat(62), "b".repeat(10));
        assert_eq!(pod_hostname(&pod(&long, PodSpec::default()), "c").unwrap(), "a".repeat(62));
        let spec = PodSpec { subdomain: Some("svc".into()), set_hostname_as_fqdn: Some(true), ..Default::default() };
        assert_eq!(
            pod_hostname(&pod("web-0", spec.clone()), "cluster.local").unwrap(),
            "web-0.svc.ns.svc.cluster.local"
        );
        assert!(pod_hostname(&pod(&"x".repeat(60), spec), "cluster.local").unwrap_err().contains("is too long"));
        let spec = PodSpec { subdomain: Some("svc".into()), ..Default::default() };
        assert_eq!(pod_hostname(&pod("web-0", spec), "cluster.local").unwrap(), "web-0");
    }
}
