//! Ambient identities (SPEC §6.5): when no Secret matched, the machine's own cloud
//! identity may still log in to its cloud's registry. Detected from the environment only —
//! a machine with none of them pays nothing, and no metadata server is probed.
//!
//! * AWS → ECR: access keys, IRSA or EKS Pod Identity, through the project's role ([`aws`]).
//! * GKE Workload Identity → Artifact Registry: the metadata server, impersonating the
//!   project's service account when it can.
//! * Azure Workload Identity → Entra token → ACR refresh token.

pub mod aws;

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

/// GKE Workload Identity: a metadata server the environment names (`GCE_METADATA_HOST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GkeWorkloadIdentity {
    /// `http://<GCE_METADATA_HOST>`.
    pub metadata_base: String,
    /// The GCP project, when the environment says (`GOOGLE_CLOUD_PROJECT`); else asked of
    /// the metadata server when minting.
    pub project: Option<String>,
    /// The IAM Credentials API (`KARGO_CREDS_GCP_IAM_CREDENTIALS_URL` overrides it).
    pub iam_credentials_base: String,
}

/// The ambient identities this machine has.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmbientEnv {
    pub aws: Option<aws::AwsIdentity>,
    pub azure: Option<AzureWorkloadIdentity>,
    pub gke: Option<GkeWorkloadIdentity>,
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
        let gke = value("GCE_METADATA_HOST").map(|host| GkeWorkloadIdentity {
            metadata_base: if host.contains("://") {
                host
            } else {
                format!("http://{host}")
            },
            project: value("GOOGLE_CLOUD_PROJECT"),
            iam_credentials_base: value("KARGO_CREDS_GCP_IAM_CREDENTIALS_URL")
                .unwrap_or_else(|| "https://iamcredentials.googleapis.com".to_owned()),
        });
        AmbientEnv {
            aws: aws::AwsIdentity::detect(&value),
            azure,
            gke,
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

/// What a GAR login through GKE Workload Identity needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GkePlan {
    pub registry: String,
    pub identity: GkeWorkloadIdentity,
    /// The Kargo project whose Google service account is impersonated, if any.
    pub kargo_project: Option<String>,
}

impl GkePlan {
    /// `kargo-project-<project>@<gcp project>.iam.gserviceaccount.com`.
    pub fn service_account(&self, gcp_project: &str) -> Option<String> {
        let project = self.kargo_project.as_deref()?;
        Some(format!(
            "kargo-project-{project}@{gcp_project}.iam.gserviceaccount.com"
        ))
    }
}

/// The scope of the impersonated and the workload's own tokens.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The ambient provider for an image or helm request on `registry`, when this machine has
/// one for that cloud. Called only when no Secret matched.
pub fn select(
    cred_type: CredType,
    registry: Option<&str>,
    kargo_project: Option<&str>,
    env: &AmbientEnv,
) -> Option<Selection> {
    if !matches!(cred_type, CredType::Image | CredType::Helm) {
        return None;
    }
    let registry = registry?;
    if let (Some(ecr_registry), Some(identity)) = (super::ecr::recognize(registry), &env.aws) {
        return Some(Selection::Mint {
            provider: ProviderKind::EcrManagedIdentity,
            plan: Box::new(MintPlan::EcrIdentity(aws::EcrIdentityPlan {
                registry: ecr_registry,
                identity: identity.clone(),
                kargo_project: kargo_project.map(str::to_owned),
            })),
        });
    }
    if let (true, Some(identity)) = (super::gar::recognize(registry), &env.gke) {
        return Some(Selection::Mint {
            provider: ProviderKind::GarWorkloadIdentity,
            plan: Box::new(MintPlan::Gke(GkePlan {
                registry: registry.to_owned(),
                identity: identity.clone(),
                kargo_project: kargo_project.map(str::to_owned),
            })),
        });
    }
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

#[derive(Deserialize)]
struct MetadataToken {
    access_token: String,
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImpersonatedToken {
    access_token: String,
    expire_time: Option<String>,
}

/// The workload's own token from the metadata server, then — with a Kargo project — the
/// project's Google service account impersonated with it; any failure of the impersonation
/// falls back to the workload's own token (as Kargo does).
pub async fn mint_gke(
    client: &reqwest::Client,
    plan: &GkePlan,
    now: i64,
) -> Result<(Sensitive<String>, i64), AmbientError> {
    let base = plan.identity.metadata_base.trim_end_matches('/');
    let metadata = |path: &str| {
        client
            .get(format!("{base}/computeMetadata/v1/{path}"))
            .header("Metadata-Flavor", "Google")
    };
    let token_url = format!("{base}/computeMetadata/v1/instance/service-accounts/default/token");
    let own: MetadataToken = read_json(
        metadata("instance/service-accounts/default/token")
            .send()
            .await,
        &token_url,
    )
    .await?;
    let own_expiry = now + own.expires_in.unwrap_or(3600);
    let project = match &plan.identity.project {
        Some(project) => Some(project.clone()),
        None => match metadata("project/project-id").send().await {
            Ok(response) if response.status().is_success() => {
                response.text().await.ok().map(|t| t.trim().to_owned())
            }
            _ => None,
        },
    };
    let Some(account) = project
        .as_deref()
        .and_then(|project| plan.service_account(project))
    else {
        return Ok((Sensitive::new(own.access_token), own_expiry));
    };
    let url = format!(
        "{}/v1/projects/-/serviceAccounts/{account}:generateAccessToken",
        plan.identity.iam_credentials_base.trim_end_matches('/')
    );
    let answer = client
        .post(&url)
        .bearer_auth(&own.access_token)
        .json(&serde_json::json!({ "scope": [CLOUD_PLATFORM_SCOPE] }))
        .send()
        .await;
    match read_json::<ImpersonatedToken>(answer, &url).await {
        Ok(token) => {
            let expiry = token
                .expire_time
                .as_deref()
                .and_then(crate::timefmt::parse_rfc3339)
                .unwrap_or(now + 3600);
            Ok((Sensitive::new(token.access_token), expiry))
        }
        Err(error) => {
            crate::info!(
                "not impersonating {account} ({error}); using the workload's own identity"
            );
            Ok((Sensitive::new(own.access_token), own_expiry))
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    answer: Result<reqwest::Response, reqwest::Error>,
    url: &str,
) -> Result<T, AmbientError> {
    let response = answer.map_err(|error| {
        AmbientError(format!(
            "{url}: {}",
            crate::net::describe_http_error(&error)
        ))
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(AmbientError(format!("{url}: {status}")));
    }
    response
        .json()
        .await
        .map_err(|_| AmbientError(format!("{url}: the answer is not the expected token")))
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
