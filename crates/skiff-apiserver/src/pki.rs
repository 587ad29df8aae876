//! The cluster's certificates: a CA made at first start, a serving certificate for the API server, the admin
//! client certificate behind `admin.kubeconfig`, and the service-account signing key (`sa.key`, `sa.pub`).
//!
//! The CA, the admin certificate and the service-account key are made once and kept (clients hold the first two;
//! every issued service-account token is signed by the third); the serving certificate is re-issued when it
//! lacks a name the current start needs.

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
    ca_key_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    pub kubelet_client_cert_pem: String,
    pub kubelet_client_key_pem: String,
    /// The service-account token signing key (ECDSA P-256, PKCS#8 PEM) and its public half (SPKI PEM, the
    /// format of kube-apiserver's `--service-account-key-file`).
    pub sa_key_pem: String,
    pub sa_pub_pem: String,
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

        let (admin_cert_pem, admin_key_pem) =
            Self::client_cert(dir, "admin", "kubernetes-admin", &["system:masters"], &ca, &ca_keypair)?;
        // The API server's identity towards node servers (logs), as kube-apiserver's --kubelet-client-certificate.
        let (kubelet_client_cert_pem, kubelet_client_key_pem) = Self::client_cert(
            dir,
            "apiserver-kubelet-client",
            "kube-apiserver-kubelet-client",
            &["system:masters"],
            &ca,
            &ca_keypair,
        )?;
        let (sa_key_pem, sa_pub_pem) = Self::service_account_key(dir)?;
        Ok(Pki {
            ca_pem,
            ca_key_pem,
            serving_cert_pem,
            serving_key_pem,
            admin_cert_pem,
            admin_key_pem,
            kubelet_client_cert_pem,
            kubelet_client_key_pem,
            sa_key_pem,
            sa_pub_pem,
        })
    }

    /// A client certificate kept in `dir/<file>.crt|.key`, made on first use.
    fn client_cert(
        dir: &Path,
        file: &str,
        cn: &str,
        orgs: &[&str],
        ca: &rcgen::Certificate,
        ca_key: &KeyPair,
    ) -> Result<(String, String), PkiError> {
        let (crt, key_path) = (dir.join(format!("{file}.crt")), dir.join(format!("{file}.key")));
        if let (Some(c), Some(k)) = (read(&crt)?, read(&key_path)?) {
            return Ok((c, k));
        }
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        p.distinguished_name = name(cn, orgs);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        validity(&mut p, 10);
        let cert = p.signed_by(&key, ca, ca_key)?;
        write(&key_path, &key.serialize_pem())?;
        write(&crt, &cert.pem())?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// A serving certificate for a node server (the kubelet's port): the node's name and addresses, signed by
    /// the CA, so the API server can verify whom it proxies to. Made fresh at every agent start.
    pub fn issue_node_serving(&self, node_name: &str, ips: &[IpAddr]) -> Result<(String, String), PkiError> {
        let ca_keypair = KeyPair::from_pem(&self.ca_key_pem)?;
        let ca = CertificateParams::from_ca_cert_pem(&self.ca_pem)?.self_signed(&ca_keypair)?;
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        p.distinguished_name = name(&format!("system:node:{node_name}"), &["system:nodes"]);
        p.subject_alt_names.push(SanType::DnsName(node_name.to_string().try_into()?));
        p.subject_alt_names.extend(ips.iter().copied().map(SanType::IpAddress));
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        validity(&mut p, 2);
        let cert = p.signed_by(&key, &ca, &ca_keypair)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Loads or makes the service-account signing key. It must outlive restarts: a new key would invalidate
    /// every token pods hold. `sa.pub` is derived from `sa.key` when missing.
    fn service_account_key(dir: &Path) -> Result<(String, String), PkiError> {
        let (key_path, pub_path) = (dir.join("sa.key"), dir.join("sa.pub"));
        let key_pem = match read(&key_path)? {
            Some(k) => k,
            None => {
                let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                write(&key_path, &key.serialize_pem())?;
                tracing::info!(dir = %dir.display(), "created service-account signing key");
                key.serialize_pem()
            }
        };
        let pub_pem = match read(&pub_path)? {
            Some(p) => p,
            None => {
                let p = KeyPair::from_pem(&key_pem)?.public_key_pem();
                write(&pub_path, &p)?;
                p
            }
        };
        Ok((key_pem, pub_pem))
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
