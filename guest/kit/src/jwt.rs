//! JSON Web Tokens as OAuth 2.0 client assertions (RFC 7523): PEM blocks, certificate
//! thumbprints, and JWTs signed with an RSA key (PS256 or RS256), all inside the component.
//!
//! The private key never leaves the component and never appears in a message: every error
//! here names the secret and what is wrong with it, not its content.

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Base64url without padding (RFC 7515 §2).
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The DER bytes of every PEM block labelled `label` in `text` (RFC 7468), in order. Text
/// around the blocks (bag attributes, comments) is ignored; a block that is not valid base64
/// is skipped.
pub fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body) {
            blocks.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    blocks
}

/// The JWS algorithm of a client assertion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PSS with SHA-256 (salt 32 bytes), with the `x5t#S256` header: what Microsoft's
    /// current documentation asks for.
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, with the SHA-1 `x5t` header: the older form.
    Rs256,
}

impl Algorithm {
    /// Parses `PS256` or `RS256`.
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "PS256" => Some(Algorithm::Ps256),
            "RS256" => Some(Algorithm::Rs256),
            _ => None,
        }
    }

    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Ps256 => "PS256",
            Algorithm::Rs256 => "RS256",
        }
    }
}

/// Why a certificate or key could not be used; names the secret, never quotes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialError {
    /// The secret at fault (`certificate` or `private_key` role).
    pub which: KeyPart,
    /// What is wrong, for humans.
    pub message: String,
}

/// Which half of a certificate credential an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// The PEM certificate.
    Certificate,
    /// The PEM private key.
    PrivateKey,
}

/// A certificate and its RSA private key, ready to sign client assertions.
pub struct CertificateKey {
    key: RsaPrivateKey,
    sha256_thumbprint: String,
    sha1_thumbprint: String,
}

impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CertificateKey(x5t#S256 {}, <private key redacted>)",
            self.sha256_thumbprint
        )
    }
}

impl CertificateKey {
    /// Parses a PEM certificate (the first `CERTIFICATE` block) and a PEM RSA private key
    /// (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`).
    pub fn from_pem(
        certificate: &str,
        private_key: &str,
    ) -> Result<CertificateKey, CredentialError> {
        let cert_error = |message: &str| CredentialError {
            which: KeyPart::Certificate,
            message: message.into(),
        };
        let key_error = |message: &str| CredentialError {
            which: KeyPart::PrivateKey,
            message: message.into(),
        };
        let der = pem_blocks(certificate, "CERTIFICATE")
            .into_iter()
            .next()
            .ok_or_else(|| {
                cert_error(
                    "is not a PEM certificate (expected a `-----BEGIN CERTIFICATE-----` block)",
                )
            })?;
        let key = if let Some(der) = pem_blocks(private_key, "PRIVATE KEY").into_iter().next() {
            RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|_| key_error("holds a PKCS#8 `PRIVATE KEY` that is not an RSA key"))?
        } else if let Some(der) = pem_blocks(private_key, "RSA PRIVATE KEY")
            .into_iter()
            .next()
        {
            RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|_| key_error("holds an `RSA PRIVATE KEY` (PKCS#1) that does not parse"))?
        } else if private_key.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(key_error("is an encrypted PKCS#8 key; give the key unencrypted (the secret source protects it)"));
        } else {
            return Err(key_error("is not a PEM RSA private key (expected `-----BEGIN PRIVATE KEY-----` (PKCS#8) or `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1))"));
        };
        Ok(CertificateKey {
            key,
            sha256_thumbprint: b64url(&Sha256::digest(&der)),
            sha1_thumbprint: b64url(&sha1::Sha1::digest(&der)),
        })
    }

    /// The certificate's `x5t#S256`: base64url SHA-256 of its DER.
    pub fn x5t_s256(&self) -> &str {
        &self.sha256_thumbprint
    }

    /// The JWS header for `alg`: PS256 names the SHA-256 thumbprint, RS256 the SHA-1 one.
    pub fn header(&self, alg: Algorithm) -> Value {
        match alg {
            Algorithm::Ps256 => {
                json!({ "alg": "PS256", "typ": "JWT", "x5t#S256": self.sha256_thumbprint })
            }
            Algorithm::Rs256 => {
                json!({ "alg": "RS256", "typ": "JWT", "x5t": self.sha1_thumbprint })
            }
        }
    }

    /// A signed JWT `header.claims.signature` with `claims`.
    pub fn sign(
        &self,
        alg: Algorithm,
        claims: &Value,
        rng: &mut impl rsa::rand_core::CryptoRngCore,
    ) -> String {
        let input = format!(
            "{}.{}",
            b64url(self.header(alg).to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature = match alg {
            Algorithm::Ps256 => rsa::pss::SigningKey::<Sha256>::new(self.key.clone())
                .sign_with_rng(rng, input.as_bytes())
                .to_vec(),
            Algorithm::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(self.key.clone())
                .sign(input.as_bytes())
                .to_vec(),
        };
        format!("{input}.{}", b64url(&signature))
    }
}

/// The claims of a client assertion (Microsoft identity platform "certificate credentials"):
/// `aud` the token endpoint, `iss` = `sub` = the client id, a fresh `jti`, valid from `now` for
/// `lifetime_secs`.
pub fn assertion_claims(
    client_id: &str,
    token_url: &str,
    jti: &str,
    now: u64,
    lifetime_secs: u64,
) -> Value {
    json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": jti,
        "nbf": now,
        "iat": now,
        "exp": now + lifetime_secs,
    })
}

/// The claims of a JWT, decoded without checking its signature (to read its `exp`).
pub fn unverified_claims(token: &str) -> Option<Value> {
    let mut parts = token.trim().split('.');
    let (_, claims, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A version-4 UUID from 16 random bytes (for `jti`).
pub fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The platform's cryptographic random source (wasi:random on wasm32-wasip2) as an RNG.
pub struct SystemRng;

impl rsa::rand_core::RngCore for SystemRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        getrandom::fill(dest).expect("the platform's random source works");
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for SystemRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_found_and_decoded() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAQID\nBA==\n-----END CERTIFICATE-----\nmore\n-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_blocks(text, "CERTIFICATE"), vec![vec![1, 2, 3, 4]]);
        assert!(pem_blocks(text, "PRIVATE KEY").is_empty());
        assert!(pem_blocks("-----BEGIN CERTIFICATE-----\nAQID", "CERTIFICATE").is_empty());
    }

    #[test]
    fn claims_follow_the_microsoft_shape() {
        let c = assertion_claims("app", "https://login/t/oauth2/v2.0/token", "j", 1000, 600);
        assert_eq!(c["aud"], "https://login/t/oauth2/v2.0/token");
        assert_eq!(
            (c["iss"].as_str(), c["sub"].as_str()),
            (Some("app"), Some("app"))
        );
        assert_eq!(
            (c["nbf"].as_u64(), c["iat"].as_u64(), c["exp"].as_u64()),
            (Some(1000), Some(1000), Some(1600))
        );
    }

    #[test]
    fn unverified_claims_read_the_middle_part() {
        let token = format!("{}.{}.sig", b64url(b"{}"), b64url(br#"{"exp":5}"#));
        assert_eq!(unverified_claims(&token).unwrap()["exp"], 5);
        assert!(unverified_claims("not a jwt").is_none());
        assert!(unverified_claims("a.!!.c").is_none());
    }

    #[test]
    fn uuids_are_version_4() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert!(crate::formats::is_guid(&u));
    }

    fn pem(label: &str, der: &[u8]) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    #[test]
    fn assertions_verify_with_the_key_and_name_the_certificate() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        use rsa::signature::Verifier;
        let key = RsaPrivateKey::new(&mut SystemRng, 1024).unwrap();
        let cert = pem("CERTIFICATE", &[1, 2, 3]);
        let claims = assertion_claims("app", "https://t", "j", 1000, 600);
        let pkcs8 = pem("PRIVATE KEY", key.to_pkcs8_der().unwrap().as_bytes());
        let pkcs1 = pem("RSA PRIVATE KEY", key.to_pkcs1_der().unwrap().as_bytes());
        for (key_pem, alg) in [(pkcs8, Algorithm::Ps256), (pkcs1, Algorithm::Rs256)] {
            let signer = CertificateKey::from_pem(&cert, &key_pem).unwrap();
            // SHA-256 of the DER bytes 01 02 03, base64url.
            assert_eq!(
                signer.x5t_s256(),
                "A5BYxvLAy0ksUzsKTRTvd8wPeKvMztUofYShogEc-4E"
            );
            let jwt = signer.sign(alg, &claims, &mut SystemRng);
            let (input, signature) = jwt.rsplit_once('.').unwrap();
            let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(signature)
                .unwrap();
            let header =
                unverified_claims(&format!("x.{}.y", jwt.split('.').next().unwrap())).unwrap();
            assert_eq!(header, signer.header(alg));
            let thumbprint = if alg == Algorithm::Ps256 {
                "x5t#S256"
            } else {
                "x5t"
            };
            assert!(header[thumbprint].is_string(), "{header}");
            let public = rsa::RsaPublicKey::from(&signer.key);
            let verified = match alg {
                Algorithm::Ps256 => rsa::pss::VerifyingKey::<Sha256>::new(public)
                    .verify(
                        input.as_bytes(),
                        &rsa::pss::Signature::try_from(signature.as_slice()).unwrap(),
                    )
                    .is_ok(),
                Algorithm::Rs256 => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
                    .verify(
                        input.as_bytes(),
                        &rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap(),
                    )
                    .is_ok(),
            };
            assert!(verified, "{alg:?}");
            assert_eq!(unverified_claims(&jwt).unwrap(), claims);
            assert!(
                !format!("{signer:?}").contains(&key_pem[30..60]),
                "Debug never shows the key"
            );
        }
    }

    #[test]
    fn bad_keys_name_the_part_and_never_quote_it() {
        let cert = &pem("CERTIFICATE", &[1, 2, 3]);
        let e = CertificateKey::from_pem(cert, "hunter2-not-a-key").unwrap_err();
        assert_eq!(e.which, KeyPart::PrivateKey);
        assert!(!e.message.contains("hunter2"));
        let e = CertificateKey::from_pem("nope", &pem("PRIVATE KEY", &[1, 2, 3])).unwrap_err();
        assert_eq!(e.which, KeyPart::Certificate);
        let e = CertificateKey::from_pem(cert, &pem("PRIVATE KEY", &[1, 2, 3])).unwrap_err();
        assert!(e.message.contains("PKCS#8"), "{e:?}");
        let e =
            CertificateKey::from_pem(cert, &pem("ENCRYPTED PRIVATE KEY", &[1, 2, 3])).unwrap_err();
        assert!(e.message.contains("encrypted"), "{e:?}");
    }
}
