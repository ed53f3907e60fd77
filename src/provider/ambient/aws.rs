//! The machine's AWS identity logging in to ECR (SPEC §6.5), when no Secret matched.
//!
//! The base identity comes from the environment, in the AWS SDKs' order: access keys
//! (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`), IRSA (`AWS_ROLE_ARN` +
//! `AWS_WEB_IDENTITY_TOKEN_FILE`, through STS `AssumeRoleWithWebIdentity`), then EKS Pod
//! Identity / container credentials (`AWS_CONTAINER_CREDENTIALS_FULL_URI` or `…_RELATIVE_URI`).
//!
//! With a Kargo project, the project's role is tried first — in the registry's account, then
//! (only when that is denied and the accounts differ) in the caller's own account — and the
//! base identity only when every role is denied. A denial is HTTP 403 or an `AccessDenied`
//! code; any other failure is an error, never a silent fall-back to a weaker identity.

use super::AmbientError;
use crate::provider::ecr::{self, AwsKeys, EcrError, EcrRegistry, RegistryLogin};
use crate::sensitive::Sensitive;

/// Where the base identity comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum AwsBase {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and maybe `AWS_SESSION_TOKEN`.
    EnvironmentKeys(AwsKeys),
    /// IRSA: a role assumed with the projected service-account token.
    WebIdentity {
        role_arn: String,
        token_file: String,
        session_name: String,
    },
    /// EKS Pod Identity (or an ECS task role): credentials from a local agent.
    ContainerCredentials {
        uri: String,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read when minting.
        token_file: Option<String>,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
        token: Option<Sensitive<String>>,
    },
}

impl AwsBase {
    /// For `resolve --explain`: which identity, never a secret.
    pub fn describe(&self) -> String {
        match self {
            AwsBase::EnvironmentKeys(keys) => format!("access key {}", keys.access_key_id),
            AwsBase::WebIdentity { role_arn, .. } => format!("web identity role {role_arn}"),
            AwsBase::ContainerCredentials { uri, .. } => format!("container credentials {uri}"),
        }
    }

    /// The caller's account when the environment says (IRSA's role ARN); otherwise STS
    /// `GetCallerIdentity` tells, when it is needed.
    fn known_account(&self) -> Option<&str> {
        match self {
            AwsBase::WebIdentity { role_arn, .. } => arn_account(role_arn),
            _ => None,
        }
    }
}

/// The machine's AWS identity.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsIdentity {
    pub base: AwsBase,
    /// `AWS_REGION` or `AWS_DEFAULT_REGION`: where STS is called (else the registry's).
    pub region: Option<String>,
    /// `kargo-controller`, or `kargo-controller-<SHARD_NAME>`, at most 64 characters.
    pub session_name: String,
}

impl AwsIdentity {
    /// Reads the environment; `None` when it holds no AWS identity.
    pub fn detect(value: &dyn Fn(&str) -> Option<String>) -> Option<AwsIdentity> {
        let session_name = session_name(value("SHARD_NAME").as_deref());
        let base = if let (Some(access_key_id), Some(secret)) =
            (value("AWS_ACCESS_KEY_ID"), value("AWS_SECRET_ACCESS_KEY"))
        {
            AwsBase::EnvironmentKeys(AwsKeys {
                access_key_id,
                secret_access_key: Sensitive::new(secret),
                session_token: value("AWS_SESSION_TOKEN").map(Sensitive::new),
            })
        } else if let (Some(role_arn), Some(token_file)) =
            (value("AWS_ROLE_ARN"), value("AWS_WEB_IDENTITY_TOKEN_FILE"))
        {
            AwsBase::WebIdentity {
                role_arn,
                token_file,
                session_name: value("AWS_ROLE_SESSION_NAME")
                    .unwrap_or_else(|| session_name.clone()),
            }
        } else if let Some(uri) = value("AWS_CONTAINER_CREDENTIALS_FULL_URI").or_else(|| {
            value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                .map(|path| format!("http://169.254.170.2{path}"))
        }) {
            AwsBase::ContainerCredentials {
                uri,
                token_file: value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                token: value("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Sensitive::new),
            }
        } else {
            return None;
        };
        Some(AwsIdentity {
            base,
            region: value("AWS_REGION").or_else(|| value("AWS_DEFAULT_REGION")),
            session_name,
        })
    }
}

fn session_name(shard: Option<&str>) -> String {
    let mut name = match shard {
        Some(shard) => format!("kargo-controller-{shard}"),
        None => "kargo-controller".to_owned(),
    };
    name.truncate(64);
    name
}

/// The account of `arn:<partition>:iam::<account>:…`.
fn arn_account(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// What an ECR login through the machine's AWS identity needs.
#[derive(Debug, Clone, PartialEq)]
pub struct EcrIdentityPlan {
    pub registry: EcrRegistry,
    pub identity: AwsIdentity,
    /// The Kargo project whose role (`kargo-project-<project>`) is tried first.
    pub kargo_project: Option<String>,
}

/// How `identities_in_order` names the base identity (the vectors' word).
pub const OWN_IDENTITY: &str = "controller-own-identity";

impl EcrIdentityPlan {
    /// `arn:<partition>:iam::<account>:role/kargo-project-<project>`.
    pub fn project_role(&self, account: &str) -> Option<String> {
        let project = self.kargo_project.as_deref()?;
        let partition = if self.registry.china { "aws-cn" } else { "aws" };
        Some(format!(
            "arn:{partition}:iam::{account}:role/kargo-project-{project}"
        ))
    }

    /// `kargo-project-<project>`: the external ID every role assumption presents.
    pub fn external_id(&self) -> Option<String> {
        self.kargo_project
            .as_deref()
            .map(|project| format!("kargo-project-{project}"))
    }

    /// The identities tried, in order, as far as the environment tells before any call
    /// (when the caller's account is not known yet, its role is listed as a maybe).
    pub fn identities_in_order(&self) -> Vec<String> {
        let mut identities = Vec::new();
        if let Some(role) = self.project_role(&self.registry.account) {
            identities.push(role);
            match self.identity.base.known_account() {
                Some(caller) if caller == self.registry.account => {}
                Some(caller) => identities.extend(self.project_role(caller)),
                None => identities
                    .push("the same role in the caller's account, if it differs".to_owned()),
            }
        }
        identities.push(OWN_IDENTITY.to_owned());
        identities
    }

    /// Where STS is called: the configured region, else the registry's.
    pub fn sts_region(&self) -> &str {
        self.identity
            .region
            .as_deref()
            .unwrap_or(&self.registry.region)
    }
}

/// The AWS endpoints overrides (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_ECR`,
/// `AWS_ENDPOINT_URL`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsEndpoints<'a> {
    pub sts: Option<&'a str>,
    pub ecr: Option<&'a str>,
    pub general: Option<&'a str>,
}

/// Logs in to the plan's registry with the first identity AWS allows (see the module
/// documentation for the order). Every identity denied is an error listing the denials.
pub async fn mint_ecr(
    client: &reqwest::Client,
    plan: &EcrIdentityPlan,
    endpoints: AwsEndpoints<'_>,
) -> Result<RegistryLogin, AmbientError> {
    let region = plan.sts_region();
    let sts = Sts {
        client,
        region,
        endpoint: endpoints
            .sts
            .or(endpoints.general)
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| {
                let suffix = if plan.registry.china { ".cn" } else { "" };
                format!("https://sts.{region}.amazonaws.com{suffix}")
            }),
    };
    let ecr_endpoint = ecr::endpoint(
        &plan.registry.region,
        plan.registry.china,
        endpoints.ecr,
        endpoints.general,
    );
    // A login never outlives the temporary credentials it was minted with.
    let login = |(keys, expiry): (AwsKeys, Option<i64>)| {
        let endpoint = ecr_endpoint.clone();
        async move {
            let mut login =
                ecr::get_authorization_token(client, &keys, &plan.registry.region, &endpoint)
                    .await?;
            if let Some(expiry) = expiry {
                login.expires_at = login.expires_at.min(expiry);
            }
            Ok::<_, EcrError>(login)
        }
    };
    let base = base_keys(client, &plan.identity.base, &sts).await?;
    let mut denials = Vec::new();
    if let Some(external_id) = plan.external_id() {
        let mut accounts = vec![plan.registry.account.clone()];
        let mut index = 0;
        while let Some(account) = accounts.get(index).cloned() {
            index += 1;
            let Some(role) = plan.project_role(&account) else {
                break;
            };
            let attempt = match sts
                .assume_role(&base.0, &role, &external_id, &plan.identity.session_name)
                .await
            {
                Ok(keys) => login(keys).await,
                Err(error) => Err(error),
            };
            match attempt {
                Ok(login) => return Ok(login),
                Err(error) if error.denied => denials.push(format!("{role}: {error}")),
                Err(error) => return Err(AmbientError(error.message)),
            }
            if index == 1 {
                let caller = match plan.identity.base.known_account() {
                    Some(account) => account.to_owned(),
                    None => sts
                        .caller_account(&base.0)
                        .await
                        .map_err(|error| AmbientError(error.message))?,
                };
                if caller != plan.registry.account {
                    accounts.push(caller);
                }
            }
        }
    }
    match login(base).await {
        Ok(login) => Ok(login),
        Err(error) if error.denied => {
            denials.push(format!("{}: {error}", plan.identity.base.describe()));
            Err(AmbientError(format!(
                "AWS denied every identity for {}: {}",
                plan.registry.host,
                denials.join("; ")
            )))
        }
        Err(error) => Err(AmbientError(error.message)),
    }
}

/// The base identity's keys (and their expiry, for temporary ones).
async fn base_keys(
    client: &reqwest::Client,
    base: &AwsBase,
    sts: &Sts<'_>,
) -> Result<(AwsKeys, Option<i64>), AmbientError> {
    match base {
        AwsBase::EnvironmentKeys(keys) => Ok((keys.clone(), None)),
        AwsBase::WebIdentity {
            role_arn,
            token_file,
            session_name,
        } => {
            let token = std::fs::read_to_string(token_file).map_err(|error| {
                AmbientError(format!(
                    "reading AWS_WEB_IDENTITY_TOKEN_FILE {token_file}: {error}"
                ))
            })?;
            sts.assume_role_with_web_identity(role_arn, session_name, token.trim())
                .await
                .map_err(|error| AmbientError(error.message))
        }
        AwsBase::ContainerCredentials {
            uri,
            token_file,
            token,
        } => container_credentials(client, uri, token_file.as_deref(), token.as_ref()).await,
    }
}

/// Hosts a container-credentials agent may be on when the URI is plain http (as the AWS
/// SDKs allow): loopback, the ECS agent, and the EKS Pod Identity agent.
fn trusted_container_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(
        host,
        "169.254.170.2" | "169.254.170.23" | "fd00:ec2::23" | "localhost"
    ) || host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

async fn container_credentials(
    client: &reqwest::Client,
    uri: &str,
    token_file: Option<&str>,
    token: Option<&Sensitive<String>>,
) -> Result<(AwsKeys, Option<i64>), AmbientError> {
    let parsed = reqwest::Url::parse(uri).map_err(|_| {
        AmbientError(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {uri} is not a URL"
        ))
    })?;
    let trusted = parsed.scheme() == "https"
        || (parsed.scheme() == "http" && parsed.host_str().is_some_and(trusted_container_host));
    if !trusted {
        return Err(AmbientError(format!(
            "refusing container credentials from {uri}: plain http is allowed only to loopback or the EKS/ECS agent addresses"
        )));
    }
    let authorization = match (token_file, token) {
        (Some(file), _) => Some(Sensitive::new(
            std::fs::read_to_string(file)
                .map_err(|error| {
                    AmbientError(format!(
                        "reading AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {file}: {error}"
                    ))
                })?
                .trim()
                .to_owned(),
        )),
        (None, token) => token.cloned(),
    };
    let mut request = client.get(uri);
    if let Some(authorization) = &authorization {
        request = request.header("Authorization", authorization.expose().as_str());
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct ContainerCredentials {
        access_key_id: String,
        secret_access_key: String,
        token: Option<String>,
        expiration: Option<String>,
    }
    let answer: ContainerCredentials = super::read_json(request.send().await, uri).await?;
    Ok((
        AwsKeys {
            access_key_id: answer.access_key_id,
            secret_access_key: Sensitive::new(answer.secret_access_key),
            session_token: answer.token.map(Sensitive::new),
        },
        answer
            .expiration
            .as_deref()
            .and_then(crate::timefmt::parse_rfc3339),
    ))
}

/// STS's query API (form-encoded POST, XML answers).
struct Sts<'a> {
    client: &'a reqwest::Client,
    region: &'a str,
    endpoint: String,
}

impl Sts<'_> {
    /// IRSA: unsigned — the web identity token is the proof.
    async fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
    ) -> Result<(AwsKeys, Option<i64>), EcrError> {
        let action = "AssumeRoleWithWebIdentity";
        let form = [
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("WebIdentityToken", token),
        ];
        let body = self.call(action, &form, None).await?;
        self.credentials_in(action, &body)
    }

    async fn assume_role(
        &self,
        base: &AwsKeys,
        role_arn: &str,
        external_id: &str,
        session_name: &str,
    ) -> Result<(AwsKeys, Option<i64>), EcrError> {
        let action = "AssumeRole";
        let form = [
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("ExternalId", external_id),
        ];
        let body = self.call(action, &form, Some(base)).await?;
        self.credentials_in(action, &body)
    }

    async fn caller_account(&self, base: &AwsKeys) -> Result<String, EcrError> {
        let action = "GetCallerIdentity";
        let body = self.call(action, &[], Some(base)).await?;
        ecr::xml_element(&body, "Account").ok_or_else(|| {
            EcrError::new(format!(
                "POST {}/ ({action}): no Account in the answer",
                self.endpoint
            ))
        })
    }

    async fn call(
        &self,
        action: &str,
        form: &[(&str, &str)],
        signer: Option<&AwsKeys>,
    ) -> Result<String, EcrError> {
        let url = format!("{}/", self.endpoint);
        let what = format!("POST {url} ({action})");
        let mut body = format!("Action={action}&Version=2011-06-15");
        for (key, value) in form {
            body.push_str(&format!("&{key}={}", super::form_escape(value)));
        }
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let mut request = self.client.post(&url).header("Content-Type", content_type);
        if let Some(keys) = signer {
            let host = ecr::host_header(&url)?;
            let headers = [("host", host.as_str()), ("content-type", content_type)];
            for (name, value) in
                ecr::sign_request(keys, self.region, "sts", &url, &headers, body.as_bytes())?
            {
                request = request.header(name, value);
            }
        }
        let response = request.body(body).send().await.map_err(|error| {
            EcrError::new(format!(
                "{what}: {}",
                crate::net::describe_http_error(&error)
            ))
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let detail = ecr::aws_error_detail(&text, None);
            return Err(EcrError {
                message: format!("{what}: {status} {detail}").trim_end().to_owned(),
                denied: ecr::is_denial(status.as_u16(), &detail),
            });
        }
        Ok(text)
    }

    fn credentials_in(&self, action: &str, body: &str) -> Result<(AwsKeys, Option<i64>), EcrError> {
        let field = |name: &str| ecr::xml_element(body, name).filter(|value| !value.is_empty());
        match (field("AccessKeyId"), field("SecretAccessKey")) {
            (Some(access_key_id), Some(secret)) => Ok((
                AwsKeys {
                    access_key_id,
                    secret_access_key: Sensitive::new(secret),
                    session_token: field("SessionToken").map(Sensitive::new),
                },
                field("Expiration")
                    .as_deref()
                    .and_then(crate::timefmt::parse_rfc3339),
            )),
            _ => Err(EcrError::new(format!(
                "POST {}/ ({action}): no credentials in the answer",
                self.endpoint
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn plan(vars: &'static [(&'static str, &'static str)], host: &str) -> EcrIdentityPlan {
        EcrIdentityPlan {
            registry: ecr::recognize(host).unwrap(),
            identity: AwsIdentity::detect(&env(vars)).unwrap(),
            kargo_project: Some("demo".into()),
        }
    }

    const IRSA: &[(&str, &str)] = &[
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/kargo"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", "/token"),
    ];

    #[test]
    fn detects_in_the_sdk_order() {
        let keys_and_irsa = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/kargo"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/token"),
        ]);
        assert!(matches!(
            AwsIdentity::detect(&keys_and_irsa).unwrap().base,
            AwsBase::EnvironmentKeys(_)
        ));
        assert!(matches!(
            AwsIdentity::detect(&env(IRSA)).unwrap().base,
            AwsBase::WebIdentity { .. }
        ));
        let pod = env(&[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://169.254.170.23/v1/credentials",
        )]);
        assert!(matches!(
            AwsIdentity::detect(&pod).unwrap().base,
            AwsBase::ContainerCredentials { .. }
        ));
        assert_eq!(AwsIdentity::detect(&env(&[("AWS_ROLE_ARN", "x")])), None);
    }

    #[test]
    fn identities_in_order() {
        let same = plan(IRSA, "123456789012.dkr.ecr.us-west-2.amazonaws.com");
        assert_eq!(
            same.identities_in_order(),
            [
                "arn:aws:iam::123456789012:role/kargo-project-demo",
                OWN_IDENTITY
            ]
        );
        let cross = plan(IRSA, "210987654321.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(
            cross.identities_in_order(),
            [
                "arn:aws:iam::210987654321:role/kargo-project-demo",
                "arn:aws:iam::123456789012:role/kargo-project-demo",
                OWN_IDENTITY
            ]
        );
        let china = plan(IRSA, "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn");
        assert_eq!(
            china.project_role("123456789012").unwrap(),
            "arn:aws-cn:iam::123456789012:role/kargo-project-demo"
        );
    }

    #[test]
    fn session_names_carry_the_shard_and_fit_sts() {
        assert_eq!(session_name(None), "kargo-controller");
        assert_eq!(session_name(Some("shard-1")), "kargo-controller-shard-1");
        assert_eq!(session_name(Some(&"x".repeat(100))).len(), 64);
    }

    #[test]
    fn container_agents_over_plain_http_only_on_known_hosts() {
        for host in [
            "127.0.0.1",
            "169.254.170.2",
            "169.254.170.23",
            "[fd00:ec2::23]",
            "[::1]",
        ] {
            assert!(trusted_container_host(host), "{host}");
        }
        assert!(!trusted_container_host("evil.example"));
        assert!(!trusted_container_host("10.0.0.1"));
    }
}
