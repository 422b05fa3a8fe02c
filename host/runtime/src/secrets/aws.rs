//! AWS Secrets Manager `GetSecretValue` through the official AWS SDK for Rust (`aws-config` and
//! `aws-sdk-secretsmanager`), so the whole standard credential chain applies: environment
//! variables, the shared config and credentials files (profiles, `credential_process`, SSO,
//! `AssumeRole` with `source_profile`), web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` +
//! `AWS_ROLE_ARN`: EKS, GitHub Actions OIDC), the ECS/EKS container credentials endpoint, and
//! EC2 instance metadata (IMDSv2; off with `AWS_EC2_METADATA_DISABLED=true`). TLS is rustls with
//! ring.
//!
//! Region: the source's `?region=`, else [`AwsOptions::region`], else the SDK's chain
//! (`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`). Endpoint: [`AwsOptions::endpoint`],
//! else the SDK's (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL`, the profile's
//! `endpoint_url`), else `https://secretsmanager.<region>.amazonaws.com`. The SDK's credential
//! providers that call STS (web identity, `AssumeRole`) take the environment's and profile's
//! endpoint settings (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`), not [`AwsOptions::endpoint`].

use super::{SecretError, SecretValue};
use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use std::time::Duration;

/// How the client finds AWS; every field falls back to the SDK's standard configuration.
#[derive(Clone, Debug, Default)]
pub struct AwsOptions {
    /// Endpoint override, e.g. `http://127.0.0.1:5000` for a local moto server.
    pub endpoint: Option<String>,
    /// Default region when a source names none.
    pub region: Option<String>,
    /// Profile in the shared files (else `AWS_PROFILE`, else `default`).
    pub profile: Option<String>,
}

/// A Secrets Manager client for one provider's `aws-sm:` sources. The SDK configuration (and
/// with it the credential chain and its cache) is loaded on first use: most providers never
/// ask AWS for anything.
pub struct SecretsManagerClient {
    options: AwsOptions,
    config: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

impl SecretsManagerClient {
    /// A client with the given options.
    pub fn new(options: AwsOptions) -> Self {
        SecretsManagerClient {
            options,
            config: tokio::sync::OnceCell::new(),
        }
    }

    /// The SDK configuration: the standard chains, with this client's overrides.
    async fn config(&self) -> &aws_config::SdkConfig {
        self.config
            .get_or_init(|| async {
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https();
                let timeouts = aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(30))
                    .build();
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .http_client(http)
                    .timeout_config(timeouts);
                if let Some(profile) = &self.options.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(region) = &self.options.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                if let Some(endpoint) = &self.options.endpoint {
                    loader = loader.endpoint_url(endpoint);
                }
                loader.load().await
            })
            .await
    }

    /// `GetSecretValue` of `secret_id`; returns its SecretString.
    pub async fn get_secret_value(
        &self,
        secret_id: &str,
        region: Option<&str>,
    ) -> Result<SecretValue, SecretError> {
        let config = self.config().await;
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(config);
        match region {
            Some(r) => builder = builder.region(aws_config::Region::new(r.to_string())),
            None if config.region().is_none() => {
                return Err(SecretError::NotFound(format!("no AWS region for secret {secret_id}: add ?region=… to the source, or set AWS_REGION or the profile's region")))
            }
            None => {}
        }
        let client = aws_sdk_secretsmanager::Client::from_conf(builder.build());
        let reply = client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| classify(secret_id, e))?;
        match reply.secret_string() {
            Some(s) => Ok(SecretValue::new(s)),
            None => Err(SecretError::NotFound(format!(
                "secret {secret_id} has no SecretString (binary secrets are not supported)"
            ))),
        }
    }
}

type GetError = SdkError<
    aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
    aws_sdk_secretsmanager::config::http::HttpResponse,
>;

/// A typed secret error for a failed `GetSecretValue` (the SDK's messages never hold a value).
fn classify(secret_id: &str, error: GetError) -> SecretError {
    match &error {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code =
                aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(e).unwrap_or("error");
            let message =
                aws_sdk_secretsmanager::error::ProvideErrorMetadata::message(e).unwrap_or("");
            let status = service.raw().status().as_u16();
            let what =
                format!("AWS Secrets Manager {code} for {secret_id} (HTTP {status}): {message}");
            if e.is_resource_not_found_exception()
                || e.is_invalid_request_exception()
                || e.is_invalid_parameter_exception()
            {
                SecretError::NotFound(what)
            } else if e.is_internal_service_error()
                || status >= 500
                || code == "ThrottlingException"
            {
                SecretError::Unavailable(what)
            } else {
                SecretError::Denied(what)
            }
        }
        _ => {
            let context = DisplayErrorContext(&error).to_string();
            let lower = context.to_ascii_lowercase();
            if lower.contains("credentials") || lower.contains("identity") {
                SecretError::Denied(format!(
                    "no AWS credentials for secret {secret_id}: {context} (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile in ~/.aws, web identity, or run where container or instance credentials exist)"
                ))
            } else {
                SecretError::Unavailable(format!("AWS Secrets Manager for {secret_id}: {context}"))
            }
        }
    }
}
