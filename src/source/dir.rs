//! The `dir` source: a folder of Secret manifests, the embedded default (SPEC §3).
//!
//! Layout: any `.yaml`, `.yml` or `.json` file under the root; a Secret without
//! `metadata.namespace` takes the name of the sub-folder directly under the root that holds
//! it. Hidden files and folders are skipped. A symlink to a file is followed (wherever it
//! points, as `kubectl apply -f` does); a symlink to a folder is not (no loops), and neither
//! is a dangling one: each is skipped with a warning naming it. A file that does not parse,
//! or is larger than [`MAX_MANIFEST_BYTES`], is skipped with one warning naming it (and the
//! line); the rest still resolve.
//!
//! Parsing YAML is the slowest thing a helper does, so listing works from *summaries*
//! (namespace, name, type label, `repoURL`, where the document is) that a small index in the
//! cache folder keeps per file, keyed by the file's size, inode and timestamps. Only changed
//! files are parsed again, and only the winning Secret's own document is parsed in full
//! ([`Source::complete`]): listing hands out [`Listed::Summary`] references, not Secrets. The
//! index holds no secret values.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fs;
use std::hash::{BuildHasherDefault, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::index::{self, FileStamp, FileSummary, SecretSummary};
use super::manifest::{self, Format};
use super::{Listed, Listing, Source, SourceError};
use crate::secret::{CredType, Secret};

/// How deep sub-folders are followed.
const MAX_DEPTH: usize = 8;

/// Manifest files larger than this are skipped with a warning, unread: a Kubernetes object
/// is at most about 1.5 MiB, and parsing YAML costs many times its size in memory.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

pub struct DirSource {
    root: PathBuf,
    index_dir: Option<PathBuf>,
    loaded: OnceCell<Loaded>,
}

/// What `kargo-creds doctor` reports about the folder (never a value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Manifest files found (`.yaml`, `.yml`, `.json`, hidden ones skipped).
    pub files: usize,
    /// Secrets per namespace.
    pub secrets: std::collections::BTreeMap<String, usize>,
    /// Files holding Secrets that group or others may read.
    pub exposed: Vec<String>,
}

/// The folder as summarized, each `namespace/name` once.
struct Loaded {
    files: Vec<FileSummary>,
}

impl Loaded {
    /// The file holding a Secret, and its summary.
    fn find(&self, namespace: &str, name: &str) -> Option<(&FileSummary, &SecretSummary)> {
        self.files.iter().find_map(|file| {
            file.secrets
                .iter()
                .find(|summary| &*summary.namespace == namespace && summary.name == name)
                .map(|summary| (file, summary))
        })
    }
}

impl DirSource {
    /// `index_dir`: where to keep the summary index (`None`: parse every time).
    pub fn new(root: &Path, index_dir: Option<PathBuf>) -> DirSource {
        DirSource {
            // Absolute, so that the index means the same files from any working directory.
            root: fs::canonicalize(root).unwrap_or_else(|_| root.to_owned()),
            index_dir,
            loaded: OnceCell::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn loaded(&self) -> Result<&Loaded, SourceError> {
        if let Some(loaded) = self.loaded.get() {
            return Ok(loaded);
        }
        let loaded = load_folder(&self.root, self.index_dir.as_deref())?;
        Ok(self.loaded.get_or_init(|| loaded))
    }

    /// How many files and Secrets the folder holds, and which files are too open.
    pub fn inventory(&self) -> Result<Inventory, SourceError> {
        let loaded = self.loaded()?;
        let mut inventory = Inventory {
            files: loaded.files.len(),
            ..Inventory::default()
        };
        for file in &loaded.files {
            for summary in &file.secrets {
                *inventory
                    .secrets
                    .entry(summary.namespace.to_string())
                    .or_default() += 1;
            }
            if is_exposed(file) {
                inventory.exposed.push(file.path.clone());
            }
        }
        Ok(inventory)
    }

    /// Every Secret of the folder, complete (parses every document: for tests and tools).
    pub fn secrets(&self) -> Result<Vec<Secret>, SourceError> {
        let loaded = self.loaded()?;
        let mut secrets = Vec::new();
        for file in &loaded.files {
            for summary in &file.secrets {
                secrets.push(complete_from(file, summary)?);
            }
        }
        Ok(secrets)
    }
}

impl Source for DirSource {
    fn describe(&self) -> String {
        format!("dir ({})", self.root.display())
    }

    fn list(
        &self,
        namespaces: &[&str],
        cred_type: CredType,
    ) -> Result<Vec<Listing<'_>>, SourceError> {
        let loaded = self.loaded()?;
        let summaries = || loaded.files.iter().flat_map(|file| file.secrets.iter());
        Ok(namespaces
            .iter()
            .map(|namespace| Listing {
                namespace: (*namespace).to_owned(),
                secrets: summaries()
                    .filter(|s| {
                        &*s.namespace == *namespace
                            && s.cred_type.as_deref() == Some(cred_type.as_str())
                    })
                    .map(Listed::Summary)
                    .collect(),
                forbidden: None,
            })
            .collect())
    }

    fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, SourceError> {
        let loaded = self.loaded()?;
        match loaded.find(namespace, name) {
            Some((file, summary)) => complete_from(file, summary).map(Some),
            None => Ok(None),
        }
    }

    fn create(&self, secret: &Secret) -> Result<(), SourceError> {
        if self
            .loaded()?
            .find(&secret.namespace, &secret.name)
            .is_some()
        {
            return Err(SourceError::AlreadyExists { id: secret.id() });
        }
        let folder = self.root.join(&secret.namespace);
        let path = folder.join(format!("{}.yaml", secret.name));
        if path.exists() {
            return Err(write_error(
                &path,
                "a file of that name exists and holds no such Secret".into(),
            ));
        }
        crate::fsutil::create_private_dir(&folder)
            .map_err(|e| write_error(&folder, e.to_string()))?;
        write_file(&path, &manifest::render(secret, Format::Yaml))
    }

    fn replace(&self, secret: &Secret) -> Result<(), SourceError> {
        let (file, summary) = self.located(&secret.namespace, &secret.name)?;
        let text = read_file(&file.path)?;
        let rendered = manifest::render(secret, file.format);
        let updated = match file.format {
            Format::Json
                if serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["kind"].as_str().map(str::to_owned))
                    .as_deref()
                    == Some("Secret") =>
            {
                rendered
            }
            Format::Json => {
                return Err(write_error(
                    Path::new(&file.path),
                    format!(
                        "secret {} is inside a List there; edit that file by hand",
                        secret.id()
                    ),
                ))
            }
            Format::Yaml => {
                let document = &text[summary.start..summary.end];
                let marker = document
                    .lines()
                    .next()
                    .filter(|line| line.starts_with("---"))
                    .map(|line| format!("{line}\n"));
                format!(
                    "{}{}{rendered}{}",
                    &text[..summary.start],
                    marker.unwrap_or_default(),
                    &text[summary.end..]
                )
            }
        };
        write_file(Path::new(&file.path), &updated)
    }

    fn delete(&self, namespace: &str, name: &str) -> Result<(), SourceError> {
        let (file, summary) = self.located(namespace, name)?;
        let text = read_file(&file.path)?;
        let remaining = format!("{}{}", &text[..summary.start], &text[summary.end..]);
        let nothing_left = file.format == Format::Json
            || manifest::split_yaml_documents(&remaining)
                .iter()
                .all(|&(start, end, _)| is_blank_document(&remaining[start..end]));
        if nothing_left {
            fs::remove_file(&file.path)
                .map_err(|e| write_error(Path::new(&file.path), e.to_string()))
        } else {
            write_file(Path::new(&file.path), &remaining)
        }
    }

    fn complete(&self, listed: &Listed<'_>) -> Result<Secret, SourceError> {
        match listed {
            Listed::Whole(secret) => Ok(secret.as_ref().clone()),
            Listed::Summary(summary) => {
                match self.loaded()?.find(&summary.namespace, &summary.name) {
                    Some((file, summary)) => complete_from(file, summary),
                    None => Err(SourceError::Folder {
                        path: self.root.display().to_string(),
                        reason: format!(
                            "secret {}/{} is no longer listed",
                            summary.namespace, summary.name
                        ),
                    }),
                }
            }
        }
    }
}

impl DirSource {
    /// Where a Secret lives, for a writer: its file must hold it alone (a JSON file) or as
    /// its own document (YAML), so that rewriting it touches nothing else.
    fn located(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<(&FileSummary, &SecretSummary), SourceError> {
        let (file, summary) =
            self.loaded()?
                .find(namespace, name)
                .ok_or_else(|| SourceError::NotFound {
                    id: format!("{namespace}/{name}"),
                })?;
        let shares_document = file
            .secrets
            .iter()
            .filter(|other| (other.start, other.end) == (summary.start, summary.end))
            .count()
            > 1;
        if shares_document || (file.format == Format::Json && file.secrets.len() > 1) {
            return Err(write_error(
                Path::new(&file.path),
                format!("secret {namespace}/{name} shares a List with other Secrets there; edit that file by hand"),
            ));
        }
        Ok((file, summary))
    }
}

fn read_file(path: &str) -> Result<String, SourceError> {
    fs::read_to_string(path).map_err(|e| SourceError::Folder {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), SourceError> {
    crate::fsutil::write_atomically(path, text.as_bytes(), 0o600)
        .map_err(|e| write_error(path, e.to_string()))
}

fn write_error(path: &Path, reason: String) -> SourceError {
    SourceError::Write {
        path: path.display().to_string(),
        reason,
    }
}

/// Only comments, blank lines and document markers.
fn is_blank_document(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---" || line == "..."
    })
}

/// Parses the one document that holds a Secret.
fn complete_from(file: &FileSummary, summary: &SecretSummary) -> Result<Secret, SourceError> {
    let folder_error = |reason: String| SourceError::Folder {
        path: file.path.clone(),
        reason,
    };
    let text = read_capped(Path::new(&file.path))
        .and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))
        })
        .map_err(|error| folder_error(error.to_string()))?;
    let document = text
        .get(summary.start..summary.end)
        .ok_or_else(|| folder_error("changed while being read".into()))?;
    let parsed = manifest::parse(document, file.format, file.folder_namespace.as_deref())
        .map_err(|error| folder_error(error.to_string()))?;
    let mut found = parsed
        .secrets
        .into_iter()
        .find(|secret| *secret.namespace == *summary.namespace && secret.name == summary.name);
    if let Some(secret) = &mut found {
        // A manifest has no creationTimestamp: its file's age is the next best thing.
        secret.server.created_at = Some((file.stamp.mtime_ns / 1_000_000_000) as i64);
    }
    found.ok_or_else(|| {
        folder_error(format!(
            "secret {}/{} changed while being read",
            summary.namespace, summary.name
        ))
    })
}

/// Reads a manifest, failing rather than reading more than [`MAX_MANIFEST_BYTES`] (the
/// file may have grown since it was listed).
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_MANIFEST_BYTES >> 20),
        ));
    }
    Ok(bytes)
}

/// A manifest file found under the root.
struct ManifestFile {
    path: PathBuf,
    format: Format,
    folder_namespace: Option<String>,
    stamp: FileStamp,
}

fn load_folder(root: &Path, index_dir: Option<&Path>) -> Result<Loaded, SourceError> {
    let root_error = |reason: String| SourceError::Folder {
        path: root.display().to_string(),
        reason,
    };
    let metadata = fs::metadata(root).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => SourceError::MissingFolder {
            path: root.display().to_string(),
        },
        _ => root_error(error.to_string()),
    })?;
    if !metadata.is_dir() {
        return Err(root_error("not a folder".into()));
    }
    let mut found = Vec::new();
    walk(root, None, 0, &mut found).map_err(|error| root_error(error.to_string()))?;
    found.sort_by(|a, b| a.path.cmp(&b.path));

    let mut previous = index_dir
        .map(|dir| index::read(dir, root))
        .unwrap_or_default();
    let mut changed = previous.len() != found.len();
    let mut files = Vec::with_capacity(found.len());
    for file in found {
        let path = file.path.display().to_string();
        let summary = match previous.remove(&path) {
            Some(known)
                if known.stamp == file.stamp && known.folder_namespace == file.folder_namespace =>
            {
                known
            }
            _ => {
                changed = true;
                summarize(&file, path)
            }
        };
        files.push(summary);
    }
    if changed {
        if let Some(dir) = index_dir {
            index::write(dir, root, &files);
        }
    }
    report(&files);
    Ok(drop_duplicates(files))
}

/// Parses one file into summaries. A file that does not parse has none, and one warning.
fn summarize(file: &ManifestFile, path: String) -> FileSummary {
    let mut summary = FileSummary {
        path,
        stamp: file.stamp.clone(),
        format: file.format,
        folder_namespace: file.folder_namespace.clone(),
        secrets: Vec::new(),
        warnings: Vec::new(),
    };
    if file.stamp.len > MAX_MANIFEST_BYTES {
        summary.warnings.push(format!(
            "skipping it: it is larger than {} MiB ({} bytes), too large for a Secret manifest",
            MAX_MANIFEST_BYTES >> 20,
            file.stamp.len
        ));
        return summary;
    }
    let text = match read_capped(&file.path).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => {
            summary.warnings.push("skipping it: not UTF-8 text".into());
            return summary;
        }
        Err(error) => {
            summary.warnings.push(format!("skipping it: {error}"));
            return summary;
        }
    };
    let documents = match file.format {
        Format::Json => vec![(0, text.len(), 0)],
        Format::Yaml => manifest::split_yaml_documents(&text),
    };
    for (start, end, first_line) in documents {
        match manifest::parse(
            &text[start..end],
            file.format,
            file.folder_namespace.as_deref(),
        ) {
            Ok(parsed) => {
                summary.warnings.extend(parsed.warnings);
                for secret in parsed.secrets {
                    summary.secrets.push(SecretSummary::of(&secret, start, end));
                }
            }
            Err(error) => {
                let line = error.line.map(|line| line + first_line);
                summary.secrets.clear();
                summary.warnings = vec![format!(
                    "skipping it: {}{}",
                    line.map(|line| format!("line {line}: "))
                        .unwrap_or_default(),
                    error.message
                )];
                return summary;
            }
        }
    }
    summary
}

/// A file holding Secrets that group or others may read (like ssh, a warning, not a refusal).
fn is_exposed(file: &FileSummary) -> bool {
    file.stamp.mode & 0o044 != 0 && !file.secrets.is_empty()
}

/// Replays what parsing the folder said, whether it was parsed now or summarized earlier.
fn report(files: &[FileSummary]) {
    let mut exposed = files.iter().filter(|file| is_exposed(file));
    if let Some(first) = exposed.next() {
        crate::warn!(
            "{} manifest file(s) holding Secrets are readable by group or others, e.g. {} (chmod 600 them)",
            1 + exposed.count(),
            first.path
        );
    }
    for file in files {
        for warning in &file.warnings {
            crate::warn!("{}: {warning}", file.path);
        }
    }
}

/// FNV-1a for small in-process maps: SipHash's flood resistance buys nothing here, and
/// thousands of keys are hashed on every lookup.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let start = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        self.0 = bytes.iter().fold(start, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    }
}

/// A `namespace/name` defined twice keeps its first definition, with a warning.
fn drop_duplicates(mut files: Vec<FileSummary>) -> Loaded {
    let mut duplicates = Vec::new();
    {
        // Sized up front: growing it rehashes every Secret seen so far, again and again.
        let secrets = files.iter().map(|file| file.secrets.len()).sum();
        let mut first_seen: HashMap<(&str, &str), usize, BuildHasherDefault<Fnv>> =
            HashMap::with_capacity_and_hasher(secrets, BuildHasherDefault::default());
        for (file_index, file) in files.iter().enumerate() {
            for (secret_index, summary) in file.secrets.iter().enumerate() {
                let key = (&*summary.namespace, summary.name.as_str());
                if let Some(&first) = first_seen.get(&key) {
                    crate::warn!(
                        "{}: secret {}/{} is defined again (first in {}); ignoring this one",
                        file.path,
                        summary.namespace,
                        summary.name,
                        files[first].path
                    );
                    duplicates.push((file_index, secret_index));
                } else {
                    first_seen.insert(key, file_index);
                }
            }
        }
    }
    for (file_index, secret_index) in duplicates.into_iter().rev() {
        files[file_index].secrets.remove(secret_index);
    }
    Loaded { files }
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
        let format = match Path::new(name).extension().and_then(|ext| ext.to_str()) {
            Some("yaml") | Some("yml") => Format::Yaml,
            Some("json") => Format::Json,
            _ if file_type.is_symlink() && path.is_dir() => {
                crate::warn!(
                    "{}: skipping it: a symbolic link to a folder, which is not followed",
                    path.display()
                );
                continue;
            }
            _ => continue,
        };
        // A symlink to a file is followed; a symlink to a folder is not (no loops).
        let metadata = match fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) => {
                crate::warn!(
                    "{}: skipping it: {}",
                    path.display(),
                    if file_type.is_symlink() {
                        format!("a symbolic link that leads to no file ({error})")
                    } else {
                        error.to_string()
                    }
                );
                continue;
            }
        };
        if !metadata.is_file() {
            crate::warn!(
                "{}: skipping it: {}",
                path.display(),
                if metadata.is_dir() {
                    "a symbolic link to a folder, which is not followed"
                } else {
                    "not a regular file"
                }
            );
            continue;
        }
        files.push(ManifestFile {
            path,
            format,
            folder_namespace: namespace.map(str::to_owned),
            stamp: FileStamp {
                len: metadata.len(),
                inode: metadata.ino(),
                mtime_ns: metadata.mtime() as i128 * 1_000_000_000 + metadata.mtime_nsec() as i128,
                ctime_ns: metadata.ctime() as i128 * 1_000_000_000 + metadata.ctime_nsec() as i128,
                mode: metadata.mode(),
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::Candidate;

    const GOOD: &str = "kind: Secret\nmetadata:\n  name: good\n  labels: {kargo.akuity.io/cred-type: git}\nstringData: {repoURL: 'https://x/y', username: u, password: p}\n";

    fn ids(source: &DirSource, namespace: &str, cred_type: CredType) -> Vec<String> {
        source.list(&[namespace], cred_type).unwrap()[0]
            .secrets
            .iter()
            .map(Candidate::id)
            .collect()
    }

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
        let source = DirSource::new(root.path(), None);
        assert_eq!(
            ids(&source, "kargo-demo", CredType::Git),
            vec!["kargo-demo/good"]
        );
        assert!(ids(&source, "kargo-demo", CredType::Image).is_empty());
        let full = source.get("kargo-demo", "good").unwrap().unwrap();
        assert_eq!(full.text("password").unwrap(), Some("p"));
    }

    #[test]
    fn missing_folder_is_a_clear_error() {
        let error = DirSource::new(Path::new("/nonexistent/kargo"), None)
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
        let source = DirSource::new(root.path(), None);
        assert_eq!(source.secrets().unwrap().len(), 1);
    }

    #[test]
    fn index_is_reused_and_follows_changes_without_holding_secret_values() {
        let root = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let index_dir = cache.path().join("dir-index");
        fs::create_dir_all(root.path().join("ns")).unwrap();
        let many: Vec<String> = (0..3)
            .map(|i| {
                GOOD.replace("good", &format!("s{i}"))
                    .replace("password: p", &format!("password: pw-{i}"))
            })
            .collect();
        fs::write(root.path().join("ns/a.yaml"), many.join("---\n")).unwrap();

        let first = DirSource::new(root.path(), Some(index_dir.clone()));
        assert_eq!(ids(&first, "ns", CredType::Git).len(), 3);
        let index_files: Vec<_> = fs::read_dir(&index_dir).unwrap().collect();
        assert_eq!(index_files.len(), 1);
        let index_text = fs::read_to_string(index_files[0].as_ref().unwrap().path()).unwrap();
        assert!(
            !index_text.contains("pw-"),
            "the index must not hold secret values"
        );

        // Served from the index: the right document is completed.
        let second = DirSource::new(root.path(), Some(index_dir.clone()));
        let s1 = second.get("ns", "s1").unwrap().unwrap();
        assert_eq!(s1.text("password").unwrap(), Some("pw-1"));

        // A changed file is parsed again.
        fs::write(
            root.path().join("ns/a.yaml"),
            GOOD.replace("good", "renamed"),
        )
        .unwrap();
        let third = DirSource::new(root.path(), Some(index_dir));
        assert_eq!(ids(&third, "ns", CredType::Git), vec!["ns/renamed"]);
    }

    #[test]
    fn a_name_defined_twice_keeps_the_first() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("ns")).unwrap();
        fs::write(root.path().join("ns/a.yaml"), GOOD).unwrap();
        fs::write(
            root.path().join("ns/b.yaml"),
            GOOD.replace("password: p", "password: other"),
        )
        .unwrap();
        let source = DirSource::new(root.path(), None);
        assert_eq!(ids(&source, "ns", CredType::Git), vec!["ns/good"]);
        assert_eq!(
            source
                .get("ns", "good")
                .unwrap()
                .unwrap()
                .text("password")
                .unwrap(),
            Some("p")
        );
    }

    #[test]
    fn symlinks_to_files_are_followed_and_others_skipped() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("ns")).unwrap();
        let target = outside.path().join("elsewhere.yaml");
        fs::write(&target, GOOD.replace("good", "linked")).unwrap();
        let link = |to: &Path, name: &str| {
            std::os::unix::fs::symlink(to, root.path().join("ns").join(name)).unwrap()
        };
        link(&target, "linked.yaml");
        link(Path::new("/nonexistent/x.yaml"), "dangling.yaml");
        link(&root.path().join("ns/loop.yaml"), "loop.yaml");
        link(outside.path(), "folder.yaml");
        fs::write(root.path().join("ns/a.yaml"), GOOD).unwrap();
        let source = DirSource::new(root.path(), None);
        assert_eq!(
            ids(&source, "ns", CredType::Git),
            vec!["ns/good", "ns/linked"]
        );
    }

    #[test]
    fn a_manifest_over_the_size_cap_is_skipped_unread() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("ns")).unwrap();
        fs::write(root.path().join("ns/a.yaml"), GOOD).unwrap();
        let big = fs::File::create(root.path().join("ns/big.yaml")).unwrap();
        big.set_len(MAX_MANIFEST_BYTES + 1).unwrap();
        let source = DirSource::new(root.path(), None);
        assert_eq!(ids(&source, "ns", CredType::Git), vec!["ns/good"]);
        let summary = summarize(
            &ManifestFile {
                path: root.path().join("ns/big.yaml"),
                format: Format::Yaml,
                folder_namespace: None,
                stamp: FileStamp {
                    len: MAX_MANIFEST_BYTES + 1,
                    inode: 0,
                    mtime_ns: 0,
                    ctime_ns: 0,
                    mode: 0o600,
                },
            },
            "big.yaml".into(),
        );
        assert!(
            summary.warnings[0].contains("larger than 16 MiB"),
            "{:?}",
            summary.warnings
        );
        assert!(read_capped(&root.path().join("ns/big.yaml")).is_err());
    }
}
