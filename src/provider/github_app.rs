//! GitHub App installation tokens (SPEC §6.1): a Secret holding an App's ID (or client ID),
//! installation ID and private key yields a one-hour token for exactly the requested
//! repository.
//!
//! [`select`] decides without a network: which App, which installation, which repository,
//! whether the scope annotation allows the project, and where to mint. [`mint`] signs the
//! App's JWT, asks GitHub for the token, and waits until the token works (GitHub replicates
//! new tokens with a delay). Caching is the caller's: see `crate::cache`.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::{ProviderError, ProviderKind, ProviderRequest, Selection};
use crate::secret::{CredType, Secret};
use crate::sensitive::Sensitive;

pub const CLIENT_ID: &str = "githubAppClientID";
pub const APP_ID: &str = "githubAppID";
pub const INSTALLATION_ID: &str = "githubAppInstallationID";
pub const PRIVATE_KEY: &str = "githubAppPrivateKey";
/// JSON map of project → repository names the project may get tokens for.
pub const SCOPES_ANNOTATION: &str = "kargo.akuity.io/github-token-scopes";
/// The username git sends with an installation token.
pub const USERNAME: &str = "x-access-token";
/// Overrides the API base for every GitHub host (tests, proxies).
pub const API_URL_VARIABLE: &str = "KARGO_CREDS_GITHUB_API_URL";
/// The waits between validation attempts after a mint.
pub const VALIDATION_WAITS: [Duration; 3] = [
    Duration::from_secs(3),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// How the private key was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyInput {
    AsIs,
    Base64Decoded,
}

impl KeyInput {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyInput::AsIs => "as-is",
            KeyInput::Base64Decoded => "base64-decoded",
        }
    }
}

/// Everything a mint needs, decided from the Secret and the request.
#[derive(Debug, Clone, PartialEq)]
pub struct GithubAppPlan {
    /// The JWT's `iss`: the client ID when the Secret has one, else the App ID.
    pub issuer: String,
    pub installation_id: i64,
    pub private_key: Sensitive<Vec<u8>>,
    pub key_input: KeyInput,
    /// `https://api.github.com`, `https://<host>/api/v3`, `https://api.<tenant>.ghe.com`.
    pub api_base: String,
    pub host: String,
    pub owner: String,
    pub repository: String,
}

impl GithubAppPlan {
    pub fn mint_url(&self) -> String {
        format!(
            "{}/app/installations/{}/access_tokens",
            self.api_base, self.installation_id
        )
    }

    pub fn validation_url(&self) -> String {
        format!("{}/repos/{}/{}", self.api_base, self.owner, self.repository)
    }

    /// What the token is for, as `cache list` shows it: `github.com/owner/repo`.
    pub fn scope(&self) -> String {
        format!("{}/{}/{}", self.host, self.owner, self.repository)
    }
}

/// Takes a `git` Secret with an App ID or client ID, an installation ID and a key, for an
/// `http(s)` URL. `api_override` is `KARGO_CREDS_GITHUB_API_URL`.
pub fn select(
    secret: &Secret,
    request: &ProviderRequest<'_>,
    api_override: Option<&str>,
) -> Result<Option<Selection>, ProviderError> {
    let text = |key: &str| {
        secret
            .trimmed_text(key)
            .map(|value| value.unwrap_or_default().trim().to_owned())
    };
    let (client_id, app_id) = (text(CLIENT_ID)?, text(APP_ID)?);
    let installation = text(INSTALLATION_ID)?;
    let key = secret.text(PRIVATE_KEY)?.unwrap_or_default();
    let url = request.normalized_url;
    let supported = request.cred_type == CredType::Git
        && (url.starts_with("https://") || url.starts_with("http://"))
        && !(client_id.is_empty() && app_id.is_empty())
        && !installation.is_empty()
        && !key.trim().is_empty();
    if !supported {
        return Ok(None);
    }
    let decline = |reason: String| {
        Ok(Some(Selection::Declined {
            provider: ProviderKind::GithubApp,
            reason,
        }))
    };
    // `https:`, ``, host, owner, repository: Kargo's rule for "names a repository".
    let parts: Vec<&str> = url.split('/').collect();
    if parts.len() < 5 || parts[parts.len() - 1].is_empty() {
        return decline(format!(
            "{url} names no repository (a GitHub App token is minted for one repository)"
        ));
    }
    let repository = parts[parts.len() - 1].to_owned();
    let owner = parts[parts.len() - 2].to_owned();
    let host = parts[2].to_owned();

    if let Some(denial) = scope_denial(secret, request.project, &repository)? {
        return decline(denial);
    }
    let installation_id: i64 = installation.parse().map_err(|_| ProviderError::Malformed {
        secret: secret.id(),
        reason: format!("error parsing installation ID {installation:?}: not a number"),
    })?;
    let (private_key, key_input) = decode_key(secret, key)?;
    Ok(Some(Selection::Mint {
        provider: ProviderKind::GithubApp,
        plan: Box::new(super::MintPlan::GithubApp(GithubAppPlan {
            issuer: if client_id.is_empty() {
                app_id
            } else {
                client_id
            },
            installation_id,
            private_key,
            key_input,
            api_base: api_base(&host, api_override),
            host,
            owner,
            repository,
        })),
    }))
}

/// The API base for a host: github.com → api.github.com; `*.ghe.com` (Enterprise Cloud
/// with data residency) → `api.<host>`; any other host is Enterprise Server →
/// `https://<host>/api/v3`. Always https, whatever the repository URL's scheme: the App's
/// JWT can mint tokens for every repository of the installation, and plain http for a
/// repository (`KARGO_CREDS_ALLOW_HTTP`) says nothing about the API.
pub fn api_base(host: &str, api_override: Option<&str>) -> String {
    if let Some(base) = api_override.map(str::trim).filter(|base| !base.is_empty()) {
        return base.trim_end_matches('/').to_owned();
    }
    let bare_host = host.split(':').next().unwrap_or(host);
    if bare_host == "github.com" {
        "https://api.github.com".to_owned()
    } else if bare_host.ends_with(".ghe.com") {
        format!("https://api.{host}")
    } else {
        format!("https://{host}/api/v3")
    }
}

/// `Some(reason)` when the scope annotation exists and does not give this project this
/// repository. Repository names compare case-insensitively, as GitHub's do.
fn scope_denial(
    secret: &Secret,
    project: Option<&str>,
    repository: &str,
) -> Result<Option<String>, ProviderError> {
    let Some(annotation) = secret
        .annotations
        .get(SCOPES_ANNOTATION)
        .filter(|a| !a.trim().is_empty())
    else {
        return Ok(None);
    };
    let scopes: BTreeMap<String, Option<Vec<String>>> =
        serde_json::from_str(annotation).map_err(|error| ProviderError::Malformed {
            secret: secret.id(),
            reason: format!(
                "error unmarshaling scope map in annotation {SCOPES_ANNOTATION}: {error} (expected {{\"project\": [\"repo\", …]}})"
            ),
        })?;
    let allowed = project
        .and_then(|project| scopes.get(project))
        .and_then(Option::as_ref)
        .is_some_and(|repositories| {
            repositories
                .iter()
                .any(|r| r.eq_ignore_ascii_case(repository))
        });
    Ok((!allowed).then(|| match project {
        Some(project) => format!(
            "the {SCOPES_ANNOTATION} annotation of secret {} does not give project {project} repository {repository}",
            secret.id()
        ),
        None => format!(
            "secret {} limits its tokens to projects ({SCOPES_ANNOTATION}) and no project is set",
            secret.id()
        ),
    }))
}

/// The key as PEM: stored as PEM, or (the legacy form) as base64 of the PEM. Text made only
/// of base64 characters that does not decode is a corrupt key, not a PEM.
fn decode_key(secret: &Secret, key: &str) -> Result<(Sensitive<Vec<u8>>, KeyInput), ProviderError> {
    let compact: String = key.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
        return Ok((Sensitive::new(decoded), KeyInput::Base64Decoded));
    }
    let body = compact.trim_end_matches('=');
    let only_base64 = compact.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if only_base64 {
        return Err(ProviderError::Malformed {
            secret: secret.id(),
            reason: format!(
                "{PRIVATE_KEY}: probable corrupt base64 encoding of private key (store the PEM text itself; base64 is no longer needed)"
            ),
        });
    }
    Ok((Sensitive::new(key.as_bytes().to_vec()), KeyInput::AsIs))
}

/// A token as GitHub answered it.
#[derive(Debug, Clone)]
pub struct InstallationToken {
    pub token: Sensitive<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Why minting failed: one line, naming the endpoint, never the token or key; and when
/// GitHub asked to be asked again, if it said (`Retry-After`, or a rate limit's reset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MintError {
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl MintError {
    fn new(message: String) -> MintError {
        MintError {
            message,
            retry_after: None,
        }
    }
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iat: i64,
    exp: i64,
    iss: &'a str,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
    expires_at: Option<String>,
}

#[derive(Deserialize)]
struct GithubMessage {
    message: Option<String>,
}

/// The App's JWT: RS256, `iat` 60 s in the past (clock skew), `exp` 10 minutes after `iat`.
pub fn app_jwt(plan: &GithubAppPlan, now: i64) -> Result<Sensitive<String>, MintError> {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(plan.private_key.expose()).map_err(|error| {
            MintError::new(format!(
                "{PRIVATE_KEY} is not an RSA private key in PEM form (PKCS#1 or PKCS#8): {error}"
            ))
        })?;
    let iat = now - 60;
    let claims = Claims {
        iat,
        exp: iat + 600,
        iss: &plan.issuer,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map(Sensitive::new)
    .map_err(|error| MintError::new(format!("signing the GitHub App JWT: {error}")))
}

/// Mints an installation token for the plan's repository and waits (up to `waits`) until
/// GitHub accepts it.
pub async fn mint(
    client: &reqwest::Client,
    plan: &GithubAppPlan,
    now: i64,
    waits: &[Duration],
) -> Result<InstallationToken, MintError> {
    let jwt = app_jwt(plan, now)?;
    let url = plan.mint_url();
    let response = client
        .post(&url)
        .bearer_auth(jwt.expose())
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .json(&serde_json::json!({ "repositories": [plan.repository] }))
        .send()
        .await
        .map_err(|error| {
            MintError::new(format!(
                "POST {url}: {}",
                crate::net::describe_http_error(&error)
            ))
        })?;
    let status = response.status();
    if !status.is_success() {
        let (refusal, retry_after) = describe_refusal(response, now).await;
        return Err(MintError {
            message: format!("POST {url}: {refusal}"),
            retry_after,
        });
    }
    let answer: TokenAnswer = response
        .json()
        .await
        .map_err(|error| MintError::new(format!("POST {url}: unreadable answer: {error}")))?;
    let expires_at = answer
        .expires_at
        .as_deref()
        .and_then(crate::timefmt::parse_rfc3339)
        .unwrap_or(now + 3600);
    let token = InstallationToken {
        token: Sensitive::new(answer.token),
        expires_at,
    };
    wait_until_usable(client, plan, &token, waits).await;
    Ok(token)
}

/// GitHub replicates a new token with a delay: 401 (sometimes 403 or 404) means "not yet".
/// After the last wait the token is handed out anyway.
async fn wait_until_usable(
    client: &reqwest::Client,
    plan: &GithubAppPlan,
    token: &InstallationToken,
    waits: &[Duration],
) {
    let url = plan.validation_url();
    for attempt in 0..=waits.len() {
        let answer = client
            .get(&url)
            .bearer_auth(token.token.expose())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => return,
            Ok(response) => crate::debug!(
                "GET {url}: {} (the new token is not usable yet)",
                response.status()
            ),
            Err(error) => crate::debug!("GET {url}: {}", crate::net::describe_http_error(&error)),
        }
        match waits.get(attempt) {
            Some(wait) => tokio::time::sleep(*wait).await,
            None => crate::info!(
                "the token for {} is still not accepted by {url}; handing it out anyway",
                plan.scope()
            ),
        }
    }
}

/// GitHub's refusal in one line: status, its message, and when to retry (also returned:
/// `Retry-After` in seconds, or the time until an exhausted rate limit resets).
async fn describe_refusal(response: reqwest::Response, now: i64) -> (String, Option<Duration>) {
    let status = response.status();
    let headers = response.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let message = response
        .json::<GithubMessage>()
        .await
        .ok()
        .and_then(|body| body.message)
        .unwrap_or_default();
    let mut text = format!("{status}");
    let mut retry_after = None;
    if !message.is_empty() {
        text.push_str(&format!(": {message}"));
    }
    if let Some(retry) = header("retry-after") {
        text.push_str(&format!(" (retry after {retry} s)"));
        retry_after = retry.trim().parse::<u64>().ok().map(Duration::from_secs);
    } else if header("x-ratelimit-remaining").as_deref() == Some("0") {
        if let Some(reset) = header("x-ratelimit-reset").and_then(|r| r.parse::<i64>().ok()) {
            text.push_str(&format!(
                " (rate limit resets at {})",
                crate::timefmt::rfc3339(reset)
            ));
            retry_after = u64::try_from(reset.saturating_sub(now))
                .ok()
                .map(Duration::from_secs);
        }
    }
    match status.as_u16() {
        401 => text.push_str(
            " — is the App ID/client ID right, the key the App's, and the clock correct?",
        ),
        404 => text.push_str(" — is the installation ID right, and the App installed there?"),
        422 => text.push_str(" — is the repository among those the installation may access?"),
        _ => {}
    }
    (text, retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_bases() {
        assert_eq!(api_base("github.com", None), "https://api.github.com");
        assert_eq!(api_base("acme.ghe.com", None), "https://api.acme.ghe.com");
        assert_eq!(
            api_base("github.example.com", None),
            "https://github.example.com/api/v3"
        );
        assert_eq!(
            api_base("github.com", Some("http://127.0.0.1:9/")),
            "http://127.0.0.1:9"
        );
    }
}
