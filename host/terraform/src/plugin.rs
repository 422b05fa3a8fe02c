//! The go-plugin handshake Terraform and OpenTofu expect from a provider process: the magic
//! cookie, protocol negotiation, the one stdout line that says where to connect, and AutoMTLS
//! (a self-signed server certificate; the client's certificate pinned byte for byte).
//!
//! The pure parts ([`negotiate`], [`handshake_line`]) are tested here; the listener and TLS are
//! exercised by real `terraform` in `tests/terraform.rs`.

use base64::Engine as _;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;

/// The environment variable go-plugin sets on a plugin it starts.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Its value for Terraform (and OpenTofu) providers.
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// The plugin protocol this host speaks.
pub const PROTOCOL_VERSION: u32 = 6;

/// Whether Terraform (or OpenTofu) started this process as a plugin.
pub fn launched_by_terraform() -> bool {
    std::env::var(MAGIC_COOKIE_KEY).is_ok_and(|v| v == MAGIC_COOKIE_VALUE)
}

/// What to say when a person runs a provider binary by hand.
pub const NOT_A_COMMAND: &str = "This binary is a Terraform/OpenTofu provider plugin, served by Roster: Terraform starts it.\n\
Use it from a configuration (`terraform init` finds it in the filesystem mirror `roster terraform install` wrote); \
it does nothing when run by itself.";

/// The protocol version to speak, from `PLUGIN_PROTOCOL_VERSIONS` (`"5,6"`); Terraform 0.12–0.14
/// offer only 5.
pub fn negotiate(offered: Option<&str>) -> Result<u32, String> {
    let Some(offered) = offered else {
        // go-plugin clients before protocol negotiation: the app's own version.
        return Ok(PROTOCOL_VERSION);
    };
    let versions: Vec<u32> = offered
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    if versions.contains(&PROTOCOL_VERSION) {
        Ok(PROTOCOL_VERSION)
    } else {
        Err(format!("Terraform offers plugin protocol version(s) {offered}; Roster's providers speak protocol {PROTOCOL_VERSION} (Terraform 1.0 or newer, OpenTofu)"))
    }
}

/// The handshake line: `CORE|APP|NETWORK|ADDR|PROTOCOL|CERT` — core protocol 1, the app's
/// version, the socket, `grpc`, and the server certificate (DER, standard base64 without padding)
/// when AutoMTLS is on.
pub fn handshake_line(
    protocol: u32,
    network: &str,
    address: &str,
    cert_der: Option<&[u8]>,
) -> String {
    let cert = cert_der
        .map(|d| base64::engine::general_purpose::STANDARD_NO_PAD.encode(d))
        .unwrap_or_default();
    format!("1|{protocol}|{network}|{address}|grpc|{cert}")
}

/// A server TLS configuration for AutoMTLS: a fresh self-signed certificate for `localhost`
/// (what go-plugin's client verifies), HTTP/2 by ALPN, and only the client certificate Terraform
/// passed in `PLUGIN_CLIENT_CERT` (PEM) accepted. Returns the config and the server
/// certificate's DER for the handshake line.
pub fn server_tls(client_cert_pem: &str) -> anyhow::Result<(rustls::ServerConfig, Vec<u8>)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let client = rustls_pemfile_first_cert(client_cert_pem)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Roster provider host");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    // As go-plugin makes its own: a CA (the client adds it to its roots) that may serve.
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::seconds(30);
    params.not_after = now + time::Duration::days(1);
    let cert = params.self_signed(&key)?;
    let der = cert.der().to_vec();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = PinnedClient::new(client, provider.clone())?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(
            vec![CertificateDer::from(der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((config, der))
}

/// The first certificate of a PEM text, as DER.
fn rustls_pemfile_first_cert(pem: &str) -> anyhow::Result<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("PLUGIN_CLIENT_CERT holds no PEM certificate: {e:?}"))
}

/// Accepts exactly one client certificate, byte for byte. Terraform's is an ECDSA P-521 CA
/// certificate: webpki would refuse it as an end entity, and ring cannot verify P-521
/// signatures, so those are checked with RustCrypto's `p521`; every other scheme goes to ring.
struct PinnedClient {
    cert: CertificateDer<'static>,
    p521: Option<p521::ecdsa::VerifyingKey>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl std::fmt::Debug for PinnedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedClient")
            .field("cert_len", &self.cert.len())
            .field("p521", &self.p521.is_some())
            .finish()
    }
}

impl PinnedClient {
    fn new(
        cert: CertificateDer<'static>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> anyhow::Result<PinnedClient> {
        use x509_cert::der::Decode;
        let parsed = x509_cert::Certificate::from_der(cert.as_ref())
            .map_err(|e| anyhow::anyhow!("PLUGIN_CLIENT_CERT is not an X.509 certificate: {e}"))?;
        let spki = &parsed.tbs_certificate.subject_public_key_info;
        let p521 = spki
            .subject_public_key
            .as_bytes()
            .and_then(|point| p521::ecdsa::VerifyingKey::from_sec1_bytes(point).ok());
        Ok(PinnedClient {
            cert,
            p521,
            provider,
        })
    }

    fn verify(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme == SignatureScheme::ECDSA_NISTP521_SHA512 {
            use p521::ecdsa::signature::Verifier;
            let key = self
                .p521
                .as_ref()
                .filter(|_| cert.as_ref() == self.cert.as_ref())
                .ok_or(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::BadSignature,
                ))?;
            let signature = p521::ecdsa::Signature::from_der(dss.signature()).map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
            })?;
            return key
                .verify(message, &signature)
                .map(|_| HandshakeSignatureValid::assertion())
                .map_err(|_| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
                });
        }
        let algorithms = &self.provider.signature_verification_algorithms;
        if tls13 {
            rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
        } else {
            rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
        }
    }
}

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the client's certificate is not the one Terraform announced in PLUGIN_CLIENT_CERT"
                    .into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self
            .provider
            .signature_verification_algorithms
            .supported_schemes();
        schemes.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        schemes
    }
}

/// One connection from Terraform: plain (no AutoMTLS, e.g. `TF_REATTACH_PROVIDERS`) or TLS.
pub enum Connection {
    /// Plaintext.
    Plain(UnixStream),
    /// TLS.
    Tls(Box<tokio_rustls::server::TlsStream<UnixStream>>),
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_flush(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_protocol_six_only() {
        assert_eq!(negotiate(Some("5,6")), Ok(6));
        assert_eq!(negotiate(Some("6")), Ok(6));
        assert_eq!(negotiate(None), Ok(6));
        assert!(negotiate(Some("5"))
            .unwrap_err()
            .contains("Terraform 1.0 or newer"));
        assert!(negotiate(Some("")).is_err());
    }

    #[test]
    fn handshake_line_has_six_fields_and_unpadded_base64() {
        assert_eq!(
            handshake_line(6, "unix", "/tmp/p/s.sock", None),
            "1|6|unix|/tmp/p/s.sock|grpc|"
        );
        let line = handshake_line(6, "unix", "/s", Some(&[0xff, 0xfe]));
        assert_eq!(line, "1|6|unix|/s|grpc|//4");
        assert_eq!(line.split('|').count(), 6);
    }

    #[test]
    fn tls_config_pins_the_client_certificate() {
        // A P-384 certificate standing in for Terraform's (rcgen cannot make P-521 with ring).
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let client = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (config, der) = server_tls(&client.pem()).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
        assert!(!der.is_empty());
        let verifier = PinnedClient::new(
            CertificateDer::from(client.der().to_vec()),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .unwrap();
        assert!(verifier
            .verify_client_cert(
                &CertificateDer::from(client.der().to_vec()),
                &[],
                UnixTime::now()
            )
            .is_ok());
        let other = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert!(
            verifier
                .verify_client_cert(
                    &CertificateDer::from(other.der().to_vec()),
                    &[],
                    UnixTime::now()
                )
                .is_err(),
            "another certificate, even with the same key"
        );
        assert!(verifier
            .supported_verify_schemes()
            .contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
        assert!(server_tls("not pem")
            .unwrap_err()
            .to_string()
            .contains("PLUGIN_CLIENT_CERT"));
    }
}
