//! Where Secrets come from (SPEC §3). Nothing outside this module knows.
//!
//! A source lists the Secrets of a namespace that carry `kargo.akuity.io/cred-type=<type>`,
//! and gets one Secret by name.

pub mod dir;
pub mod index;
pub mod kube;
pub mod manifest;

use crate::config::{Settings, SourceKind};
use crate::resolve::Candidate;
use crate::secret::{keys, CredType, Secret, ValueError};

/// A Secret as a source lists it: whole, or a summary (name, type, `repoURL`) whose
/// remaining data [`Source::complete`] reads when it wins.
#[derive(Debug, Clone)]
pub enum Listed<'a> {
    Whole(Box<Secret>),
    Summary(&'a index::SecretSummary),
}

/// What listing one namespace produced.
#[derive(Debug, Clone, Default)]
pub struct Listing<'a> {
    pub namespace: String,
    pub secrets: Vec<Listed<'a>>,
    /// Why the namespace could not be read (403), when it could not: a lookup goes on
    /// without it; managing credentials there must not.
    pub forbidden: Option<String>,
}

impl Candidate for Listed<'_> {
    fn namespace(&self) -> &str {
        match self {
            Listed::Whole(secret) => &secret.namespace,
            Listed::Summary(summary) => &summary.namespace,
        }
    }

    fn name(&self) -> &str {
        match self {
            Listed::Whole(secret) => &secret.name,
            Listed::Summary(summary) => &summary.name,
        }
    }

    fn is_regex(&self) -> bool {
        match self {
            Listed::Whole(secret) => secret.is_regex(),
            Listed::Summary(summary) => summary.is_regex,
        }
    }

    fn repo_url(&self) -> Result<Option<&str>, ValueError> {
        match self {
            Listed::Whole(secret) => secret.trimmed_text(keys::REPO_URL),
            Listed::Summary(summary) if summary.repo_url_invalid => Err(ValueError::NotUtf8 {
                secret: self.id(),
                key: keys::REPO_URL.to_owned(),
            }),
            Listed::Summary(summary) => Ok(summary
                .repo_url
                .as_deref()
                .map(crate::secret::trim_one_newline)),
        }
    }

    fn known_normalized(&self, cred_type: CredType) -> Option<&str> {
        match self {
            Listed::Summary(summary)
                if summary.cred_type.as_deref() == Some(cred_type.as_str()) =>
            {
                summary.normalized.as_deref()
            }
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("secrets folder {path} does not exist (create it, or set --secrets-dir / KARGO_CREDS_SECRETS_DIR)")]
    MissingFolder { path: String },
    #[error("reading secrets folder {path}: {reason}")]
    Folder { path: String, reason: String },
    #[error("writing {path}: {reason}")]
    Write { path: String, reason: String },
    #[error("loading the Kubernetes configuration (kubeconfig or in-cluster): {reason}")]
    KubeConfig { reason: String },
    #[error("{action} in namespace {namespace:?} on {server}: {reason}")]
    Kube {
        action: String,
        namespace: String,
        server: String,
        reason: String,
    },
    #[error("secret {id} already exists")]
    AlreadyExists { id: String },
    #[error("secret {id} not found")]
    NotFound { id: String },
    #[error("{0}")]
    Other(String),
}

/// A place Secrets are read from.
pub trait Source {
    /// One line for `--explain` and `doctor`: which source, where.
    fn describe(&self) -> String;

    /// The Secrets labelled with `cred_type` in each namespace, in the order given.
    fn list(
        &self,
        namespaces: &[&str],
        cred_type: CredType,
    ) -> Result<Vec<Listing<'_>>, SourceError>;

    /// One Secret by name, whatever its labels.
    fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, SourceError>;

    /// The whole Secret behind one that [`Source::list`] returned.
    fn complete(&self, listed: &Listed<'_>) -> Result<Secret, SourceError>;

    /// Writes a new Secret; [`SourceError::AlreadyExists`] if the name is taken.
    fn create(&self, secret: &Secret) -> Result<(), SourceError>;

    /// Replaces an existing Secret; [`SourceError::NotFound`] if there is none.
    fn replace(&self, secret: &Secret) -> Result<(), SourceError>;

    /// Deletes a Secret; [`SourceError::NotFound`] if there is none.
    fn delete(&self, namespace: &str, name: &str) -> Result<(), SourceError>;
}

/// Opens the source the settings chose.
pub fn open(settings: &Settings) -> Result<Box<dyn Source>, SourceError> {
    match settings.source {
        SourceKind::Dir => {
            // The index decides which Secret answers: it lives only in a cache folder the
            // token cache would trust too.
            let trusted = match crate::cache::TokenCache::check_safe(&settings.cache_dir) {
                Ok(()) => true,
                Err(error) => {
                    crate::debug!("not keeping a summary index: {error}");
                    false
                }
            };
            let index_dir =
                (!settings.no_cache && trusted).then(|| settings.cache_dir.join("dir-index"));
            Ok(Box::new(dir::DirSource::new(
                &settings.secrets_dir,
                index_dir,
            )))
        }
        SourceKind::Kubernetes => Ok(Box::new(kube::KubeSource::new(settings))),
    }
}
