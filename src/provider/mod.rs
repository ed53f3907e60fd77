//! Providers turn the matched Secret into credentials (SPEC §6).
//!
//! Each provider answers two questions: "do I support this Secret?" and "what are the
//! credentials?". Selection ([`select`]) is pure: it decides which provider serves the
//! Secret, validates the data, and says what would be minted — so that `resolve --explain`
//! and the test vectors can check the decision without a network. Minting itself happens
//! later, through the token cache.

pub mod ambient;
pub mod basic;
pub mod ecr;
pub mod gar;
pub mod github_app;
pub mod ssh;

use std::fmt;

use crate::secret::{CredType, Secret, ValueError};
use crate::sensitive::Sensitive;

/// The names the test vectors and `resolve -o json` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Basic,
    Ssh,
    GithubApp,
    EcrAccessKey,
    GarServiceAccountKey,
    EcrManagedIdentity,
    GarWorkloadIdentity,
    AcrWorkloadIdentity,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Basic => "basic",
            ProviderKind::Ssh => "ssh",
            ProviderKind::GithubApp => "githubApp",
            ProviderKind::EcrAccessKey => "ecrAccessKey",
            ProviderKind::GarServiceAccountKey => "garServiceAccountKey",
            ProviderKind::EcrManagedIdentity => "ecrManagedIdentity",
            ProviderKind::GarWorkloadIdentity => "garWorkloadIdentity",
            ProviderKind::AcrWorkloadIdentity => "acrWorkloadIdentity",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A username and password (or token) ready to hand to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    pub username: String,
    pub password: Sensitive<String>,
    /// Unix seconds; `None` for static credentials.
    pub expires_at: Option<i64>,
}

/// What the provider needs to know about the request besides the Secret.
#[derive(Debug, Clone, Copy)]
pub struct ProviderRequest<'a> {
    pub cred_type: CredType,
    /// The normalized request URL (for the docker protocol: the registry host).
    pub normalized_url: &'a str,
    pub project: Option<&'a str>,
    /// `KARGO_CREDS_GITHUB_API_URL`.
    pub github_api_url: Option<&'a str>,
    /// The registry host of an image or helm (OCI) request: what ECR, GAR and ACR
    /// recognition looks at (never a path).
    pub registry: Option<&'a str>,
}

/// A token to mint: what each minting provider decided, ready for the network.
#[derive(Debug, Clone, PartialEq)]
pub enum MintPlan {
    GithubApp(github_app::GithubAppPlan),
    Ecr(ecr::EcrPlan),
    EcrIdentity(ambient::aws::EcrIdentityPlan),
    Gar(gar::GarPlan),
    Acr(ambient::AcrPlan),
    Gke(ambient::GkePlan),
}

impl MintPlan {
    /// The fixed username that goes with the token.
    pub fn username(&self) -> &'static str {
        match self {
            MintPlan::GithubApp(_) => github_app::USERNAME,
            // ECR's user comes out of the token (always `AWS`).
            MintPlan::Ecr(_) | MintPlan::EcrIdentity(_) => "AWS",
            MintPlan::Gar(_) => gar::USERNAME,
            MintPlan::Acr(_) => ambient::ACR_USERNAME,
            MintPlan::Gke(_) => gar::USERNAME,
        }
    }

    /// What the token is for (`cache list`, docker `erase`).
    pub fn scope(&self) -> String {
        match self {
            MintPlan::GithubApp(plan) => plan.scope(),
            MintPlan::Ecr(plan) => plan.registry.host.clone(),
            MintPlan::EcrIdentity(plan) => plan.registry.host.clone(),
            MintPlan::Gar(plan) => plan.registry.clone(),
            MintPlan::Acr(plan) => plan.registry.clone(),
            MintPlan::Gke(plan) => plan.registry.clone(),
        }
    }

    /// What identifies the identity the token is minted from, hashed: the cache key
    /// never holds the key itself.
    pub fn identity_hash(&self) -> String {
        match self {
            MintPlan::GithubApp(plan) => crate::cache::identity_hash(&[
                plan.api_base.as_bytes(),
                plan.issuer.as_bytes(),
                plan.installation_id.to_string().as_bytes(),
                plan.private_key.expose(),
            ]),
            MintPlan::Ecr(plan) => crate::cache::identity_hash(&[
                plan.region.as_bytes(),
                plan.keys.access_key_id.as_bytes(),
                plan.keys.secret_access_key.expose().as_bytes(),
            ]),
            MintPlan::EcrIdentity(plan) => {
                let base = &plan.identity.base;
                let secret = match base {
                    ambient::aws::AwsBase::EnvironmentKeys(keys) => {
                        keys.secret_access_key.expose().as_bytes()
                    }
                    _ => b"",
                };
                crate::cache::identity_hash(&[
                    base.describe().as_bytes(),
                    secret,
                    plan.registry.account.as_bytes(),
                    plan.registry.region.as_bytes(),
                    plan.identity.session_name.as_bytes(),
                ])
            }
            MintPlan::Gar(plan) => crate::cache::identity_hash(&[
                plan.client_email.as_deref().unwrap_or_default().as_bytes(),
                plan.private_key_id
                    .as_deref()
                    .unwrap_or_default()
                    .as_bytes(),
                plan.private_key
                    .as_ref()
                    .map(|key| key.expose().as_bytes())
                    .unwrap_or_default(),
                plan.token_uri.as_bytes(),
            ]),
            MintPlan::Gke(plan) => crate::cache::identity_hash(&[
                plan.identity.metadata_base.as_bytes(),
                plan.identity
                    .project
                    .as_deref()
                    .unwrap_or_default()
                    .as_bytes(),
                plan.kargo_project.as_deref().unwrap_or_default().as_bytes(),
            ]),
            MintPlan::Acr(plan) => crate::cache::identity_hash(&[
                plan.identity.tenant_id.as_bytes(),
                plan.identity.client_id.as_bytes(),
                plan.identity.authority_host.as_bytes(),
                plan.exchange_base.as_bytes(),
            ]),
        }
    }
}

/// The outcome of provider selection for a matched Secret.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// No provider understands the Secret's data; `lacks` says what is missing.
    Unsupported { lacks: String },
    /// A provider took the Secret but will not serve this request.
    Declined {
        provider: ProviderKind,
        reason: String,
    },
    /// Credentials straight from the Secret.
    Static {
        provider: ProviderKind,
        credentials: Credentials,
    },
    /// An SSH private key: usable with `GIT_SSH_COMMAND`, not by credential helpers.
    SshKey { key: Sensitive<String> },
    /// A short-lived token to mint (or take from the cache).
    Mint {
        provider: ProviderKind,
        plan: Box<MintPlan>,
    },
}

impl Selection {
    pub fn provider(&self) -> Option<ProviderKind> {
        match self {
            Selection::Unsupported { .. } => None,
            Selection::Declined { provider, .. }
            | Selection::Static { provider, .. }
            | Selection::Mint { provider, .. } => Some(*provider),
            Selection::SshKey { .. } => Some(ProviderKind::Ssh),
        }
    }
}

/// A Secret that matched but cannot be used: names the Secret, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error("secret {secret}: {reason}")]
    Malformed { secret: String, reason: String },
}

/// Picks the first provider that supports the Secret, in Kargo's order: basic, ssh, then
/// the token providers.
pub fn select(secret: &Secret, request: &ProviderRequest<'_>) -> Result<Selection, ProviderError> {
    if let Some(selection) = basic::select(secret)? {
        return Ok(selection);
    }
    if let Some(selection) = ssh::select(secret)? {
        return Ok(selection);
    }
    if let Some(selection) = github_app::select(secret, request, request.github_api_url)? {
        return Ok(selection);
    }
    if let Some(selection) = ecr::select(secret, request)? {
        return Ok(selection);
    }
    if let Some(selection) = gar::select(secret, request)? {
        return Ok(selection);
    }
    Ok(Selection::Unsupported {
        lacks: describe_missing(secret),
    })
}

/// Explains, for a warning, why no provider took the Secret.
fn describe_missing(secret: &Secret) -> String {
    let has = |key: &str| secret.has_key(key);
    if secret.data.is_none() {
        "it has no data".into()
    } else if has("username") {
        "it has username but no password".into()
    } else if has("password") {
        "it has password but no username".into()
    } else if has("githubAppPrivateKey") || has("githubAppID") || has("githubAppClientID") {
        "it has GitHub App fields, but not all of githubAppClientID/githubAppID, githubAppInstallationID and githubAppPrivateKey, or the URL is not an http(s) repository".into()
    } else if has("awsAccessKeyID") || has("awsSecretAccessKey") {
        "it has AWS keys, but ECR access keys need awsRegion, awsAccessKeyID and awsSecretAccessKey and an image or helm ECR URL".into()
    } else if has("gcpServiceAccountKey") {
        "it has gcpServiceAccountKey, but the URL is not an Artifact Registry or Container Registry image".into()
    } else {
        "it has no username/password, sshPrivateKey, GitHub App, AWS or GCP key data".into()
    }
}
