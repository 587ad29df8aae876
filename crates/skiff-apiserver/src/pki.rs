//! The cluster's certificates: a CA made at first start, a serving certificate for the API server, and the admin
//! client certificate behind `admin.kubeconfig`.
//!
//! The CA and the admin certificate are made once and kept (clients hold them); the serving certificate is
//! re-issued at every start, so its names follow the host's current name and listen address.

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("making a certificate: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// PEM material the server needs.
pub struct Pki {
    pub ca_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PkiError::Io { path: path.into(), source }),
    }
}

/// Writes a file atomically (temp file + rename), private to root: these are keys.
fn write(path: &Path, content: &str) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| PkiError::Io { path: path.into(), source };
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    f.write_all(content.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn validity(p: &mut CertificateParams, years: i32) {
    use chrono::Datelike;
    let now = chrono::Utc::now();
    p.not_before = rcgen::date_time_ymd(now.year() - 1, 1, 1);
    p.not_after = rcgen::date_time_ymd(now.year() + years, 1, 1);
}

fn name(cn: &str, orgs: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for o in orgs {
        dn.push(DnType::OrganizationName, *o);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

impl Pki {
    /// Loads the PKI from `dir`, creating what is missing. `hosts` are extra names/IPs for the serving cert.
    pub fn load_or_create(dir: &Path, hosts: &[String]) -> Result<Pki, PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Io { path: dir.into(), source })?;
        let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
        let (ca_pem, ca_key_pem) = match (read(&ca_crt)?, read(&ca_key)?) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let key = KeyPair::generate()?;
                let mut p = CertificateParams::default();
                p.distinguished_name = name("skiff-ca", &[]);
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.key_usages =
                    vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
                validity(&mut p, 10);
                let cert = p.self_signed(&key)?;
                write(&ca_key, &key.serialize_pem())?;
                write(&ca_crt, &cert.pem())?;
                tracing::info!(dir = %dir.display(), "created cluster CA");
                (cert.pem(), key.serialize_pem())
            }
        };
        let ca_keypair = KeyPair::from_pem(&ca_key_pem)?;
        let ca = CertificateParams::from_ca_cert_pem(&ca_pem)?.self_signed(&ca_keypair)?;

        // The serving certificate is kept across restarts; it is re-issued only when it lacks a name this start
        // needs (a new hostname or listen address), which `serving.hosts` records.
        let hosts_file = dir.join("serving.hosts");
        let mut wanted: Vec<String> = hosts.to_vec();
        wanted.sort();
        wanted.dedup();
        let issued_for: Vec<String> = read(&hosts_file)?.unwrap_or_default().lines().map(String::from).collect();
        let (serving_cert_pem, serving_key_pem) =
            match (read(&dir.join("serving.crt"))?, read(&dir.join("serving.key"))?) {
                (Some(c), Some(k)) if wanted.iter().all(|h| issued_for.contains(h)) => (c, k),
                _ => {
                    let (c, k) = Self::issue_serving(&ca, &ca_keypair, &wanted)?;
                    write(&dir.join("serving.crt"), &c)?;
                    write(&dir.join("serving.key"), &k)?;
                    write(&hosts_file, &wanted.join("\n"))?;
                    (c, k)
                }
            };

        let (admin_crt, admin_key) = (dir.join("admin.crt"), dir.join("admin.key"));
        let (admin_cert_pem, admin_key_pem) = match (read(&admin_crt)?, read(&admin_key)?) {
            (Some(c), Some(k)) => (c, k),
            _ => {
                let key = KeyPair::generate()?;
                let mut p = CertificateParams::default();
                p.distinguished_name = name("kubernetes-admin", &["system:masters"]);
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
                validity(&mut p, 10);
                let cert = p.signed_by(&key, &ca, &ca_keypair)?;
                write(&admin_key, &key.serialize_pem())?;
                write(&admin_crt, &cert.pem())?;
                (cert.pem(), key.serialize_pem())
            }
        };
        Ok(Pki { ca_pem, serving_cert_pem, serving_key_pem, admin_cert_pem, admin_key_pem })
    }

    /// A serving certificate for the API server's well-known names plus `hosts`, signed by the CA.
    fn issue_serving(
        ca: &rcgen::Certificate,
        ca_key: &KeyPair,
        hosts: &[String],
    ) -> Result<(String, String), PkiError> {
        let serving_key = KeyPair::generate()?;
        let mut sp = CertificateParams::default();
        sp.distinguished_name = name("kube-apiserver", &[]);
        let mut dns: Vec<String> = [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut ips: Vec<IpAddr> =
            vec![[127, 0, 0, 1].into(), [10, 96, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
        for h in hosts {
            match h.parse::<IpAddr>() {
                Ok(ip) if !ip.is_unspecified() => ips.push(ip),
                Ok(_) => {}
                Err(_) => dns.push(h.clone()),
            }
        }
        for d in dns {
            sp.subject_alt_names.push(SanType::DnsName(d.try_into()?));
        }
        sp.subject_alt_names.extend(ips.into_iter().map(SanType::IpAddress));
        sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        sp.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        validity(&mut sp, 2);
        let serving = sp.signed_by(&serving_key, ca, ca_key)?;
        Ok((serving.pem(), serving_key.serialize_pem()))
    }

    /// An admin kubeconfig for `server` (an `https://host:port` URL).
    pub fn admin_kubeconfig(&self, server: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: {server}
  name: skiff
contexts:
- context:
    cluster: skiff
    user: admin
  name: skiff
current-context: skiff
preferences: {{}}
users:
- name: admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
",
            ca = b64(&self.ca_pem),
            cert = b64(&self.admin_cert_pem),
            key = b64(&self.admin_key_pem),
        )
    }

    /// Writes `kubeconfig` next to the PKI, atomically.
    pub fn write_kubeconfig(path: &Path, kubeconfig: &str) -> Result<(), PkiError> {
        write(path, kubeconfig)
    }
}
