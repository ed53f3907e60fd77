//! Ambient identities (SPEC §6.5): when no Secret matched, the machine's own cloud
//! identity may still log in to its cloud's registry. Detected from the environment only —
//! a machine with none of them pays nothing, and no metadata server is probed.
//!
//! Built so far: Azure Workload Identity → Entra token → ACR refresh token.

use serde::Deserialize;

use super::{MintPlan, ProviderKind, Selection};
use crate::secret::CredType;
use crate::sensitive::Sensitive;

/// The username ACR refresh tokens go with.
pub const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";
pub const ACR_SCOPE: &str = "https://containerregistry.azure.net/.default";
/// How long an ACR refresh token is cached when it does not say (they live ~3 h).
pub const ACR_DEFAULT_LIFETIME_SECONDS: i64 = 150 * 60;
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/";

/// Azure Workload Identity, as the AKS webhook injects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureWorkloadIdentity {
    pub client_id: String,
    pub tenant_id: String,
    pub token_file: String,
    pub authority_host: String,
}

/// The ambient identities this machine has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AmbientEnv {
    pub azure: Option<AzureWorkloadIdentity>,
    /// `KARGO_CREDS_ACR_ENDPOINT`: the base URL of the ACR token exchange.
    pub acr_endpoint: Option<String>,
}

impl AmbientEnv {
    /// Reads the environment (through `env`, for tests).
    pub fn detect(env: &dyn Fn(&str) -> Option<String>) -> AmbientEnv {
        let value = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let azure = match (
            value("AZURE_CLIENT_ID"),
            value("AZURE_TENANT_ID"),
            value("AZURE_FEDERATED_TOKEN_FILE"),
        ) {
            (Some(client_id), Some(tenant_id), Some(token_file)) => Some(AzureWorkloadIdentity {
                client_id,
                tenant_id,
                token_file,
                authority_host: value("AZURE_AUTHORITY_HOST")
                    .unwrap_or_else(|| DEFAULT_AUTHORITY.to_owned()),
            }),
            _ => None,
        };
        AmbientEnv {
            azure,
            acr_endpoint: value("KARGO_CREDS_ACR_ENDPOINT"),
        }
    }
}

/// `<name>.azurecr.io`: the registry's name.
pub fn acr_name(host: &str) -> Option<&str> {
    let name = host.strip_suffix(".azurecr.io")?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then_some(name)
}

/// What an ACR login through Azure Workload Identity needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcrPlan {
    /// The registry host, `<name>.azurecr.io`.
    pub registry: String,
    pub identity: AzureWorkloadIdentity,
    /// Where to exchange: `https://<registry>` unless `KARGO_CREDS_ACR_ENDPOINT`.
    pub exchange_base: String,
}

impl AcrPlan {
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.identity.authority_host.trim_end_matches('/'),
            self.identity.tenant_id
        )
    }

    pub fn exchange_url(&self) -> String {
        format!(
            "{}/oauth2/exchange",
            self.exchange_base.trim_end_matches('/')
        )
    }
}

/// The ambient provider for an image or helm request on `registry`, when this machine has
/// one for that cloud. Called only when no Secret matched.
pub fn select(cred_type: CredType, registry: Option<&str>, env: &AmbientEnv) -> Option<Selection> {
    if !matches!(cred_type, CredType::Image | CredType::Helm) {
        return None;
    }
    let registry = registry?;
    if let (Some(_), Some(identity)) = (acr_name(registry), &env.azure) {
        return Some(Selection::Mint {
            provider: ProviderKind::AcrWorkloadIdentity,
            plan: Box::new(MintPlan::Acr(AcrPlan {
                registry: registry.to_owned(),
                identity: identity.clone(),
                exchange_base: env
                    .acr_endpoint
                    .clone()
                    .unwrap_or_else(|| format!("https://{registry}")),
            })),
        });
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AmbientError(pub String);

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
}

#[derive(Deserialize)]
struct RefreshToken {
    refresh_token: String,
}

/// Azure Workload Identity → Entra access token for ACR → ACR refresh token.
pub async fn mint_acr(
    client: &reqwest::Client,
    plan: &AcrPlan,
    now: i64,
) -> Result<(Sensitive<String>, i64), AmbientError> {
    let identity = &plan.identity;
    let assertion = std::fs::read_to_string(&identity.token_file).map_err(|error| {
        AmbientError(format!(
            "reading AZURE_FEDERATED_TOKEN_FILE {}: {error}",
            identity.token_file
        ))
    })?;
    let token_url = plan.token_url();
    let form = [
        ("client_id", identity.client_id.as_str()),
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion.trim()),
        ("scope", ACR_SCOPE),
    ];
    let entra: AccessToken = post_form(client, &token_url, &form).await?;
    let exchange_url = plan.exchange_url();
    let form = [
        ("grant_type", "access_token"),
        ("service", plan.registry.as_str()),
        ("tenant", identity.tenant_id.as_str()),
        ("access_token", entra.access_token.as_str()),
    ];
    let acr: RefreshToken = post_form(client, &exchange_url, &form).await?;
    let expires_at = jwt_expiry(&acr.refresh_token).unwrap_or(now + ACR_DEFAULT_LIFETIME_SECONDS);
    Ok((Sensitive::new(acr.refresh_token), expires_at))
}

async fn post_form<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<T, AmbientError> {
    let body = form
        .iter()
        .map(|(key, value)| format!("{}={}", form_escape(key), form_escape(value)))
        .collect::<Vec<_>>()
        .join("&");
    let response = client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|error| {
            AmbientError(format!(
                "POST {url}: {}",
                crate::net::describe_http_error(&error)
            ))
        })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        #[derive(Deserialize)]
        struct OauthError {
            error: Option<String>,
            error_description: Option<String>,
        }
        let detail = serde_json::from_str::<OauthError>(&text)
            .ok()
            .map(|e| {
                format!(
                    "{} {}",
                    e.error.unwrap_or_default(),
                    first_line(&e.error_description.unwrap_or_default())
                )
            })
            .unwrap_or_default();
        return Err(AmbientError(
            format!("POST {url}: {status} {}", detail.trim())
                .trim_end()
                .to_owned(),
        ));
    }
    serde_json::from_str(&text)
        .map_err(|_| AmbientError(format!("POST {url}: the answer is not the expected token")))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// The `exp` claim of a JWT, read without verifying it (only to know how long to cache).
fn jwt_expiry(token: &str) -> Option<i64> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?["exp"].as_i64()
}

fn form_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_names() {
        assert_eq!(acr_name("acme-prod-01.azurecr.io"), Some("acme-prod-01"));
        assert_eq!(acr_name("acmeprod.azurecr.cn"), None);
        assert_eq!(acr_name(".azurecr.io"), None);
        assert_eq!(acr_name("evil.example"), None);
    }

    #[test]
    fn detects_azure_only_when_all_three_variables_are_set() {
        let vars = |names: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                names
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let all = vars(&[
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
        ]);
        assert!(AmbientEnv::detect(&all).azure.is_some());
        let some = vars(&[("AZURE_CLIENT_ID", "c"), ("AZURE_TENANT_ID", "t")]);
        assert!(AmbientEnv::detect(&some).azure.is_none());
    }

    #[test]
    fn reads_a_jwt_expiry() {
        assert_eq!(
            jwt_expiry("e30.eyJleHAiOjE3MDAwMDAwMDB9.sig"),
            Some(1_700_000_000)
        );
        assert_eq!(jwt_expiry("opaque"), None);
    }
}
