//! Google Artifact Registry / Container Registry with a service-account key (SPEC §6.4): a
//! Secret holding `gcpServiceAccountKey` (base64 of the key's JSON) yields a one-hour access
//! token through the OAuth 2.0 JWT-bearer grant. The key never leaves the machine: only a
//! JWT signed with it does.
//!
//! Recognition looks at the registry host only: `<location>-docker.pkg.dev`, `gcr.io`,
//! `<region>.gcr.io`.

use base64::Engine as _;
use serde::Deserialize;

use super::{MintPlan, ProviderError, ProviderKind, ProviderRequest, Selection};
use crate::secret::{CredType, Secret};
use crate::sensitive::Sensitive;

pub const KEY: &str = "gcpServiceAccountKey";
pub const USERNAME: &str = "oauth2accesstoken";
pub const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Artifact Registry (`*-docker.pkg.dev`) or Container Registry (`gcr.io`, `*.gcr.io`).
pub fn recognize(host: &str) -> bool {
    let host = host.split(':').next().unwrap_or(host);
    let artifact_registry = host
        .strip_suffix("-docker.pkg.dev")
        .is_some_and(|location| !location.is_empty() && !location.contains('.'));
    artifact_registry
        || host == "gcr.io"
        || host
            .strip_suffix(".gcr.io")
            .is_some_and(|region| !region.is_empty())
}

/// What the token request needs from the key.
#[derive(Debug, Clone, PartialEq)]
pub struct GarPlan {
    /// The key's fields; checked when minting (a key without them cannot sign).
    pub client_email: Option<String>,
    pub private_key_id: Option<String>,
    pub private_key: Option<Sensitive<String>>,
    /// The key's `token_uri`, Google's own when the key names none.
    pub token_uri: String,
    pub registry: String,
}

/// Where Google's libraries send the grant when a key names no `token_uri`.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

#[derive(Deserialize)]
struct KeyFile {
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
}

pub fn select(
    secret: &Secret,
    request: &ProviderRequest<'_>,
) -> Result<Option<Selection>, ProviderError> {
    if !matches!(request.cred_type, CredType::Image | CredType::Helm) || !secret.has_key(KEY) {
        return Ok(None);
    }
    let Some(registry) = request.registry.filter(|host| recognize(host)) else {
        return Ok(None);
    };
    let malformed = |reason: String| ProviderError::Malformed {
        secret: secret.id(),
        reason,
    };
    let encoded = secret.text(KEY)?.unwrap_or_default();
    let compact: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let json = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| {
            malformed(format!(
                "{KEY} is not base64 (it must be the base64 encoding of the key's JSON)"
            ))
        })?;
    let key: KeyFile = serde_json::from_slice(&json).map_err(|_| {
        malformed(format!(
            "{KEY} does not decode to a service-account key JSON"
        ))
    })?;
    let token_uri = key
        .token_uri
        .filter(|uri| !uri.is_empty())
        .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
    check_token_uri(&token_uri).map_err(malformed)?;
    Ok(Some(Selection::Mint {
        provider: ProviderKind::GarServiceAccountKey,
        plan: Box::new(MintPlan::Gar(GarPlan {
            client_email: key.client_email.filter(|v| !v.is_empty()),
            private_key_id: key.private_key_id.filter(|v| !v.is_empty()),
            private_key: key
                .private_key
                .filter(|v| !v.is_empty())
                .map(Sensitive::new),
            token_uri,
            registry: registry.to_owned(),
        })),
    }))
}

/// The assertion travels only to an `https` token endpoint, or to this machine (tests).
fn check_token_uri(token_uri: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(token_uri)
        .map_err(|_| format!("its token_uri {token_uri:?} is not a URL"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        Ok(())
    } else {
        Err(format!("its token_uri {token_uri} is not https"))
    }
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct OauthError {
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GarError(pub String);

/// The signed assertion: RS256, `kid` = the key's ID, `iss` = its email, `aud` = its
/// token endpoint, the read-only storage scope, one hour.
pub fn assertion(plan: &GarPlan, now: i64) -> Result<Sensitive<String>, GarError> {
    let missing = |name: &str| GarError(format!("the service-account key has no {name}"));
    let private_key = plan
        .private_key
        .as_ref()
        .ok_or_else(|| missing("private_key"))?;
    let client_email = plan
        .client_email
        .as_deref()
        .ok_or_else(|| missing("client_email"))?;
    let private_key_id = plan
        .private_key_id
        .clone()
        .ok_or_else(|| missing("private_key_id"))?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key.expose().as_bytes()).map_err(
        |error| {
            GarError(format!(
                "the service-account key's private_key is not an RSA key in PEM form: {error}"
            ))
        },
    )?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(private_key_id);
    let claims = Claims {
        iss: client_email,
        scope: SCOPE,
        aud: &plan.token_uri,
        iat: now,
        exp: now + 3600,
    };
    jsonwebtoken::encode(&header, &claims, &key)
        .map(Sensitive::new)
        .map_err(|error| GarError(format!("signing the JWT-bearer assertion: {error}")))
}

/// Exchanges the assertion for an access token at the key's `token_uri`.
pub async fn mint(
    client: &reqwest::Client,
    plan: &GarPlan,
    now: i64,
) -> Result<(Sensitive<String>, i64), GarError> {
    let assertion = assertion(plan, now)?;
    let url = &plan.token_uri;
    let body = format!(
        "grant_type={}&assertion={}",
        form_escape(GRANT_TYPE),
        form_escape(assertion.expose())
    );
    let response = client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|error| {
            GarError(format!(
                "POST {url}: {}",
                crate::net::describe_http_error(&error)
            ))
        })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail = serde_json::from_str::<OauthError>(&text)
            .ok()
            .map(|e| {
                format!(
                    "{} {}",
                    e.error.unwrap_or_default(),
                    e.error_description.unwrap_or_default()
                )
            })
            .unwrap_or_default();
        return Err(GarError(
            format!("POST {url}: {status} {}", detail.trim())
                .trim_end()
                .to_owned(),
        ));
    }
    let answer: TokenAnswer = serde_json::from_str(&text)
        .map_err(|_| GarError(format!("POST {url}: the answer holds no access_token")))?;
    Ok((
        Sensitive::new(answer.access_token),
        now + answer.expires_in.unwrap_or(3600),
    ))
}

/// `application/x-www-form-urlencoded` for ASCII values.
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
    fn recognizes_google_registries_by_host() {
        for host in [
            "us-central1-docker.pkg.dev",
            "europe-docker.pkg.dev",
            "gcr.io",
            "eu.gcr.io",
        ] {
            assert!(recognize(host), "{host}");
        }
        for host in [
            "docker.pkg.dev",
            "ghcr.io",
            "evil.example",
            "mygcr.io",
            "x.y-docker.pkg.dev",
        ] {
            assert!(!recognize(host), "{host}");
        }
    }

    #[test]
    fn token_uri_must_be_https_or_loopback() {
        assert!(check_token_uri("https://oauth2.googleapis.com/token").is_ok());
        assert!(check_token_uri("http://127.0.0.1:8080/token").is_ok());
        assert!(check_token_uri("http://evil.example/token").is_err());
        assert!(check_token_uri("not a url").is_err());
    }
}
