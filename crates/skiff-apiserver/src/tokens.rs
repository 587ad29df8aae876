//! Service-account tokens: compact JWTs signed ES256 with the cluster's service-account key (`pki/sa.key`),
//! carrying upstream's claims (`pkg/serviceaccount/claims.go`): `iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti`
//! and the private `kubernetes.io` claim naming the ServiceAccount and the object the token is bound to.
//!
//! This module only signs and checks signatures, times and audiences; whether the ServiceAccount and the bound
//! object still exist is the authenticator's business ([`crate::authn`]).
//!
//! JWS is implemented directly on `ring` (already the crypto provider of rustls and rcgen) rather than through a
//! JWT crate: one algorithm, pinned on both sides, is a few dozen lines, and pinning the algorithm is what keeps
//! `alg: none` and algorithm-confusion tokens out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Deserializer, Serialize};

/// The issuer of this cluster's tokens, and the audience the API server accepts (upstream's default
/// `--service-account-issuer` / `--api-audiences` for a cluster domain of `cluster.local`).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// How far `exp` and `nbf` may be off (go-jose's `DefaultLeeway`, which upstream's validator uses).
pub const LEEWAY_SECONDS: i64 = 60;

const ALG: &str = "ES256";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("service-account signing key: {0}")]
    Key(String),
    #[error("signing a token: {0}")]
    Sign(String),
    #[error("not a compact JWS")]
    Malformed,
    #[error("unsupported signing algorithm {0:?}")]
    Algorithm(String),
    #[error("invalid signature")]
    Signature,
    #[error("issuer {0:?} is not this cluster's")]
    Issuer(String),
    #[error("service account token has expired")]
    Expired,
    #[error("service account token is not valid yet")]
    NotYetValid,
    #[error("token audiences {0:?} are invalid for this API server")]
    Audience(Vec<String>),
}

/// A name and uid, as in the `kubernetes.io` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// The private `kubernetes.io` claim. Fields are in the order upstream's tokens show them (go-jose serializes
/// claims through a map, so keys come out sorted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// For a pod-bound token, the pod's node (informational); for a node-bound token, the binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    #[serde(default)]
    pub serviceaccount: ObjectRef,
    /// Set on pod tokens whose expiry was extended for the projected-token transition: past it the token still
    /// works, but upstream counts it as stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnafter: Option<i64>,
}

/// A service-account token's claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(deserialize_with = "audience")]
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
    pub nbf: i64,
    pub sub: String,
}

/// RFC 7519 allows `aud` to be one string or an array of them.
fn audience<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// `system:serviceaccount:NS:NAME`, the user a service-account token authenticates as.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

impl Claims {
    /// Upstream's `Claims`: a token for ServiceAccount `namespace/name` (with `uid`), valid from `now` for
    /// `expiration_seconds`, for `audiences`; `kubernetes` carries the binding. `jti` is a fresh uuid.
    pub fn new(
        namespace: &str,
        name: &str,
        uid: &str,
        audiences: Vec<String>,
        now: i64,
        expiration_seconds: i64,
    ) -> Claims {
        Claims {
            aud: audiences,
            exp: now.saturating_add(expiration_seconds),
            iat: now,
            iss: ISSUER.to_string(),
            jti: uuid::Uuid::new_v4().to_string(),
            kubernetes: KubernetesClaims {
                namespace: namespace.to_string(),
                serviceaccount: ObjectRef { name: name.to_string(), uid: uid.to_string() },
                ..Default::default()
            },
            nbf: now,
            sub: username(namespace, name),
        }
    }

    /// Checks the time window (with upstream's leeway) and that the token is meant for one of `audiences`.
    pub fn check(&self, now: i64, audiences: &[&str]) -> Result<(), TokenError> {
        if now > self.exp.saturating_add(LEEWAY_SECONDS) {
            return Err(TokenError::Expired);
        }
        if now.saturating_add(LEEWAY_SECONDS) < self.nbf {
            return Err(TokenError::NotYetValid);
        }
        if !self.aud.iter().any(|a| audiences.contains(&a.as_str())) {
            return Err(TokenError::Audience(self.aud.clone()));
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    kid: String,
}

/// Signs and verifies tokens with the service-account key.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    /// Upstream's key id: the unpadded base64url SHA-256 of the public key's DER (SPKI) encoding.
    kid: String,
    rng: SystemRandom,
}

impl TokenSigner {
    /// A signer for an ECDSA P-256 private key in PKCS#8 PEM (`pki/sa.key`).
    pub fn from_pem(key_pem: &str) -> Result<TokenSigner, TokenError> {
        let key_err = |e: &dyn std::fmt::Display| TokenError::Key(e.to_string());
        let der = match rustls_pemfile::private_key(&mut key_pem.as_bytes()).map_err(|e| key_err(&e))? {
            Some(rustls::pki_types::PrivateKeyDer::Pkcs8(der)) => der,
            Some(_) => return Err(TokenError::Key("expected an ECDSA P-256 key in PKCS#8 form".into())),
            None => return Err(TokenError::Key("the PEM holds no private key".into())),
        };
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_pkcs8_der(), &rng)
            .map_err(|e| key_err(&e))?;
        let spki = spki_der(key.public_key().as_ref());
        let kid = B64.encode(ring::digest::digest(&ring::digest::SHA256, &spki));
        Ok(TokenSigner { key, kid, rng })
    }

    /// The compact JWS of `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let sign_err = |e: &dyn std::fmt::Display| TokenError::Sign(e.to_string());
        let header =
            serde_json::to_vec(&Header { alg: ALG.into(), kid: self.kid.clone() }).map_err(|e| sign_err(&e))?;
        let payload = serde_json::to_vec(claims).map_err(|e| sign_err(&e))?;
        let signing_input = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let sig = self.key.sign(&self.rng, signing_input.as_bytes()).map_err(|e| sign_err(&e))?;
        Ok(format!("{signing_input}.{}", B64.encode(sig.as_ref())))
    }

    /// Checks a token's form, algorithm, signature and issuer, and returns its claims. Times and audiences are
    /// left to [`Claims::check`], so a verified token can be cached and re-checked cheaply.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        let header: Header = decode_part(h)?;
        // Only the algorithm we sign with: never `none`, never an HMAC keyed by the public key.
        if header.alg != ALG {
            return Err(TokenError::Algorithm(header.alg));
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        let public = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref());
        let signing_input = &token[..h.len() + 1 + p.len()];
        public.verify(signing_input.as_bytes(), &sig).map_err(|_| TokenError::Signature)?;
        let claims: Claims = decode_part(p)?;
        if claims.iss != ISSUER {
            return Err(TokenError::Issuer(claims.iss));
        }
        Ok(claims)
    }
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = B64.decode(part).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// The SubjectPublicKeyInfo DER of an uncompressed P-256 point: a fixed prefix (algorithm id-ecPublicKey with
/// curve prime256v1, then the BIT STRING header) followed by the 65-byte point.
fn spki_der(point: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
        0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(point);
    der
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn signer() -> (TokenSigner, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key generation");
        (TokenSigner::from_pem(&key.serialize_pem()).expect("a P-256 PKCS#8 key"), key)
    }

    fn payload(token: &str) -> Value {
        let p = token.split('.').nth(1).expect("three parts");
        serde_json::from_slice(&B64.decode(p).expect("base64url")).expect("JSON claims")
    }

    #[test]
    fn claims_are_upstreams() {
        let (s, _) = signer();
        let mut c = Claims::new("ns", "builder", "sa-uid", vec!["x".into()], 1_000_000, 600);
        c.kubernetes.pod = Some(ObjectRef { name: "web".into(), uid: "pod-uid".into() });
        let token = s.sign(&c).expect("signing");
        let p = payload(&token);
        assert_eq!(p["iss"], json!("https://kubernetes.default.svc.cluster.local"));
        assert_eq!(p["sub"], json!("system:serviceaccount:ns:builder"));
        assert_eq!(p["aud"], json!(["x"]));
        assert_eq!(
            (p["iat"].clone(), p["nbf"].clone(), p["exp"].clone()),
            (json!(1_000_000), json!(1_000_000), json!(1_000_600))
        );
        assert!(uuid::Uuid::parse_str(p["jti"].as_str().expect("jti")).is_ok());
        assert_eq!(
            p["kubernetes.io"],
            json!({"namespace": "ns", "pod": {"name": "web", "uid": "pod-uid"},
                   "serviceaccount": {"name": "builder", "uid": "sa-uid"}})
        );
        let keys: Vec<&String> = p.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["aud", "exp", "iat", "iss", "jti", "kubernetes.io", "nbf", "sub"]);
    }

    #[test]
    fn header_names_es256_and_upstreams_key_id() {
        let (s, key) = signer();
        let token = s.sign(&Claims::new("a", "b", "c", vec![ISSUER.into()], 0, 600)).expect("signing");
        let h: Value = decode_part(token.split('.').next().expect("header")).expect("header JSON");
        let kid = B64.encode(ring::digest::digest(&ring::digest::SHA256, &key.public_key_der()));
        assert_eq!(h, json!({"alg": "ES256", "kid": kid}));
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips() {
        let (s, _) = signer();
        let c = Claims::new("ns", "sa", "uid", vec![ISSUER.into(), "other".into()], 100, 3600);
        let token = s.sign(&c).expect("signing");
        assert_eq!(s.verify(&token).expect("valid"), c);
        assert!(c.check(100, &[ISSUER]).is_ok());
    }

    #[test]
    fn tampered_foreign_and_unsigned_tokens_are_rejected() {
        let (s, _) = signer();
        let (other, _) = signer();
        let token = s.sign(&Claims::new("ns", "sa", "uid", vec![ISSUER.into()], 100, 3600)).expect("signing");
        assert!(matches!(other.verify(&token), Err(TokenError::Signature)));

        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut forged = payload(&token);
        forged["sub"] = json!("system:serviceaccount:kube-system:admin");
        parts[1] = B64.encode(serde_json::to_vec(&forged).expect("JSON"));
        assert!(matches!(s.verify(&parts.join(".")), Err(TokenError::Signature)));

        let none = format!("{}.{}.", B64.encode(br#"{"alg":"none"}"#), parts[1]);
        assert!(matches!(s.verify(&none), Err(TokenError::Algorithm(a)) if a == "none"));
        for garbage in ["", "abc", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(s.verify(garbage).is_err(), "{garbage:?} verified");
        }
    }

    #[test]
    fn a_token_of_another_issuer_is_rejected() {
        let (s, _) = signer();
        let mut c = Claims::new("ns", "sa", "uid", vec![ISSUER.into()], 100, 3600);
        c.iss = "https://elsewhere".into();
        assert!(matches!(s.verify(&s.sign(&c).expect("signing")), Err(TokenError::Issuer(_))));
    }

    #[test]
    fn expiry_and_not_before_allow_a_minute_of_leeway() {
        let c = Claims::new("ns", "sa", "uid", vec![ISSUER.into()], 1000, 600);
        assert!(c.check(1600 + LEEWAY_SECONDS, &[ISSUER]).is_ok());
        assert!(matches!(c.check(1601 + LEEWAY_SECONDS, &[ISSUER]), Err(TokenError::Expired)));
        assert!(c.check(1000 - LEEWAY_SECONDS, &[ISSUER]).is_ok());
        assert!(matches!(c.check(999 - LEEWAY_SECONDS, &[ISSUER]), Err(TokenError::NotYetValid)));
    }

    #[test]
    fn a_token_for_another_audience_is_not_for_the_api_server() {
        let c = Claims::new("ns", "sa", "uid", vec!["vault".into()], 1000, 600);
        assert!(matches!(c.check(1000, &[ISSUER]), Err(TokenError::Audience(_))));
        assert!(c.check(1000, &["vault"]).is_ok());
    }

    #[test]
    fn a_single_string_audience_is_accepted() {
        let mut p = serde_json::to_value(Claims::new("ns", "sa", "uid", vec![], 0, 600)).expect("JSON");
        p["aud"] = json!(ISSUER);
        let c: Claims = serde_json::from_value(p).expect("claims");
        assert_eq!(c.aud, [ISSUER]);
    }
}
