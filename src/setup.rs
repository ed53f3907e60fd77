//! `kargo-creds setup`: what git's and docker's (or helm's) configuration need so that our
//! helpers answer for some hosts, and the writers that apply it.
//!
//! The plans are pure: [`plan_git_host`] turns what a git config holds for one URL into
//! `git config` edits, [`plan_docker_config`] turns a docker `config.json` into the same JSON
//! with `credHelpers` merged in. The writers never edit a file in place: the new content is
//! made beside it and renamed over it, keeping its mode, so the original stays as it was
//! unless everything worked. Where the files are is [`crate::client_config`].

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Map, Value};

use crate::client_config::DOCKER_HELPER_SUFFIX;
use crate::fsutil;

/// What went wrong while setting up, and in which file.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{file}: not valid JSON ({why}); fix or move it, then run setup again")]
    InvalidJson { file: PathBuf, why: String },
    #[error("{file}: the top level is {found}, not a JSON object")]
    NotAnObject { file: PathBuf, found: &'static str },
    #[error("{file}: \"credHelpers\" is {found}, not a JSON object")]
    CredHelpersNotAnObject { file: PathBuf, found: &'static str },
    #[error("{what} {value:?} is not valid: {why}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{doing} {file}: {source}")]
    Io {
        doing: &'static str,
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("git config refused {file}: {why}")]
    Git { file: PathBuf, why: String },
    #[error("running git: {0} (is git installed and on PATH?)")]
    GitNotRunnable(std::io::Error),
    #[error("cannot find {program} next to this executable ({beside}) or on PATH")]
    HelperNotFound { program: String, beside: PathBuf },
}

fn io_error(doing: &'static str, file: &Path) -> impl FnOnce(std::io::Error) -> SetupError {
    let file = file.to_path_buf();
    move |source| SetupError::Io {
        doing,
        file,
        source,
    }
}

// ---------------------------------------------------------------------------------------
// git: the helper command and the edits
// ---------------------------------------------------------------------------------------

/// Quotes one word for a POSIX shell, only when it needs it: the shell git runs helper
/// commands through (git hands a helper string with any of ``|&;<>()$`\"' *?[#~=%`` to
/// `sh -c`), and `eval` of `kargo-creds get -o env`.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./,:@+".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The `credential.<url>.helper` value that runs `program` (an absolute path), with
/// `--project` when given. Git runs an absolute path as it is; a path that needs quoting
/// would no longer start with `/`, so it gets git's `!` form (a shell command) instead.
pub fn git_helper_command(program: &Path, project: Option<&str>) -> Result<String, SetupError> {
    let path = program
        .to_str()
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| SetupError::InvalidArgument {
            what: "helper path",
            value: program.display().to_string(),
            why: "it must be an absolute path in UTF-8",
        })?;
    let quoted = shell_quote(path);
    let mut command = if quoted == path {
        quoted
    } else {
        format!("!{quoted}")
    };
    if let Some(project) = project {
        command.push_str(" --project ");
        command.push_str(&shell_quote(project));
    }
    Ok(command)
}

/// The URL a `--host` value configures: `https://<host>` for a bare host (with an optional
/// port), or an `http(s)://` URL prefix as given, minus a trailing `/` (git matches
/// `credential.<url>.*` by scheme, host, port and path prefix).
pub fn git_credential_url(host: &str) -> Result<String, SetupError> {
    let invalid = |why| SetupError::InvalidArgument {
        what: "--host",
        value: host.to_owned(),
        why,
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("a host must be non-empty, without spaces"));
    }
    let lower = host.to_ascii_lowercase();
    let url = if lower.starts_with("https://") || lower.starts_with("http://") {
        host.trim_end_matches('/').to_owned()
    } else if host.contains("://") {
        return Err(invalid(
            "only http:// and https:// URLs use credential helpers",
        ));
    } else {
        format!("https://{}", host.trim_end_matches('/'))
    };
    if url
        .split_once("://")
        .is_none_or(|(_, rest)| rest.is_empty())
    {
        return Err(invalid("the URL has no host"));
    }
    Ok(url)
}

/// What a git config holds for one credential URL (in file order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitUrlState {
    pub helpers: Vec<String>,
    pub use_http_path: Vec<String>,
}

/// One `git config` edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitConfigEdit {
    UnsetAll { key: String },
    Add { key: String, value: String },
    ReplaceAll { key: String, value: String },
}

impl GitConfigEdit {
    /// The arguments after `git config --file FILE`.
    pub fn args(&self) -> Vec<&str> {
        match self {
            GitConfigEdit::UnsetAll { key } => vec!["--unset-all", key],
            GitConfigEdit::Add { key, value } => vec!["--add", key, value],
            GitConfigEdit::ReplaceAll { key, value } => vec!["--replace-all", key, value],
        }
    }

    /// The edit as a command a person could run: `git config --file FILE --add KEY VALUE`.
    pub fn render(&self, file: &Path) -> String {
        let mut words = vec![
            "git".to_owned(),
            "config".to_owned(),
            "--file".to_owned(),
            shell_quote(&file.display().to_string()),
        ];
        words.extend(self.args().into_iter().map(shell_quote));
        words.join(" ")
    }
}

pub fn helper_key(url: &str) -> String {
    format!("credential.{url}.helper")
}

pub fn use_http_path_key(url: &str) -> String {
    format!("credential.{url}.useHttpPath")
}

/// The edits that leave exactly an empty reset then `helper` as the helpers for `url`
/// (so no helper configured for all URLs answers first, or is handed our short-lived
/// tokens to store), and `useHttpPath = true` (Kargo Secrets are per repository). Nothing
/// when that is already so.
pub fn plan_git_host(url: &str, helper: &str, current: &GitUrlState) -> Vec<GitConfigEdit> {
    let mut edits = Vec::new();
    if current.helpers != ["", helper] {
        let key = helper_key(url);
        if !current.helpers.is_empty() {
            edits.push(GitConfigEdit::UnsetAll { key: key.clone() });
        }
        edits.push(GitConfigEdit::Add {
            key: key.clone(),
            value: String::new(),
        });
        edits.push(GitConfigEdit::Add {
            key,
            value: helper.to_owned(),
        });
    }
    if current.use_http_path != ["true"] {
        edits.push(GitConfigEdit::ReplaceAll {
            key: use_http_path_key(url),
            value: "true".to_owned(),
        });
    }
    edits
}

// ---------------------------------------------------------------------------------------
// docker / helm: credHelpers
// ---------------------------------------------------------------------------------------

/// The `credHelpers` keys for a `--registry` value: its host (with port), scheme, `oci://`
/// and path dropped. Docker Hub gets both keys its clients look up: the docker CLI's
/// `https://index.docker.io/v1/` and containers-auth's (podman, skopeo) `docker.io`.
pub fn cred_helper_keys(registry: &str) -> Result<Vec<String>, SetupError> {
    let trimmed = registry.trim();
    let without_oci = trimmed
        .get(..6)
        .filter(|prefix| prefix.eq_ignore_ascii_case("oci://"))
        .map_or(trimmed, |_| &trimmed[6..]);
    let host = crate::url::registry_host_of_server_url(without_oci);
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SetupError::InvalidArgument {
            what: "--registry",
            value: registry.to_owned(),
            why: "a registry is a host with an optional port, e.g. ghcr.io or 127.0.0.1:5000",
        });
    }
    Ok(if host == "docker.io" {
        vec!["https://index.docker.io/v1/".to_owned(), host]
    } else {
        vec![host]
    })
}

/// One `credHelpers` entry that changes: the key and the helper it named before, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredHelperChange {
    pub key: String,
    pub previous: Option<String>,
}

/// The result of merging `credHelpers` into a docker-style config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerPlan {
    pub changes: Vec<CredHelperChange>,
    /// The whole new file (docker's layout: tab-indented, final newline); meaningful only
    /// when there are changes.
    pub text: String,
}

/// Merges `"credHelpers": {"<key>": "kargo"}` for every key into `existing` (the file's
/// text; `None` or blank when there is none). Every other key, and the order of all keys,
/// stays as it was. `file` only names the file in errors.
pub fn plan_docker_config(
    file: &Path,
    existing: Option<&str>,
    keys: &[String],
) -> Result<DockerPlan, SetupError> {
    let existing = existing.filter(|text| !text.trim().is_empty());
    let mut config: Value = match existing {
        Some(text) => serde_json::from_str(text).map_err(|error| SetupError::InvalidJson {
            file: file.to_path_buf(),
            why: error.to_string(),
        })?,
        None => Value::Object(Map::new()),
    };
    let Value::Object(top) = &mut config else {
        return Err(SetupError::NotAnObject {
            file: file.to_path_buf(),
            found: json_kind(&config),
        });
    };
    let helpers = top
        .entry("credHelpers")
        .or_insert_with(|| Value::Object(Map::new()));
    let found = json_kind(helpers);
    let Value::Object(helpers) = helpers else {
        return Err(SetupError::CredHelpersNotAnObject {
            file: file.to_path_buf(),
            found,
        });
    };
    let mut changes = Vec::new();
    for key in keys {
        let wanted = Value::from(DOCKER_HELPER_SUFFIX);
        match helpers.get(key) {
            Some(value) if *value == wanted => {}
            previous => {
                changes.push(CredHelperChange {
                    key: key.clone(),
                    previous: previous.map(|value| match value {
                        Value::String(name) => name.clone(),
                        other => other.to_string(),
                    }),
                });
                helpers.insert(key.clone(), wanted);
            }
        }
    }
    Ok(DockerPlan {
        changes,
        text: to_docker_json(&config),
    })
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// JSON as docker writes its config: tab-indented, with a final newline.
fn to_docker_json(value: &Value) -> String {
    use serde::Serialize;
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    // Serializing a Value into memory cannot fail.
    let _ = value.serialize(&mut serializer);
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------
// I/O: finding things, reading and replacing files, running git
// ---------------------------------------------------------------------------------------

/// The helper executable `program`: the one beside the running executable (an installation
/// keeps the three together), else the first on PATH.
pub fn find_helper(program: &str) -> Result<PathBuf, SetupError> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(program)));
    if let Some(path) = beside.as_ref().filter(|path| is_executable(path)) {
        return Ok(path.clone());
    }
    find_on_path(program).ok_or_else(|| SetupError::HelperNotFound {
        program: program.to_owned(),
        beside: beside.unwrap_or_default(),
    })
}

/// The first executable `program` in PATH's absolute folders, as docker, skopeo and helm
/// find credential helpers.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|path| is_executable(path))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The file to replace for `file`: a symbolic link (dotfiles managers keep them) is
/// followed, so that the link stays and its target changes, as git does.
pub fn resolve_link(file: &Path) -> Result<PathBuf, SetupError> {
    match fs::symlink_metadata(file) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(file).map_err(io_error("following the link", file))
        }
        _ => Ok(file.to_path_buf()),
    }
}

/// The file's text and mode, or `None` when it does not exist.
pub fn read_existing(file: &Path) -> Result<Option<(String, u32)>, SetupError> {
    let text = match fs::read(file) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| SetupError::Io {
            doing: "reading",
            file: file.to_path_buf(),
            source: std::io::Error::new(ErrorKind::InvalidData, "not UTF-8 text"),
        })?,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error("reading", file)(error)),
    };
    let mode = fs::metadata(file)
        .map_err(io_error("reading", file))?
        .mode()
        & 0o7777;
    Ok(Some((text, mode)))
}

/// Replaces `file` with `text` atomically, keeping `mode` (an existing file's); a new file
/// gets 0600 in a folder created 0700, as docker and helm make them.
pub fn write_client_config(file: &Path, text: &str, mode: Option<u32>) -> Result<(), SetupError> {
    if mode.is_none() {
        if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty()) {
            fsutil::create_private_dir(folder).map_err(io_error("creating the folder of", file))?;
        }
    }
    fsutil::write_atomically(file, text.as_bytes(), mode.unwrap_or(0o600))
        .map_err(io_error("writing", file))
}

fn git_config(file: &Path, args: &[&str]) -> Result<Output, SetupError> {
    Command::new("git")
        .arg("config")
        .arg("--file")
        .arg(file)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(SetupError::GitNotRunnable)
}

/// git's complaint, one line, naming `shown` instead of the scratch file it edited.
fn git_complaint(output: &Output, edited: &Path, shown: &Path) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("no message")
        .trim();
    let line = line.replace(&edited.display().to_string(), &shown.display().to_string());
    format!("{line} (exit {})", output.status.code().unwrap_or(-1))
}

fn get_all(file: &Path, key: &str) -> Result<Vec<String>, SetupError> {
    let output = git_config(file, &["--get-all", key])?;
    match output.status.code() {
        Some(0) => Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect()),
        // "the key was not found"
        Some(1) => Ok(Vec::new()),
        _ => Err(SetupError::Git {
            file: file.to_path_buf(),
            why: git_complaint(&output, file, file),
        }),
    }
}

/// What `file` holds for `url` (nothing when the file does not exist).
pub fn read_git_url_state(file: &Path, url: &str) -> Result<GitUrlState, SetupError> {
    if !file.exists() {
        return Ok(GitUrlState::default());
    }
    Ok(GitUrlState {
        helpers: get_all(file, &helper_key(url))?,
        use_http_path: get_all(file, &use_http_path_key(url))?,
    })
}

/// Applies `edits` to `file` all or nothing: git edits a copy beside it, which then
/// replaces the original (mode kept; a new file gets 0644, as git makes them).
pub fn apply_git_edits(file: &Path, edits: &[GitConfigEdit]) -> Result<(), SetupError> {
    let (original, mode) = match read_existing(file)? {
        Some((text, mode)) => (text, mode),
        None => (String::new(), 0o644),
    };
    let scratch = fsutil::temporary_beside(file);
    let result = (|| {
        let mut copy = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&scratch)
            .map_err(io_error("making a scratch copy of", file))?;
        std::io::Write::write_all(&mut copy, original.as_bytes())
            .map_err(io_error("making a scratch copy of", file))?;
        drop(copy);
        for edit in edits {
            let output = git_config(&scratch, &edit.args())?;
            // --unset-all of a key that is not there exits 5; the plan only unsets present
            // keys, but a duplicate --host may have unset it already.
            let unset_nothing =
                matches!(edit, GitConfigEdit::UnsetAll { .. }) && output.status.code() == Some(5);
            if !output.status.success() && !unset_nothing {
                return Err(SetupError::Git {
                    file: file.to_path_buf(),
                    why: git_complaint(&output, &scratch, file),
                });
            }
        }
        let edited = fs::read(&scratch).map_err(io_error("reading the edited copy of", file))?;
        fsutil::write_atomically(file, &edited, mode).map_err(io_error("writing", file))
    })();
    let _ = fs::remove_file(&scratch);
    result
}

/// The repository's own config file (`git config --local`), for the current directory.
pub fn local_git_config_file() -> Result<PathBuf, SetupError> {
    let output = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(SetupError::GitNotRunnable)?;
    let here = std::env::current_dir().unwrap_or_default();
    if !output.status.success() {
        return Err(SetupError::Git {
            file: here.clone(),
            why: git_complaint(&output, &here, &here),
        });
    }
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Ok(PathBuf::from(dir).join("config"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        for (word, quoted) in [
            (
                "/usr/bin/git-credential-kargo",
                "/usr/bin/git-credential-kargo",
            ),
            ("kargo-demo", "kargo-demo"),
            ("", "''"),
            ("/opt/my tools/x", "'/opt/my tools/x'"),
            ("a$b", "'a$b'"),
            ("it's", "'it'\\''s'"),
            ("a=b", "'a=b'"),
            ("~/x", "'~/x'"),
        ] {
            assert_eq!(shell_quote(word), quoted, "{word}");
        }
    }

    #[test]
    fn helper_command_is_a_plain_path_or_a_quoted_shell_command() {
        let plain = Path::new("/usr/bin/git-credential-kargo");
        assert_eq!(
            git_helper_command(plain, None).unwrap(),
            "/usr/bin/git-credential-kargo"
        );
        assert_eq!(
            git_helper_command(plain, Some("kargo-demo")).unwrap(),
            "/usr/bin/git-credential-kargo --project kargo-demo"
        );
        let spaced = Path::new("/opt/my tools/git-credential-kargo");
        assert_eq!(
            git_helper_command(spaced, Some("p")).unwrap(),
            "!'/opt/my tools/git-credential-kargo' --project p"
        );
        assert!(git_helper_command(Path::new("git-credential-kargo"), None).is_err());
    }

    #[test]
    fn credential_urls_default_to_https() {
        for (host, url) in [
            ("github.com", "https://github.com"),
            ("git.example.com:8443", "https://git.example.com:8443"),
            ("https://github.com/", "https://github.com"),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("https://github.com/org", "https://github.com/org"),
        ] {
            assert_eq!(git_credential_url(host).unwrap(), url, "{host}");
        }
        for bad in ["", "a b", "ssh://github.com", "https://", "a\nb"] {
            assert!(git_credential_url(bad).is_err(), "{bad:?}");
        }
    }

    const HELPER: &str = "/bin/git-credential-kargo";

    fn state(helpers: &[&str], use_http_path: &[&str]) -> GitUrlState {
        GitUrlState {
            helpers: helpers.iter().map(|s| (*s).to_owned()).collect(),
            use_http_path: use_http_path.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn git_plan_for_a_fresh_url_adds_reset_helper_and_use_http_path() {
        let url = "https://h";
        assert_eq!(
            plan_git_host(url, HELPER, &GitUrlState::default()),
            vec![
                GitConfigEdit::Add {
                    key: "credential.https://h.helper".into(),
                    value: String::new()
                },
                GitConfigEdit::Add {
                    key: "credential.https://h.helper".into(),
                    value: HELPER.into()
                },
                GitConfigEdit::ReplaceAll {
                    key: "credential.https://h.useHttpPath".into(),
                    value: "true".into()
                },
            ]
        );
    }

    #[test]
    fn git_plan_replaces_other_helpers_and_stops_when_done() {
        let url = "https://h";
        let plan = plan_git_host(url, HELPER, &state(&["store", HELPER], &["false"]));
        assert_eq!(
            plan[0],
            GitConfigEdit::UnsetAll {
                key: "credential.https://h.helper".into()
            }
        );
        assert_eq!(plan.len(), 4);
        // a helper without the reset, or a reset after it, is redone
        assert_eq!(
            plan_git_host(url, HELPER, &state(&[HELPER], &["true"])).len(),
            3
        );
        assert_eq!(
            plan_git_host(url, HELPER, &state(&[HELPER, ""], &["true"])).len(),
            3
        );
        // only useHttpPath missing
        assert_eq!(
            plan_git_host(url, HELPER, &state(&["", HELPER], &[])),
            vec![GitConfigEdit::ReplaceAll {
                key: "credential.https://h.useHttpPath".into(),
                value: "true".into()
            }]
        );
        assert!(plan_git_host(url, HELPER, &state(&["", HELPER], &["true"])).is_empty());
    }

    #[test]
    fn git_edits_render_as_commands() {
        let edit = GitConfigEdit::Add {
            key: "credential.https://h.helper".into(),
            value: String::new(),
        };
        assert_eq!(
            edit.render(Path::new("/home/u/my config")),
            "git config --file '/home/u/my config' --add credential.https://h.helper ''"
        );
    }

    fn keys(registries: &[&str]) -> Vec<String> {
        registries
            .iter()
            .flat_map(|r| cred_helper_keys(r).unwrap())
            .collect()
    }

    #[test]
    fn registry_keys_are_hosts() {
        assert_eq!(keys(&["ghcr.io"]), ["ghcr.io"]);
        assert_eq!(
            keys(&["https://Reg.example:5000/v2/"]),
            ["reg.example:5000"]
        );
        assert_eq!(keys(&["oci://ghcr.io/org/charts"]), ["ghcr.io"]);
        assert_eq!(
            keys(&["index.docker.io"]),
            ["https://index.docker.io/v1/", "docker.io"]
        );
        assert!(cred_helper_keys("").is_err());
        assert!(cred_helper_keys("a b").is_err());
    }

    #[test]
    fn docker_merge_keeps_every_other_key_in_order() {
        let existing = r#"{
  "zeta": 1,
  "auths": {"ghcr.io": {"auth": "dTpw"}},
  "credHelpers": {"gcr.io": "gcloud", "ghcr.io": "desktop"},
  "credsStore": "desktop",
  "alpha": {"nested": [1, 2]}
}"#;
        let plan = plan_docker_config(Path::new("c"), Some(existing), &keys(&["ghcr.io", "q.io"]))
            .unwrap();
        assert_eq!(
            plan.changes,
            vec![
                CredHelperChange {
                    key: "ghcr.io".into(),
                    previous: Some("desktop".into())
                },
                CredHelperChange {
                    key: "q.io".into(),
                    previous: None
                },
            ]
        );
        let value: Value = serde_json::from_str(&plan.text).unwrap();
        let top: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(top, ["zeta", "auths", "credHelpers", "credsStore", "alpha"]);
        assert_eq!(
            value["credHelpers"],
            serde_json::json!({"gcr.io": "gcloud", "ghcr.io": "kargo", "q.io": "kargo"})
        );
        let helper_keys: Vec<&String> = value["credHelpers"].as_object().unwrap().keys().collect();
        assert_eq!(helper_keys, ["gcr.io", "ghcr.io", "q.io"]);
        assert_eq!(
            value["auths"],
            serde_json::json!({"ghcr.io": {"auth": "dTpw"}})
        );
        assert_eq!(value["alpha"], serde_json::json!({"nested": [1, 2]}));
        assert!(
            plan.text.starts_with("{\n\t\"zeta\": 1,\n"),
            "{}",
            plan.text
        );
        assert!(plan.text.ends_with("}\n"));

        let again =
            plan_docker_config(Path::new("c"), Some(&plan.text), &keys(&["ghcr.io"])).unwrap();
        assert!(again.changes.is_empty());
    }

    #[test]
    fn docker_merge_creates_a_config_from_nothing() {
        for existing in [None, Some(""), Some("  \n")] {
            let plan = plan_docker_config(Path::new("c"), existing, &keys(&["r:1"])).unwrap();
            assert_eq!(
                plan.text,
                "{\n\t\"credHelpers\": {\n\t\t\"r:1\": \"kargo\"\n\t}\n}\n"
            );
        }
    }

    #[test]
    fn docker_merge_refuses_what_it_cannot_keep() {
        let file = Path::new("/x/config.json");
        let error = |text: &str| {
            plan_docker_config(file, Some(text), &keys(&["r"]))
                .unwrap_err()
                .to_string()
        };
        let invalid = error("{\"auths\": {\"r\": {\"auth\": \"c2VjcmV0\"}");
        assert!(
            invalid.starts_with("/x/config.json: not valid JSON"),
            "{invalid}"
        );
        assert!(!invalid.contains("c2VjcmV0"), "{invalid}");
        assert!(error("[1]").contains("an array, not a JSON object"));
        assert!(error(r#"{"credHelpers": "kargo"}"#).contains("\"credHelpers\" is a string"));
    }
}
