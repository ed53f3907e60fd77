//! The `dir` source's summary index: per manifest file, what resolution needs to know of
//! each Secret (namespace, name, type label, `repoURL`) and where its document is, so that
//! a warm lookup parses no YAML but the winner's. It holds no secret values, only what
//! `kargo-creds get credentials` shows in clear.
//!
//! Entries are trusted only while the file's size, inode and timestamps are unchanged. The
//! index is a cache: unreadable, corrupt or from another version means "parse again", and
//! failing to write it is not an error.
//!
//! The format is tab-separated lines, not JSON: reading it is on the start-up path of every
//! lookup, and splitting lines is several times cheaper than a JSON parse.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::manifest::Format;
use crate::resolve;
use crate::secret::{keys, trim_one_newline, CredType, Secret, CRED_TYPE_LABEL};

const MAGIC: &str = "kargo-creds dir index 4";

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub len: u64,
    pub inode: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub mode: u32,
}

#[derive(Debug, Clone)]
pub struct FileSummary {
    pub path: String,
    pub stamp: FileStamp,
    pub format: Format,
    pub folder_namespace: Option<String>,
    pub secrets: Vec<SecretSummary>,
    /// What parsing the file said (replayed on every run, like a fresh parse).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecretSummary {
    /// Shared between the Secrets of a file (most have the same namespace and type).
    pub namespace: Rc<str>,
    pub name: String,
    pub cred_type: Option<Rc<str>>,
    pub has_data: bool,
    pub repo_url: Option<String>,
    /// A `repoURL` that is not UTF-8 (resolution skips such a Secret).
    pub repo_url_invalid: bool,
    pub is_regex: bool,
    /// An exact `repoURL` normalized for the Secret's own type (saves normalizing
    /// thousands of URLs on every lookup).
    pub normalized: Option<String>,
    /// The byte range of the document that holds it.
    pub start: usize,
    pub end: usize,
}

impl SecretSummary {
    pub fn of(secret: &Secret, start: usize, end: usize) -> SecretSummary {
        let repo_url = secret.text(keys::REPO_URL);
        let cred_type: Option<Rc<str>> = secret
            .labels
            .get(CRED_TYPE_LABEL)
            .map(|label| label.as_str().into());
        let normalized = match (&repo_url, cred_type.as_deref().map(str::parse::<CredType>)) {
            (Ok(Some(url)), Some(Ok(cred_type))) if !secret.is_regex() => {
                Some(resolve::normalize(cred_type, trim_one_newline(url)))
            }
            _ => None,
        };
        SecretSummary {
            namespace: secret.namespace.as_str().into(),
            name: secret.name.clone(),
            cred_type,
            has_data: secret.data.is_some(),
            repo_url_invalid: repo_url.is_err(),
            repo_url: repo_url.ok().flatten().map(str::to_owned),
            is_regex: secret.is_regex(),
            normalized,
            start,
            end,
        }
    }
}

/// The index of `root`, by file path; empty when there is none or it cannot be used.
pub fn read(index_dir: &Path, root: &Path) -> HashMap<String, FileSummary> {
    let Ok(text) = fs::read_to_string(index_path(index_dir, root)) else {
        return HashMap::new();
    };
    parse(&text, &root_key(root)).unwrap_or_default()
}

fn parse(text: &str, root: &str) -> Option<HashMap<String, FileSummary>> {
    let mut lines = text.lines();
    if lines.next()? != MAGIC || unescape(lines.next()?.strip_prefix("root\t")?) != root {
        return None;
    }
    let mut files: HashMap<String, FileSummary> = HashMap::new();
    let mut current: Option<FileSummary> = None;
    let mut interned = Interner::default();
    for line in lines {
        let mut fields = Fields(Some(line));
        match fields.next()? {
            "F" => {
                if let Some(file) = current.take() {
                    files.insert(file.path.clone(), file);
                }
                let path = unescape(fields.next()?);
                let stamp = FileStamp {
                    len: fields.next()?.parse().ok()?,
                    inode: fields.next()?.parse().ok()?,
                    mtime_ns: fields.next()?.parse().ok()?,
                    ctime_ns: fields.next()?.parse().ok()?,
                    mode: fields.next()?.parse().ok()?,
                };
                let format = match fields.next()? {
                    "yaml" => Format::Yaml,
                    "json" => Format::Json,
                    _ => return None,
                };
                let folder_namespace = optional(fields.next()?);
                current = Some(FileSummary {
                    path,
                    stamp,
                    format,
                    folder_namespace,
                    secrets: Vec::new(),
                    warnings: Vec::new(),
                });
            }
            "W" => current.as_mut()?.warnings.push(unescape(fields.next()?)),
            "S" => {
                let summary = SecretSummary {
                    namespace: interned.get(fields.next()?),
                    name: unescape(fields.next()?),
                    cred_type: fields
                        .next()?
                        .strip_prefix('=')
                        .map(|label| interned.get(label)),
                    has_data: flag(fields.next()?)?,
                    repo_url: optional(fields.next()?),
                    repo_url_invalid: flag(fields.next()?)?,
                    is_regex: flag(fields.next()?)?,
                    normalized: optional(fields.next()?),
                    start: fields.next()?.parse().ok()?,
                    end: fields.next()?.parse().ok()?,
                };
                current.as_mut()?.secrets.push(summary);
            }
            _ => return None,
        }
    }
    if let Some(file) = current.take() {
        files.insert(file.path.clone(), file);
    }
    Some(files)
}

fn render(root: &str, files: &[FileSummary]) -> String {
    let mut out = format!("{MAGIC}\nroot\t{}\n", escape(root));
    for file in files {
        let stamp = &file.stamp;
        let format = match file.format {
            Format::Yaml => "yaml",
            Format::Json => "json",
        };
        out.push_str(&format!(
            "F\t{}\t{}\t{}\t{}\t{}\t{}\t{format}\t{}\n",
            escape(&file.path),
            stamp.len,
            stamp.inode,
            stamp.mtime_ns,
            stamp.ctime_ns,
            stamp.mode,
            render_optional(file.folder_namespace.as_deref()),
        ));
        for warning in &file.warnings {
            out.push_str(&format!("W\t{}\n", escape(warning)));
        }
        for s in &file.secrets {
            out.push_str(&format!(
                "S\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                escape(&s.namespace),
                escape(&s.name),
                render_optional(s.cred_type.as_deref()),
                u8::from(s.has_data),
                render_optional(s.repo_url.as_deref()),
                u8::from(s.repo_url_invalid),
                u8::from(s.is_regex),
                render_optional(s.normalized.as_deref()),
                s.start,
                s.end,
            ));
        }
    }
    out
}

/// Hands out one shared string per distinct field (a few namespaces and types, thousands
/// of Secrets): known by the field as written, unescaped once.
#[derive(Default)]
struct Interner(Vec<(String, Rc<str>)>);

impl Interner {
    fn get(&mut self, field: &str) -> Rc<str> {
        if let Some((_, known)) = self.0.iter().find(|(written, _)| written == field) {
            return known.clone();
        }
        let shared: Rc<str> = unescape(field).into();
        self.0.push((field.to_owned(), shared.clone()));
        shared
    }
}

/// The tab-separated fields of a line, as `line.split('\t')` gives them. A plain loop over
/// bytes: most fields are a few bytes long, where `split`'s searcher costs more per call
/// than it saves (a third of a warm 10,000-Secret lookup went to it).
struct Fields<'a>(Option<&'a str>);

impl<'a> Iterator for Fields<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0?;
        match rest.bytes().position(|byte| byte == b'\t') {
            Some(at) => {
                self.0 = Some(&rest[at + 1..]);
                Some(&rest[..at])
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

/// `None` is an empty field; `Some(text)` is `=` followed by the text.
fn render_optional(value: Option<&str>) -> String {
    value.map_or_else(String::new, |text| format!("={}", escape(text)))
}

fn optional(field: &str) -> Option<String> {
    field.strip_prefix('=').map(unescape)
}

fn flag(field: &str) -> Option<bool> {
    match field {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

fn escape(text: &str) -> String {
    if !text.contains(['\\', '\t', '\n', '\r']) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    if !text.bytes().any(|byte| byte == b'\\') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
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
    crate::fsutil::create_private_dir(index_dir)?;
    crate::fsutil::write_atomically(
        &index_path(index_dir, root),
        render(&root_key(root), files).as_bytes(),
        0o600,
    )
}

fn root_key(root: &Path) -> String {
    fs::canonicalize(root)
        .unwrap_or_else(|_| root.to_owned())
        .display()
        .to_string()
}

/// One index per secrets folder, named by a hash of its path.
fn index_path(index_dir: &Path, root: &Path) -> PathBuf {
    index_dir.join(format!("{:016x}.tsv", fnv1a(root_key(root).as_bytes())))
}

/// FNV-1a: stable across builds, which `std`'s hasher is not.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_like_str_split() {
        for line in ["", "a", "a\tb", "\t", "a\t\tb\t", "S\tns\t=x\\ty\t", "\t\t"] {
            let ours: Vec<&str> = Fields(Some(line)).collect();
            let std: Vec<&str> = line.split('\t').collect();
            assert_eq!(ours, std, "{line:?}");
        }
    }

    #[test]
    fn interner_shares_one_string_per_field_and_unescapes_it() {
        let mut interned = Interner::default();
        let first = interned.get("a\\tb");
        let again = interned.get("a\\tb");
        assert_eq!(&*first, "a\tb");
        assert!(Rc::ptr_eq(&first, &again));
        assert_eq!(&*interned.get("ns"), "ns");
    }

    #[test]
    fn round_trips_awkward_text() {
        let file = FileSummary {
            path: "/x/a\tb.yaml".into(),
            stamp: FileStamp {
                len: 1,
                inode: 2,
                mtime_ns: -3,
                ctime_ns: 4,
                mode: 0o600,
            },
            format: Format::Yaml,
            folder_namespace: None,
            secrets: vec![SecretSummary {
                namespace: "ns".into(),
                name: "n".into(),
                cred_type: Some("git".into()),
                has_data: true,
                repo_url: Some("^a\\.b\n=\\t".into()),
                repo_url_invalid: false,
                is_regex: true,
                normalized: None,
                start: 5,
                end: 9,
            }],
            warnings: vec!["line 3:\tbad\\".into()],
        };
        let text = render("/root", std::slice::from_ref(&file));
        let parsed = parse(&text, "/root").unwrap();
        let back = &parsed["/x/a\tb.yaml"];
        assert_eq!(back.secrets, file.secrets);
        assert_eq!(back.warnings, file.warnings);
        assert_eq!(back.stamp, file.stamp);
        assert!(parse(&text, "/other").is_none());
        assert!(parse(&text.replace("S\t", "X\t"), "/root").is_none());
        assert!(parse("", "/root").is_none());
    }
}
