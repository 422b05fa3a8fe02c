//! Credentials made at run time for the Entra sandbox: an RSA key with a self-signed
//! certificate to register on an app (`roster sim`, tests), and a test identity provider that
//! issues federated tokens. Nothing here is ever written to the repository; `Debug` never
//! shows a private key.

use crate::entra::{TrustedIssuer, TOKEN_EXCHANGE_AUDIENCE};
use anyhow::{Context, Result};
use base64::Engine as _;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RSA key size for generated keys.
pub const KEY_BITS: usize = 2048;

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn new_key() -> Result<RsaPrivateKey> {
    RsaPrivateKey::new(&mut rand_core::OsRng, KEY_BITS).context("generating an RSA key")
}

/// A compact JWS of `header` and `claims` signed with `key` (`alg` PS256 or RS256 from the header).
pub fn sign_jwt(key: &RsaPrivateKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = if header["alg"] == "PS256" {
        rsa::pss::SigningKey::<Sha256>::new(key.clone())
            .sign_with_rng(&mut rand_core::OsRng, input.as_bytes())
            .to_vec()
    } else {
        rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone())
            .sign(input.as_bytes())
            .to_vec()
    };
    format!("{input}.{}", b64url(&signature))
}

/// An RSA key and a self-signed certificate for it.
pub struct TestCertificate {
    /// The certificate, PEM.
    pub certificate_pem: String,
    key: RsaPrivateKey,
    der: Vec<u8>,
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TestCertificate(x5t#S256 {}, <private key redacted>)",
            self.x5t_s256()
        )
    }
}

impl TestCertificate {
    /// A new 2048-bit key and a certificate for `CN=<common_name>`, valid for a year.
    pub fn generate(common_name: &str) -> Result<TestCertificate> {
        use std::str::FromStr;
        use x509_cert::builder::{Builder, CertificateBuilder, Profile};
        use x509_cert::der::{Encode, EncodePem};
        let key = new_key()?;
        let spki_der = RsaPublicKey::from(&key)
            .to_public_key_der()
            .context("encoding the public key")?;
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::try_from(spki_der.as_bytes())
            .context("public key info")?;
        let subject = x509_cert::name::Name::from_str(&format!("CN={common_name}"))
            .context("certificate subject")?;
        let validity = x509_cert::time::Validity::from_now(Duration::from_secs(365 * 86_400))
            .context("validity")?;
        let serial = x509_cert::serial_number::SerialNumber::from(unix_now() as u32 | 1);
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
        let builder =
            CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, &signer)
                .context("certificate builder")?;
        let cert = builder
            .build::<rsa::pkcs1v15::Signature>()
            .context("signing the certificate")?;
        let certificate_pem = cert.to_pem(LineEnding::LF).context("certificate PEM")?;
        let der = cert.to_der().context("certificate DER")?;
        Ok(TestCertificate {
            certificate_pem,
            key,
            der,
        })
    }

    /// The private key, PEM PKCS#8 (`BEGIN PRIVATE KEY`).
    pub fn private_key_pkcs8_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an RSA key encodes")
            .to_string()
    }

    /// The private key, PEM PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn private_key_pkcs1_pem(&self) -> String {
        self.key
            .to_pkcs1_pem(LineEnding::LF)
            .expect("an RSA key encodes")
            .to_string()
    }

    /// The certificate's `x5t#S256` (base64url SHA-256 of its DER).
    pub fn x5t_s256(&self) -> String {
        b64url(&Sha256::digest(&self.der))
    }

    /// A client assertion for `client_id` at `token_url` signed with this key (PS256 with
    /// `x5t#S256`), valid from `now + from_secs` for `lifetime_secs`, with `jti`: for tests of
    /// the sandbox's refusals (the provider makes its own).
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        jti: &str,
        from_secs: i64,
        lifetime_secs: u64,
    ) -> String {
        let start = (unix_now() as i64 + from_secs).max(0) as u64;
        let header = json!({ "alg": "PS256", "typ": "JWT", "x5t#S256": self.x5t_s256() });
        let claims = json!({ "aud": token_url, "iss": client_id, "sub": client_id, "jti": jti, "nbf": start, "iat": start, "exp": start + lifetime_secs });
        sign_jwt(&self.key, &header, &claims)
    }
}

/// A test identity provider (as a Kubernetes cluster or GitHub Actions would be) issuing
/// RS256 tokens that an app's federated credential can trust.
pub struct TestIssuer {
    /// The issuer URL (`iss`).
    pub issuer: String,
    key: RsaPrivateKey,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestIssuer({}, <private key redacted>)", self.issuer)
    }
}

impl TestIssuer {
    /// A new issuer called `issuer` with a fresh signing key.
    pub fn generate(issuer: &str) -> Result<TestIssuer> {
        Ok(TestIssuer {
            issuer: issuer.into(),
            key: new_key()?,
        })
    }

    /// Its entry for the seed's `trusted_issuers`.
    pub fn trusted(&self) -> TrustedIssuer {
        let pem = RsaPublicKey::from(&self.key)
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA key encodes");
        TrustedIssuer {
            issuer: self.issuer.clone(),
            public_key_pem: pem,
        }
    }

    /// A token about `subject` for `api://AzureADTokenExchange`, valid from now for
    /// `lifetime_secs` (negative: expired that long ago).
    pub fn token(&self, subject: &str, lifetime_secs: i64) -> String {
        let now = unix_now() as i64;
        let (nbf, exp) = if lifetime_secs >= 0 {
            (now, now + lifetime_secs)
        } else {
            (now + 2 * lifetime_secs, now + lifetime_secs)
        };
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "test" });
        let claims = json!({ "iss": self.issuer, "sub": subject, "aud": TOKEN_EXCHANGE_AUDIENCE, "nbf": nbf, "iat": nbf, "exp": exp, "jti": format!("{now}-{nbf}") });
        sign_jwt(&self.key, &header, &claims)
    }
}
