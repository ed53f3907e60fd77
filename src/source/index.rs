//! The `dir` source's summary index: per manifest file, what resolution needs to know of
//! each Secret (namespace, name, type label, `repoURL`) and where its document is, so that
//! a warm lookup parses no YAML but the winner's. It holds no secret values, only what
//! `kargo-creds get credentials` shows in clear.
//!
//! Entries are trusted only while the file's size, inode and timestamps are unchanged. The
//! index is a cache: unreadable, corrupt or from another version means "parse again", and
//! failing to write it is not an error.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::manifest::Format;
use crate::secret::{keys, Secret, CRED_TYPE_LABEL};

const VERSION: u32 = 1;

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub len: u64,
    pub inode: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub mode: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileSummary {
    pub path: String,
    pub stamp: FileStamp,
    pub format: Format,
    pub folder_namespace: Option<String>,
    pub secrets: Vec<SecretSummary>,
    /// What parsing the file said (replayed on every run, like a fresh parse).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretSummary {
    pub namespace: String,
    pub name: String,
    pub cred_type: Option<String>,
    pub has_data: bool,
    pub repo_url: Option<String>,
    /// A `repoURL` that is not UTF-8 (resolution skips such a Secret).
    #[serde(default)]
    pub repo_url_invalid: bool,
    pub is_regex: bool,
    /// The byte range of the document that holds it.
    pub start: usize,
    pub end: usize,
}

impl SecretSummary {
    pub fn of(secret: &Secret, start: usize, end: usize) -> SecretSummary {
        let repo_url = secret.text(keys::REPO_URL);
        SecretSummary {
            namespace: secret.namespace.clone(),
            name: secret.name.clone(),
            cred_type: secret.labels.get(CRED_TYPE_LABEL).cloned(),
            has_data: secret.data.is_some(),
            repo_url_invalid: repo_url.is_err(),
            repo_url: repo_url.ok().flatten().map(str::to_owned),
            is_regex: secret.is_regex(),
            start,
            end,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct IndexFile {
    version: u32,
    root: String,
    files: Vec<FileSummary>,
}

/// The index of `root`, by file path; empty when there is none or it cannot be used.
pub fn read(index_dir: &Path, root: &Path) -> HashMap<String, FileSummary> {
    let Ok(text) = fs::read(index_path(index_dir, root)) else {
        return HashMap::new();
    };
    match serde_json::from_slice::<IndexFile>(&text) {
        Ok(index) if index.version == VERSION && index.root == root_key(root) => index
            .files
            .into_iter()
            .map(|file| (file.path.clone(), file))
            .collect(),
        _ => HashMap::new(),
    }
}

/// Replaces the index of `root` atomically (temporary file, then rename).
pub fn write(index_dir: &Path, root: &Path, files: &[FileSummary]) {
    if let Err(error) = try_write(index_dir, root, files) {
        crate::debug!(
            "not keeping a summary index in {}: {error}",
            index_dir.display()
        );
    }
}

fn try_write(index_dir: &Path, root: &Path, files: &[FileSummary]) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(index_dir)?;
    let index = IndexFile {
        version: VERSION,
        root: root_key(root),
        files: files.to_vec(),
    };
    let bytes = serde_json::to_vec(&index).map_err(std::io::Error::other)?;
    let path = index_path(index_dir, root);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let temporary = path.with_extension(format!("tmp.{}.{nanos}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    let written = file
        .write_all(&bytes)
        .and_then(|_| fs::rename(&temporary, &path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

fn root_key(root: &Path) -> String {
    fs::canonicalize(root)
        .unwrap_or_else(|_| root.to_owned())
        .display()
        .to_string()
}

/// One index per secrets folder, named by a hash of its path.
fn index_path(index_dir: &Path, root: &Path) -> PathBuf {
    index_dir.join(format!("{:016x}.json", fnv1a(root_key(root).as_bytes())))
}

/// FNV-1a: stable across builds, which `std`'s hasher is not.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
