//! The one path every binary takes: list Secrets from the source, apply Kargo's precedence,
//! hand the winner to the providers. Binaries only parse input and print answers.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use crate::cache::{CacheKey, Minted, Origin, RetryHint, Served, TokenCache};
use crate::config::Settings;
use crate::provider::{
    self, ambient, ecr, gar, github_app, Credentials, MintPlan, ProviderError, ProviderKind,
    ProviderRequest, Selection,
};
use crate::resolve::{self, Candidate, NamespaceSecrets, NamespaceTrace, Target, Thoroughness};
use crate::secret::{CredType, Secret};
use crate::source::{self, Listed, Source, SourceError};
use crate::url;

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A Secret matched, but its token could not be minted.
    #[error(
        "minting a token ({provider}) from {}: {reason}",
        origin_phrase(secret)
    )]
    Mint {
        provider: ProviderKind,
        secret: String,
        reason: String,
    },
}

impl LookupError {
    /// Whether a Secret had matched (git must then fail rather than prompt).
    pub fn after_match(&self) -> bool {
        matches!(self, LookupError::Provider(_) | LookupError::Mint { .. })
    }
}

/// A mint that failed: its one-line reason, and when the server asked to be asked again.
#[derive(Debug)]
struct MintFailed {
    reason: String,
    retry_after: Option<std::time::Duration>,
}

impl std::fmt::Display for MintFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl RetryHint for MintFailed {
    fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }
}

impl From<String> for MintFailed {
    fn from(reason: String) -> MintFailed {
        MintFailed {
            reason,
            retry_after: None,
        }
    }
}

/// What a lookup decided.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A plain `http://` URL: no credentials unless allowed.
    RefusedPlainHttp,
    NoMatch,
    /// A Secret matched; `selection` says what its provider makes of it.
    Matched {
        secret: Box<Secret>,
        selection: Selection,
    },
    /// No Secret matched, and the machine's own cloud identity serves the registry.
    Ambient {
        selection: Selection,
    },
}

/// The search of one credential type (the docker helper may search several).
#[derive(Debug, Clone)]
pub struct Section {
    pub target: Target,
    pub namespaces: Vec<NamespaceTrace>,
    pub kargo_code_pick: Option<String>,
}

/// The answer and how it was reached, for `--explain`.
#[derive(Debug, Clone)]
pub struct Report {
    pub sections: Vec<Section>,
    pub answer: Answer,
}

impl Report {
    pub fn secret_id(&self) -> Option<String> {
        match &self.answer {
            Answer::Matched { secret, .. } => Some(secret.id()),
            _ => None,
        }
    }

    pub fn selection(&self) -> Option<&Selection> {
        match &self.answer {
            Answer::Matched { selection, .. } | Answer::Ambient { selection } => Some(selection),
            _ => None,
        }
    }

    pub fn provider(&self) -> Option<ProviderKind> {
        self.selection().and_then(Selection::provider)
    }
}

/// Lookups against the configured source, opened on first use.
pub struct Lookup<'a> {
    settings: &'a Settings,
    source: OnceCell<Box<dyn Source>>,
    /// The token cache: `None` inside when switched off or unusable.
    cache: OnceCell<Option<TokenCache>>,
}

impl<'a> Lookup<'a> {
    pub fn new(settings: &'a Settings) -> Lookup<'a> {
        Lookup {
            settings,
            source: OnceCell::new(),
            cache: OnceCell::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        self.settings
    }

    pub fn source(&self) -> Result<&dyn Source, SourceError> {
        if let Some(source) = self.source.get() {
            return Ok(source.as_ref());
        }
        let source = source::open(self.settings)?;
        Ok(self.source.get_or_init(|| source).as_ref())
    }

    /// Resolves a repository URL of one credential type (git, helm, image).
    pub fn find(
        &self,
        cred_type: CredType,
        raw_url: &str,
        thoroughness: Thoroughness,
    ) -> Result<Report, LookupError> {
        let target = Target::url(cred_type, raw_url);
        if resolve::is_plain_http(raw_url) && !self.settings.allow_http {
            crate::info!("not offering credentials for plain http URL {} (set KARGO_CREDS_ALLOW_HTTP=true to allow)", url::for_display(raw_url));
            return Ok(Report {
                sections: vec![Section {
                    target,
                    namespaces: Vec::new(),
                    kargo_code_pick: None,
                }],
                answer: Answer::RefusedPlainHttp,
            });
        }
        self.search(vec![target], thoroughness)
    }

    /// Resolves a registry host for the docker protocol: each type of
    /// `KARGO_CREDS_DOCKER_TYPES` in turn (image, then helm `oci://`).
    pub fn find_registry(
        &self,
        host: &str,
        thoroughness: Thoroughness,
    ) -> Result<Report, LookupError> {
        let targets = self
            .settings
            .docker_types
            .iter()
            .map(|cred_type| Target::registry_host(*cred_type, host))
            .collect();
        self.search(targets, thoroughness)
    }

    fn search(
        &self,
        targets: Vec<Target>,
        thoroughness: Thoroughness,
    ) -> Result<Report, LookupError> {
        let namespaces = self.settings.namespaces();
        let mut sections = Vec::new();
        for target in targets {
            let listings = self.source()?.list(&namespaces, target.cred_type())?;
            let by_namespace: Vec<NamespaceSecrets<Listed<'_>>> = listings
                .into_iter()
                .map(|listing| NamespaceSecrets {
                    namespace: listing.namespace,
                    secrets: listing.secrets,
                })
                .collect();
            let resolution = resolve::resolve(&target, &by_namespace, thoroughness);
            for warning in &resolution.warnings {
                crate::warn!("{warning}");
            }
            let winner = match resolution.winner {
                Some(listed) => Some(self.source()?.complete(listed)?),
                None => None,
            };
            sections.push(Section {
                target: target.clone(),
                namespaces: resolution.namespaces,
                kargo_code_pick: resolution.kargo_code_pick,
            });
            if let Some(secret) = winner {
                let selection = self.select_provider(&secret, &target)?;
                return Ok(Report {
                    sections,
                    answer: Answer::Matched {
                        secret: Box::new(secret),
                        selection,
                    },
                });
            }
        }
        // Ambient identities serve only when no Secret matched (as Kargo's guide says).
        let ambient = sections.iter().find_map(|section| {
            let registry = registry_of(&section.target);
            ambient::select(
                section.target.cred_type(),
                registry.as_deref(),
                self.settings.project.as_deref(),
                &self.settings.ambient,
            )
        });
        Ok(Report {
            sections,
            answer: match ambient {
                Some(selection) => Answer::Ambient { selection },
                None => Answer::NoMatch,
            },
        })
    }

    /// Provider selection without warnings (for `list`): `None` when it fails.
    fn select_quietly(&self, secret: &Secret, target: &Target) -> Option<Selection> {
        let registry = registry_of(target);
        provider::select(secret, &self.provider_request(target, registry.as_deref())).ok()
    }

    fn provider_request<'r>(
        &'r self,
        target: &'r Target,
        registry: Option<&'r str>,
    ) -> ProviderRequest<'r> {
        ProviderRequest {
            cred_type: target.cred_type(),
            normalized_url: target.normalized(),
            project: self.settings.project.as_deref(),
            github_api_url: self.settings.endpoints.github_api.as_deref(),
            registry,
        }
    }

    fn select_provider(&self, secret: &Secret, target: &Target) -> Result<Selection, LookupError> {
        let registry = registry_of(target);
        let request = self.provider_request(target, registry.as_deref());
        let selection = provider::select(secret, &request)?;
        match &selection {
            Selection::Unsupported { lacks } => crate::warn!(
                "secret {} matched {} but no provider can use it: {lacks}",
                secret.id(),
                target.normalized()
            ),
            // An empty value is a broken Secret: say so. A policy decision (a scope map
            // that excludes the project) is only reported at -v.
            Selection::Declined {
                provider: provider @ (ProviderKind::Basic | ProviderKind::Ssh),
                reason,
            } => crate::warn!("{provider} provider gives no credentials: {reason}"),
            Selection::Declined { provider, reason } => {
                crate::info!("{provider} provider gives no credentials: {reason}")
            }
            _ => {}
        }
        Ok(selection)
    }

    /// The credentials a selection stands for: static ones as they are, tokens from the
    /// cache or freshly minted. `None` when the selection holds nothing a client can use.
    pub fn credentials(
        &self,
        secret: &Secret,
        selection: &Selection,
    ) -> Result<Option<Credentials>, LookupError> {
        match selection {
            Selection::Static { credentials, .. } => Ok(Some(credentials.clone())),
            Selection::Mint { provider, plan } => {
                self.minted(&secret.id(), *provider, plan).map(Some)
            }
            Selection::SshKey { .. }
            | Selection::Declined { .. }
            | Selection::Unsupported { .. } => Ok(None),
        }
    }

    /// The credentials a report's answer stands for (see [`Lookup::credentials`]); `None`
    /// without a match.
    pub fn answer_credentials(&self, report: &Report) -> Result<Option<Credentials>, LookupError> {
        match &report.answer {
            Answer::Matched { secret, selection } => self.credentials(secret, selection),
            Answer::Ambient {
                selection: Selection::Mint { provider, plan },
            } => self.minted("ambient", *provider, plan).map(Some),
            _ => Ok(None),
        }
    }

    /// The token cache, opened on first use. Unusable (or refused as unsafe): one warning,
    /// then tokens are minted every time — never a failure to hand out credentials.
    pub fn cache(&self) -> Option<&TokenCache> {
        self.cache
            .get_or_init(|| {
                if self.settings.no_cache {
                    return None;
                }
                match TokenCache::open(&self.settings.cache_dir, self.settings.expiry_margin) {
                    Ok(cache) => Some(cache),
                    Err(error) => {
                        crate::warn!("{error}; tokens are minted without caching");
                        None
                    }
                }
            })
            .as_ref()
    }

    fn cache_key(&self, provider: ProviderKind, plan: &MintPlan) -> CacheKey {
        CacheKey {
            provider: provider.as_str(),
            identity_hash: plan.identity_hash(),
            project: self.settings.project.clone(),
            scope: plan.scope(),
        }
    }

    fn minted(
        &self,
        origin_id: &str,
        provider: ProviderKind,
        plan: &MintPlan,
    ) -> Result<Credentials, LookupError> {
        let key = self.cache_key(provider, plan);
        let origin = Origin {
            secret: origin_id.to_owned(),
            scope: plan.scope(),
            project: self.settings.project.clone(),
        };
        let mint = || self.mint_now(plan);
        let served = match self.cache() {
            Some(cache) => cache
                .get_or_mint(&key, &origin, mint)
                .map_err(|error| error.to_string()),
            None => mint()
                .map(|minted| Served {
                    username: minted.username,
                    token: minted.token,
                    expires_at: minted.expires_at,
                    from_cache: false,
                })
                .map_err(|failed| failed.reason),
        }
        .map_err(|reason| LookupError::Mint {
            provider,
            secret: origin_id.to_owned(),
            reason,
        })?;
        if !served.from_cache && served.expires_at <= unix_now() {
            crate::warn!(
                "the {provider} token from {origin_id} arrived already expired ({}; is the clock right?): handing it out uncached",
                crate::timefmt::rfc3339(served.expires_at)
            );
        }
        Ok(Credentials {
            username: served.username,
            password: served.token,
            expires_at: Some(served.expires_at),
        })
    }

    /// Mints over the network, now.
    fn mint_now(&self, plan: &MintPlan) -> Result<Minted, MintFailed> {
        let runtime = crate::net::runtime()?;
        let client =
            crate::net::http_client(self.settings.connect_timeout, self.settings.request_timeout)?;
        let now = unix_now();
        match plan {
            MintPlan::Ecr(plan_ecr) => {
                let endpoints = &self.settings.endpoints;
                let endpoint = ecr::endpoint(
                    &plan_ecr.region,
                    plan_ecr.registry.china,
                    endpoints.aws_ecr.as_deref(),
                    endpoints.aws.as_deref(),
                );
                let login = runtime
                    .block_on(ecr::get_authorization_token(
                        &client,
                        &plan_ecr.keys,
                        &plan_ecr.region,
                        &endpoint,
                    ))
                    .map_err(|error| error.to_string())?;
                Ok(Minted {
                    username: login.username,
                    token: login.password,
                    expires_at: login.expires_at,
                })
            }
            MintPlan::EcrIdentity(identity) => {
                let endpoints = &self.settings.endpoints;
                let login = runtime
                    .block_on(ambient::aws::mint_ecr(
                        &client,
                        identity,
                        ambient::aws::AwsEndpoints {
                            sts: endpoints.aws_sts.as_deref(),
                            ecr: endpoints.aws_ecr.as_deref(),
                            general: endpoints.aws.as_deref(),
                        },
                    ))
                    .map_err(|error| error.to_string())?;
                Ok(Minted {
                    username: login.username,
                    token: login.password,
                    expires_at: login.expires_at,
                })
            }
            MintPlan::Gke(gke) => {
                let (token, expires_at) = runtime
                    .block_on(ambient::mint_gke(&client, gke, now))
                    .map_err(|error| error.to_string())?;
                Ok(Minted {
                    username: plan.username().to_owned(),
                    token,
                    expires_at,
                })
            }
            MintPlan::Acr(acr) => {
                let (token, expires_at) = runtime
                    .block_on(ambient::mint_acr(&client, acr, now))
                    .map_err(|error| error.to_string())?;
                Ok(Minted {
                    username: plan.username().to_owned(),
                    token,
                    expires_at,
                })
            }
            MintPlan::Gar(plan_gar) => {
                let (token, expires_at) = runtime
                    .block_on(gar::mint(&client, plan_gar, now))
                    .map_err(|error| error.to_string())?;
                Ok(Minted {
                    username: plan.username().to_owned(),
                    token,
                    expires_at,
                })
            }
            MintPlan::GithubApp(app) => {
                let waits = self
                    .settings
                    .endpoints
                    .github_validation_waits
                    .clone()
                    .unwrap_or_else(|| github_app::VALIDATION_WAITS.to_vec());
                let token = runtime
                    .block_on(github_app::mint(&client, app, now, &waits))
                    .map_err(|error| MintFailed {
                        reason: error.message,
                        retry_after: error.retry_after,
                    })?;
                Ok(Minted {
                    username: plan.username().to_owned(),
                    token: token.token,
                    expires_at: token.expires_at,
                })
            }
        }
    }

    /// When the token a lookup would hand out expires, if it is in the cache (for
    /// `resolve --explain`; nothing is minted).
    pub fn cached_until(&self, report: &Report) -> Option<i64> {
        let Some(Selection::Mint { provider, plan }) = report.selection() else {
            return None;
        };
        let stem = self.cache_key(*provider, plan).file_stem();
        self.cache()?
            .list()
            .into_iter()
            .find(|entry| entry.file.starts_with(&stem))
            .map(|entry| entry.expires_at)
    }

    /// Forgets the token handed out for a lookup, if `password` is that token (git calls
    /// `erase` with what a server rejected). Returns whether an entry was evicted.
    pub fn evict(&self, report: &Report, password: &str) -> bool {
        let Answer::Matched {
            selection: Selection::Mint { provider, plan },
            ..
        } = &report.answer
        else {
            return false;
        };
        let Some(cache) = self.cache() else {
            return false;
        };
        cache.evict_if_token(&self.cache_key(*provider, plan), password)
    }

    /// `{registry host: username}` for every exact image/helm Secret visible, for
    /// `docker-credential-kargo list`. Nothing is minted; earlier Secrets win a host.
    pub fn registry_usernames(&self) -> Result<BTreeMap<String, String>, LookupError> {
        let namespaces = self.settings.namespaces();
        let mut hosts = BTreeMap::new();
        for cred_type in &self.settings.docker_types {
            for listing in self.source()?.list(&namespaces, *cred_type)? {
                let mut secrets: Vec<&Listed<'_>> =
                    listing.secrets.iter().filter(|s| !s.is_regex()).collect();
                secrets.sort_by(|a, b| a.name().as_bytes().cmp(b.name().as_bytes()));
                for listed in secrets {
                    let Ok(Some(repo_url)) = listed.repo_url() else {
                        continue;
                    };
                    if *cred_type == CredType::Helm && resolve::is_chart_repository_url(repo_url) {
                        continue;
                    }
                    let normalized = resolve::normalize(*cred_type, repo_url);
                    let host = url::registry_host_of_normalized_image(&normalized).to_owned();
                    if hosts.contains_key(&host) {
                        continue;
                    }
                    // The username its provider would use: a static one, or a token
                    // provider's fixed one (`AWS`, `oauth2accesstoken`) — nothing is minted.
                    let secret = self.source()?.complete(listed)?;
                    let target = Target::registry_host(*cred_type, &host);
                    let username = match self.select_quietly(&secret, &target) {
                        Some(Selection::Static { credentials, .. }) => credentials.username,
                        Some(Selection::Mint { plan, .. }) => plan.username().to_owned(),
                        _ => continue,
                    };
                    hosts.insert(host, username);
                }
            }
        }
        Ok(hosts)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The registry host an image or helm request is for: the host itself for the docker
/// protocol, the first segment of a normalized reference otherwise (`docker.io` for Docker
/// Hub names, nothing for an `https://` chart repository).
fn registry_of(target: &Target) -> Option<String> {
    match target {
        Target::RegistryHost { host, .. } => Some(host.clone()),
        Target::Url {
            cred_type,
            normalized,
            ..
        } => match cred_type {
            CredType::Image | CredType::Helm if !resolve::is_chart_repository_url(normalized) => {
                Some(url::registry_host_of_normalized_image(normalized).to_owned())
            }
            _ => None,
        },
    }
}

/// `secret ns/name`, or for an ambient identity, what it is.
fn origin_phrase(origin: &str) -> String {
    if origin == "ambient" {
        "the machine's own identity".to_owned()
    } else {
        format!("secret {origin}")
    }
}
