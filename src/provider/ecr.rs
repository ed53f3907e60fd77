//! Amazon ECR with an access key (SPEC §6.3): a Secret holding `awsRegion`,
//! `awsAccessKeyID` and `awsSecretAccessKey` yields a 12-hour registry password from a
//! SigV4-signed `GetAuthorizationToken`.
//!
//! Recognition looks at the registry *host* only: `<12 digits>.dkr.ecr.<region>.amazonaws.com`
//! (or `.amazonaws.com.cn`). Signing is `aws-sigv4`'s, not ours.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use base64::Engine as _;
use serde::Deserialize;

use super::{MintPlan, ProviderError, ProviderKind, ProviderRequest, Selection};
use crate::secret::{CredType, Secret};
use crate::sensitive::Sensitive;

pub const REGION: &str = "awsRegion";
pub const ACCESS_KEY_ID: &str = "awsAccessKeyID";
pub const SECRET_ACCESS_KEY: &str = "awsSecretAccessKey";
const TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// An ECR registry host's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrRegistry {
    pub account: String,
    pub region: String,
    pub host: String,
    /// The China partition (`amazonaws.com.cn`).
    pub china: bool,
}

/// `<12 digits>.dkr.ecr.<region>.amazonaws.com[.cn]`, the host alone (a port or path is not
/// part of it).
pub fn recognize(host: &str) -> Option<EcrRegistry> {
    let (rest, china) = match host.strip_suffix(".amazonaws.com.cn") {
        Some(rest) => (rest, true),
        None => (host.strip_suffix(".amazonaws.com")?, false),
    };
    let (account, region) = rest.split_once(".dkr.ecr.")?;
    let valid_region = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && valid_region).then(
        || EcrRegistry {
            account: account.to_owned(),
            region: region.to_owned(),
            host: host.to_owned(),
            china,
        },
    )
}

/// What a `GetAuthorizationToken` call needs.
#[derive(Debug, Clone, PartialEq)]
pub struct EcrPlan {
    pub registry: EcrRegistry,
    /// The region to call: the Secret's `awsRegion` (as Kargo does), not the URL's.
    pub region: String,
    pub keys: AwsKeys,
}

/// AWS credentials: long-lived keys, or temporary ones with a session token.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsKeys {
    pub access_key_id: String,
    pub secret_access_key: Sensitive<String>,
    pub session_token: Option<Sensitive<String>>,
}

pub fn select(
    secret: &Secret,
    request: &ProviderRequest<'_>,
) -> Result<Option<Selection>, ProviderError> {
    let has_keys = [REGION, ACCESS_KEY_ID, SECRET_ACCESS_KEY]
        .iter()
        .all(|key| secret.has_key(key));
    if !matches!(request.cred_type, CredType::Image | CredType::Helm) || !has_keys {
        return Ok(None);
    }
    let Some(registry) = request.registry.and_then(recognize) else {
        return Ok(None);
    };
    let value = |key: &str| -> Result<String, ProviderError> {
        let value = secret
            .emittable_text(key)?
            .unwrap_or_default()
            .trim()
            .to_owned();
        if value.is_empty() {
            return Err(ProviderError::Malformed {
                secret: secret.id(),
                reason: format!("{key} is empty"),
            });
        }
        Ok(value)
    };
    Ok(Some(Selection::Mint {
        provider: ProviderKind::EcrAccessKey,
        plan: Box::new(MintPlan::Ecr(EcrPlan {
            region: value(REGION)?,
            keys: AwsKeys {
                access_key_id: value(ACCESS_KEY_ID)?,
                secret_access_key: Sensitive::new(value(SECRET_ACCESS_KEY)?),
                session_token: None,
            },
            registry,
        })),
    }))
}

/// The ECR API endpoint: `AWS_ENDPOINT_URL_ECR`, else `AWS_ENDPOINT_URL`, else the
/// region's public one.
pub fn endpoint(
    region: &str,
    china: bool,
    ecr_override: Option<&str>,
    general_override: Option<&str>,
) -> String {
    match ecr_override
        .or(general_override)
        .map(str::trim)
        .filter(|url| !url.is_empty())
    {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None if china => format!("https://api.ecr.{region}.amazonaws.com.cn"),
        None => format!("https://api.ecr.{region}.amazonaws.com"),
    }
}

/// A registry login.
#[derive(Debug, Clone)]
pub struct RegistryLogin {
    pub username: String,
    pub password: Sensitive<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A failed AWS call; `denied` when AWS refused the identity (HTTP 403 or an
/// `AccessDenied…` code) rather than failing — the one failure that lets an ambient
/// identity move on to its next attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EcrError {
    pub message: String,
    pub denied: bool,
}

impl EcrError {
    pub fn new(message: String) -> EcrError {
        EcrError {
            message,
            denied: false,
        }
    }
}

/// Whether an AWS error answer means "this identity may not", not "this failed".
pub fn is_denial(status: u16, detail: &str) -> bool {
    status == 403 || detail.starts_with("AccessDenied")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer {
    authorization_data: Vec<AuthorizationData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorizationData {
    authorization_token: String,
    expires_at: Option<f64>,
}

#[derive(Deserialize)]
struct AwsError {
    #[serde(rename = "__type")]
    kind: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// Calls `GetAuthorizationToken` in `region`, SigV4-signed with `keys`.
pub async fn get_authorization_token(
    client: &reqwest::Client,
    keys: &AwsKeys,
    region: &str,
    endpoint: &str,
) -> Result<RegistryLogin, EcrError> {
    let url = format!("{endpoint}/");
    let body = b"{}".to_vec();
    let host = host_header(&url)?;
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", TARGET),
    ];
    let signed = sign_request(keys, region, "ecr", &url, &headers, &body)?;
    let mut request = client.post(&url).body(body);
    for (name, value) in headers.iter().filter(|(name, _)| *name != "host") {
        request = request.header(*name, *value);
    }
    for (name, value) in signed {
        request = request.header(name, value);
    }
    let response = request.send().await.map_err(|error| {
        EcrError::new(format!(
            "POST {url} (GetAuthorizationToken): {}",
            crate::net::describe_http_error(&error)
        ))
    })?;
    let status = response.status();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(':').next().unwrap_or(value).to_owned());
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let detail = aws_error_detail(&text, error_type);
        return Err(EcrError {
            message: format!("POST {url} (GetAuthorizationToken): {status} {detail}")
                .trim_end()
                .to_owned(),
            denied: is_denial(status.as_u16(), &detail),
        });
    }
    let answer: TokenAnswer = serde_json::from_str(&text).map_err(|_| {
        EcrError::new(format!(
            "POST {url} (GetAuthorizationToken): the answer is not an authorization token"
        ))
    })?;
    let data = answer
        .authorization_data
        .into_iter()
        .next()
        .ok_or_else(|| EcrError::new(format!("POST {url}: no authorization data in the answer")))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| EcrError::new(format!("POST {url}: error decoding token")))?;
    let (username, password) = decoded.split_once(':').ok_or_else(|| {
        EcrError::new(format!(
            "POST {url}: invalid token format (expected user:password)"
        ))
    })?;
    Ok(RegistryLogin {
        username: username.to_owned(),
        password: Sensitive::new(password.to_owned()),
        expires_at: data
            .expires_at
            .map(|seconds| seconds as i64)
            .unwrap_or_else(|| crate::lookup::unix_now() + 12 * 3600),
    })
}

/// AWS's error in one clause: `Code: message`, from a JSON 1.1 body (`__type`), a query
/// API's XML (`<Code>`, `<Message>`), or the `x-amzn-ErrorType` header.
pub fn aws_error_detail(body: &str, error_type: Option<String>) -> String {
    let (code, message) = match serde_json::from_str::<AwsError>(body) {
        Ok(error) => (
            error
                .kind
                .map(|kind| kind.rsplit('#').next().unwrap_or_default().to_owned()),
            error.message,
        ),
        Err(_) => (xml_element(body, "Code"), xml_element(body, "Message")),
    };
    let code = code.or(error_type).unwrap_or_default();
    let message = message.unwrap_or_default();
    match (code.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (false, true) => code,
        (true, false) => message,
        (false, false) => format!("{code}: {message}"),
    }
}

/// The text of the first `<name>…</name>` (AWS error bodies are this simple).
pub fn xml_element(body: &str, name: &str) -> Option<String> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(body[start..end].trim().to_owned())
}

/// The `Host` header of `url` (signed by SigV4): host, and the port when one is given.
pub fn host_header(url: &str) -> Result<String, EcrError> {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_owned(),
            })
        })
        .ok_or_else(|| EcrError::new(format!("{url} is not a valid endpoint URL")))
}

/// SigV4 signature headers for a request (`aws-sigv4` does the cryptography).
pub fn sign_request(
    keys: &AwsKeys,
    region: &str,
    service: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, EcrError> {
    let credentials = aws_credential_types::Credentials::new(
        keys.access_key_id.clone(),
        keys.secret_access_key.expose().clone(),
        keys.session_token
            .as_ref()
            .map(|token| token.expose().clone()),
        None,
        "kargo-creds",
    );
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|error| EcrError::new(format!("preparing the SigV4 signature: {error}")))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|error| EcrError::new(format!("preparing the SigV4 signature: {error}")))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|error| EcrError::new(format!("signing the request: {error}")))?
        .into_parts();
    let (headers, _query) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|header| (header.name(), header.value().to_owned()))
        .collect())
}

/// How long ECR tokens live when the answer does not say.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_ecr_hosts_only() {
        let registry = recognize("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap();
        assert_eq!(
            (registry.account.as_str(), registry.region.as_str()),
            ("123456789012", "eu-west-1")
        );
        assert!(
            recognize("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")
                .unwrap()
                .china
        );
        for host in [
            "12345678901.dkr.ecr.us-west-2.amazonaws.com",
            "123456789012.dkr.ecr-fips.us-west-2.amazonaws.com",
            "ghcr.io",
            "123456789012.dkr.ecr..amazonaws.com",
            "registry.example/123456789012.dkr.ecr.us-west-2.amazonaws.com",
        ] {
            assert_eq!(recognize(host), None, "{host}");
        }
    }

    #[test]
    fn aws_errors_in_every_dress() {
        assert_eq!(
            aws_error_detail(
                r#"{"__type":"com.amazon#UnrecognizedClientException","message":"bad token"}"#,
                None
            ),
            "UnrecognizedClientException: bad token"
        );
        assert_eq!(
            aws_error_detail("<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error></ErrorResponse>", None),
            "SignatureDoesNotMatch: no"
        );
        assert_eq!(
            aws_error_detail("", Some("AccessDeniedException".into())),
            "AccessDeniedException"
        );
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("us-west-2", false, None, None),
            "https://api.ecr.us-west-2.amazonaws.com"
        );
        assert_eq!(
            endpoint("cn-north-1", true, None, None),
            "https://api.ecr.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint("x", false, None, Some("http://127.0.0.1:5000/")),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            endpoint("x", false, Some("http://ecr:1"), Some("http://all:2")),
            "http://ecr:1"
        );
    }
}
