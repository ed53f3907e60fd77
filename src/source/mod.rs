//! Where Secrets come from (SPEC §3). Nothing outside this module knows.
//!
//! A source lists the Secrets of a namespace that carry `kargo.akuity.io/cred-type=<type>`,
//! and gets one Secret by name.

pub mod dir;
pub mod index;
pub mod manifest;

use crate::config::{Settings, SourceKind};
use crate::secret::{CredType, Secret};

/// What listing one namespace produced.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub namespace: String,
    pub secrets: Vec<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("secrets folder {path} does not exist (create it, or set --secrets-dir / KARGO_CREDS_SECRETS_DIR)")]
    MissingFolder { path: String },
    #[error("reading secrets folder {path}: {reason}")]
    Folder { path: String, reason: String },
    #[error("the kubernetes source is not available in this build: use --source dir with a secrets folder")]
    KubernetesUnavailable,
}

/// A place Secrets are read from.
pub trait Source {
    /// One line for `--explain` and `doctor`: which source, where.
    fn describe(&self) -> String;

    /// The Secrets labelled with `cred_type` in each namespace, in the order given.
    fn list(&self, namespaces: &[&str], cred_type: CredType) -> Result<Vec<Listing>, SourceError>;

    /// One Secret by name, whatever its labels.
    fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, SourceError>;

    /// The whole Secret behind one that [`Source::list`] returned. A source may list
    /// summaries (name, labels, `repoURL`) and read the rest only for the Secret that wins.
    fn complete(&self, secret: Secret) -> Result<Secret, SourceError> {
        Ok(secret)
    }
}

/// Opens the source the settings chose.
pub fn open(settings: &Settings) -> Result<Box<dyn Source>, SourceError> {
    match settings.source {
        SourceKind::Dir => {
            let index_dir = (!settings.no_cache).then(|| settings.cache_dir.join("dir-index"));
            Ok(Box::new(dir::DirSource::new(
                &settings.secrets_dir,
                index_dir,
            )))
        }
        SourceKind::Kubernetes => Err(SourceError::KubernetesUnavailable),
    }
}
