//! The `dir` source: a folder of Secret manifests, the embedded default (SPEC §3).
//!
//! Layout: any `.yaml`, `.yml` or `.json` file under the root; a Secret without
//! `metadata.namespace` takes the name of the sub-folder directly under the root that holds
//! it. Hidden files and folders are skipped, and so are symlinked folders (no loops). A file
//! that does not parse is skipped with one warning naming it and the line; the rest still
//! resolve. The folder is read once per process, on first use.

use std::cell::OnceCell;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::manifest::{self, Format};
use super::{Listing, Source, SourceError};
use crate::secret::{CredType, Secret, CRED_TYPE_LABEL};

/// How deep sub-folders are followed.
const MAX_DEPTH: usize = 8;

pub struct DirSource {
    root: PathBuf,
    loaded: OnceCell<Vec<Secret>>,
}

impl DirSource {
    pub fn new(root: &Path) -> DirSource {
        DirSource {
            root: root.to_owned(),
            loaded: OnceCell::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every Secret in the folder, read on first use.
    pub fn secrets(&self) -> Result<&[Secret], SourceError> {
        if let Some(secrets) = self.loaded.get() {
            return Ok(secrets);
        }
        let secrets = load_folder(&self.root)?;
        Ok(self.loaded.get_or_init(|| secrets))
    }
}

impl Source for DirSource {
    fn describe(&self) -> String {
        format!("dir ({})", self.root.display())
    }

    fn list(&self, namespaces: &[&str], cred_type: CredType) -> Result<Vec<Listing>, SourceError> {
        let secrets = self.secrets()?;
        Ok(namespaces
            .iter()
            .map(|namespace| Listing {
                namespace: (*namespace).to_owned(),
                secrets: secrets
                    .iter()
                    .filter(|secret| {
                        secret.namespace == *namespace
                            && secret.labels.get(CRED_TYPE_LABEL).map(String::as_str)
                                == Some(cred_type.as_str())
                    })
                    .cloned()
                    .collect(),
            })
            .collect())
    }

    fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, SourceError> {
        Ok(self
            .secrets()?
            .iter()
            .find(|secret| secret.namespace == namespace && secret.name == name)
            .cloned())
    }
}

/// A manifest file found under the root.
struct ManifestFile {
    path: PathBuf,
    format: Format,
    folder_namespace: Option<String>,
}

fn load_folder(root: &Path) -> Result<Vec<Secret>, SourceError> {
    let metadata = fs::metadata(root).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => SourceError::MissingFolder {
            path: root.display().to_string(),
        },
        _ => SourceError::Folder {
            path: root.display().to_string(),
            reason: error.to_string(),
        },
    })?;
    if !metadata.is_dir() {
        return Err(SourceError::Folder {
            path: root.display().to_string(),
            reason: "not a folder".into(),
        });
    }
    let mut files = Vec::new();
    walk(root, None, 0, &mut files).map_err(|error| SourceError::Folder {
        path: root.display().to_string(),
        reason: error.to_string(),
    })?;
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let mut secrets = Vec::new();
    let mut exposed: Vec<&Path> = Vec::new();
    for file in &files {
        match read_manifest_file(file) {
            Ok((parsed, mode)) => {
                if mode & 0o044 != 0 && !parsed.secrets.is_empty() {
                    exposed.push(&file.path);
                }
                for warning in parsed.warnings {
                    crate::warn!("{}: {warning}", file.path.display());
                }
                secrets.extend(parsed.secrets);
            }
            Err(message) => crate::warn!("skipping {}: {message}", file.path.display()),
        }
    }
    if let Some(first) = exposed.first() {
        crate::warn!(
            "{} manifest file(s) holding Secrets are readable by group or others, e.g. {} (chmod 600 them)",
            exposed.len(),
            first.display()
        );
    }
    Ok(secrets)
}

fn read_manifest_file(file: &ManifestFile) -> Result<(manifest::Parsed, u32), String> {
    let bytes = fs::read(&file.path).map_err(|error| error.to_string())?;
    let mode = fs::metadata(&file.path)
        .map(|metadata| metadata.permissions().mode())
        .unwrap_or(0);
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let parsed = manifest::parse(&text, file.format, file.folder_namespace.as_deref())
        .map_err(|error| error.to_string())?;
    Ok((parsed, mode))
}

fn walk(
    folder: &Path,
    namespace: Option<&str>,
    depth: usize,
    files: &mut Vec<ManifestFile>,
) -> std::io::Result<()> {
    for entry in fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, namespace.or(Some(name)), depth + 1, files)?;
            }
            continue;
        }
        // A symlink to a file is followed; a symlink to a folder is not (no loops).
        if file_type.is_symlink() && !fs::metadata(&path).map(|m| m.is_file()).unwrap_or(false) {
            continue;
        }
        let format = match Path::new(name).extension().and_then(|ext| ext.to_str()) {
            Some("yaml") | Some("yml") => Format::Yaml,
            Some("json") => Format::Json,
            _ => continue,
        };
        files.push(ManifestFile {
            path,
            format,
            folder_namespace: namespace.map(str::to_owned),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "kind: Secret\nmetadata:\n  name: good\n  labels: {kargo.akuity.io/cred-type: git}\nstringData: {repoURL: 'https://x/y', username: u, password: p}\n";

    #[test]
    fn reads_sub_folders_skips_hidden_and_malformed() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("kargo-demo/nested")).unwrap();
        fs::create_dir_all(root.path().join(".git")).unwrap();
        fs::write(root.path().join("kargo-demo/nested/a.yaml"), GOOD).unwrap();
        fs::write(
            root.path().join(".git/b.yaml"),
            GOOD.replace("good", "hidden"),
        )
        .unwrap();
        fs::write(
            root.path().join("kargo-demo/.c.yaml"),
            GOOD.replace("good", "hidden2"),
        )
        .unwrap();
        fs::write(root.path().join("kargo-demo/broken.yaml"), "kind: [\n").unwrap();
        fs::write(root.path().join("kargo-demo/notes.txt"), GOOD).unwrap();
        let source = DirSource::new(root.path());
        let listing = source.list(&["kargo-demo"], CredType::Git).unwrap();
        let names: Vec<_> = listing[0].secrets.iter().map(Secret::id).collect();
        assert_eq!(names, vec!["kargo-demo/good"]);
        assert!(source.list(&["kargo-demo"], CredType::Image).unwrap()[0]
            .secrets
            .is_empty());
        assert!(source.get("kargo-demo", "good").unwrap().is_some());
    }

    #[test]
    fn missing_folder_is_a_clear_error() {
        let error = DirSource::new(Path::new("/nonexistent/kargo"))
            .secrets()
            .unwrap_err();
        assert!(error.to_string().contains("/nonexistent/kargo"));
    }

    #[test]
    fn symlinked_folder_loops_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("ns")).unwrap();
        fs::write(root.path().join("ns/a.yaml"), GOOD).unwrap();
        std::os::unix::fs::symlink(root.path(), root.path().join("ns/loop")).unwrap();
        let source = DirSource::new(root.path());
        assert_eq!(source.secrets().unwrap().len(), 1);
    }
}
