//! Settings: flag > environment > config file > default, read in one place (SPEC §4).
//!
//! Everything downstream takes [`Settings`] (or the pieces it needs); nothing else reads
//! the environment or the config file. The environment is passed in as a function so that
//! tests can give each case its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::log::Level;
use crate::secret::CredType;

pub const DEFAULT_SHARED_NAMESPACE: &str = "kargo-shared-resources";
pub const DEFAULT_EXPIRY_MARGIN: Duration = Duration::from_secs(300);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags shared by `git-credential-kargo` and `kargo-creds` (docker passes no flags).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Flags {
    /// Kargo project (its namespace) searched before the shared namespace
    #[arg(long, global = true, value_name = "PROJECT")]
    pub project: Option<String>,
    /// Shared resources namespace ("" for none)
    #[arg(long, global = true, value_name = "NAMESPACE")]
    pub shared_namespace: Option<String>,
    /// Where Secrets come from: dir or kubernetes
    #[arg(long, global = true, value_name = "SOURCE")]
    pub source: Option<String>,
    /// Folder of Secret manifests (the dir source)
    #[arg(long, global = true, value_name = "DIR")]
    pub secrets_dir: Option<PathBuf>,
    /// kubeconfig context (the kubernetes source)
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub kube_context: Option<String>,
    /// Token cache folder
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Do not read or write the token cache
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// More diagnostics on stderr (-v info, -vv debug)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Where Secrets are read from (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Dir,
    Kubernetes,
}

impl SourceKind {
    fn parse(text: &str, origin: &str) -> Result<SourceKind, ConfigError> {
        match text.trim() {
            "dir" => Ok(SourceKind::Dir),
            "kubernetes" | "kube" | "k8s" => Ok(SourceKind::Kubernetes),
            other => Err(ConfigError::Invalid {
                setting: "source",
                origin: origin.to_owned(),
                reason: format!("{other:?} is not a source (expected dir or kubernetes)"),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Dir => "dir",
            SourceKind::Kubernetes => "kubernetes",
        }
    }
}

/// Everything a binary needs to know, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub project: Option<String>,
    /// `None` when the shared namespace is switched off (an empty setting).
    pub shared_namespace: Option<String>,
    pub source: SourceKind,
    /// Why that source was chosen, for `resolve --explain` and `doctor`.
    pub source_reason: String,
    pub secrets_dir: PathBuf,
    pub kube_context: Option<String>,
    pub cache_dir: PathBuf,
    pub no_cache: bool,
    pub expiry_margin: Duration,
    /// Network timeouts: establishing a connection, and a whole request.
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub allow_http: bool,
    pub docker_types: Vec<CredType>,
    pub log_level: Level,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Endpoint overrides, each ecosystem's own variable (SPEC §4).
    pub endpoints: Endpoints,
    /// The cloud identities of this machine, from its environment (SPEC §6.5).
    pub ambient: crate::provider::ambient::AmbientEnv,
}

/// Where token providers send their requests when not to the public clouds.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// `KARGO_CREDS_GITHUB_API_URL`: the API base for every GitHub host.
    pub github_api: Option<String>,
    /// `KARGO_CREDS_GITHUB_VALIDATION_WAITS`: seconds between post-mint validations
    /// (comma-separated; default 3,10,30). A tuning knob for tests and slow replicas.
    pub github_validation_waits: Option<Vec<Duration>>,
    /// `AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL`.
    pub aws_ecr: Option<String>,
    pub aws_sts: Option<String>,
    pub aws: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("invalid {setting} from {origin}: {reason}")]
    Invalid {
        setting: &'static str,
        origin: String,
        reason: String,
    },
    #[error("cannot determine the {what} folder: set {variable} or HOME")]
    NoHome {
        what: &'static str,
        variable: &'static str,
    },
}

/// The config file's keys; any other key is an error that names it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileConfig {
    project: Option<String>,
    shared_namespace: Option<String>,
    source: Option<String>,
    secrets_dir: Option<PathBuf>,
    kube_context: Option<String>,
    cache_dir: Option<PathBuf>,
    no_cache: Option<bool>,
    expiry_margin: Option<u64>,
    connect_timeout: Option<f64>,
    request_timeout: Option<f64>,
    allow_http: Option<bool>,
    docker_types: Option<StringOrList>,
    log: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn joined(&self) -> String {
        match self {
            StringOrList::One(text) => text.clone(),
            StringOrList::Many(items) => items.join(","),
        }
    }
}

/// A lookup of one environment variable.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for the binaries.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Settings {
    /// Builds the settings from flags, the environment and the config file.
    pub fn load(flags: &Flags, env: Env<'_>) -> Result<Settings, ConfigError> {
        let (file, config_file) = read_config_file(env)?;
        let file_origin = config_file
            .as_ref()
            .map(|path| format!("config file {}", path.display()))
            .unwrap_or_default();

        let project = pick(flags.project.clone(), env("KARGO_PROJECT"), file.project)
            .filter(|project| !project.is_empty());
        let shared_namespace = pick(
            flags.shared_namespace.clone(),
            env("KARGO_CREDS_SHARED_NAMESPACE"),
            file.shared_namespace,
        )
        .unwrap_or_else(|| DEFAULT_SHARED_NAMESPACE.to_owned());
        let shared_namespace = Some(shared_namespace).filter(|ns| !ns.trim().is_empty());

        let secrets_dir = match pick(
            flags.secrets_dir.clone(),
            env("KARGO_CREDS_SECRETS_DIR").map(PathBuf::from),
            file.secrets_dir,
        ) {
            Some(dir) => dir,
            None => config_home(env)?.join("kargo-creds").join("secrets"),
        };
        let cache_dir = match pick(
            flags.cache_dir.clone(),
            env("KARGO_CREDS_CACHE_DIR").map(PathBuf::from),
            file.cache_dir,
        ) {
            Some(dir) => dir,
            None => cache_home(env)?.join("kargo-creds"),
        };

        let (source, source_reason) = if let Some(source) = &flags.source {
            (
                SourceKind::parse(source, "--source")?,
                "--source flag".to_owned(),
            )
        } else if let Some(source) = env("KARGO_CREDS_SOURCE") {
            (
                SourceKind::parse(&source, "KARGO_CREDS_SOURCE")?,
                "KARGO_CREDS_SOURCE".to_owned(),
            )
        } else if let Some(source) = &file.source {
            (
                SourceKind::parse(source, &file_origin)?,
                file_origin.clone(),
            )
        } else if secrets_dir.is_dir() {
            (
                SourceKind::Dir,
                format!("secrets folder {} exists", secrets_dir.display()),
            )
        } else {
            (
                SourceKind::Kubernetes,
                format!("no secrets folder at {}", secrets_dir.display()),
            )
        };

        let no_cache = flags.no_cache
            || match env("KARGO_CREDS_NO_CACHE") {
                Some(value) => parse_bool(&value, "no-cache", "KARGO_CREDS_NO_CACHE")?,
                None => file.no_cache.unwrap_or(false),
            };
        let allow_http = match env("KARGO_CREDS_ALLOW_HTTP") {
            Some(value) => parse_bool(&value, "allow-http", "KARGO_CREDS_ALLOW_HTTP")?,
            None => file.allow_http.unwrap_or(false),
        };
        let expiry_margin = match env("KARGO_CREDS_EXPIRY_MARGIN") {
            Some(value) => {
                Duration::from_secs(value.trim().parse().map_err(|_| ConfigError::Invalid {
                    setting: "expiry margin",
                    origin: "KARGO_CREDS_EXPIRY_MARGIN".into(),
                    reason: format!("{value:?} is not a number of seconds"),
                })?)
            }
            None => file
                .expiry_margin
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_EXPIRY_MARGIN),
        };
        let connect_timeout = seconds_setting(
            env("KARGO_CREDS_CONNECT_TIMEOUT"),
            "KARGO_CREDS_CONNECT_TIMEOUT",
            file.connect_timeout,
            DEFAULT_CONNECT_TIMEOUT,
        )?;
        let request_timeout = seconds_setting(
            env("KARGO_CREDS_REQUEST_TIMEOUT"),
            "KARGO_CREDS_REQUEST_TIMEOUT",
            file.request_timeout,
            DEFAULT_REQUEST_TIMEOUT,
        )?;
        let docker_types = match env("KARGO_CREDS_DOCKER_TYPES") {
            Some(value) => parse_docker_types(&value, "KARGO_CREDS_DOCKER_TYPES")?,
            None => match &file.docker_types {
                Some(types) => parse_docker_types(&types.joined(), &file_origin)?,
                None => vec![CredType::Image, CredType::Helm],
            },
        };
        let log_level = match flags.verbose {
            0 => match env("KARGO_CREDS_LOG").or(file.log) {
                Some(text) => Level::parse(&text).ok_or_else(|| ConfigError::Invalid {
                    setting: "log level",
                    origin: "KARGO_CREDS_LOG".into(),
                    reason: format!("{text:?} is not one of off, error, warn, info, debug"),
                })?,
                None => Level::Warn,
            },
            1 => Level::Info,
            _ => Level::Debug,
        };

        Ok(Settings {
            project,
            shared_namespace,
            source,
            source_reason,
            secrets_dir,
            kube_context: pick(
                flags.kube_context.clone(),
                env("KARGO_CREDS_KUBE_CONTEXT"),
                file.kube_context,
            ),
            cache_dir,
            no_cache,
            expiry_margin,
            connect_timeout,
            request_timeout,
            allow_http,
            docker_types,
            log_level,
            config_file,
            ambient: crate::provider::ambient::AmbientEnv::detect(env),
            endpoints: Endpoints {
                github_api: env("KARGO_CREDS_GITHUB_API_URL").filter(|url| !url.trim().is_empty()),
                github_validation_waits: match env("KARGO_CREDS_GITHUB_VALIDATION_WAITS") {
                    Some(text) => Some(parse_waits(&text)?),
                    None => None,
                },
                aws_ecr: env("AWS_ENDPOINT_URL_ECR").filter(|url| !url.trim().is_empty()),
                aws_sts: env("AWS_ENDPOINT_URL_STS").filter(|url| !url.trim().is_empty()),
                aws: env("AWS_ENDPOINT_URL").filter(|url| !url.trim().is_empty()),
            },
        })
    }

    /// The namespaces searched, in order: the project's, then the shared one.
    pub fn namespaces(&self) -> Vec<&str> {
        self.project
            .iter()
            .chain(self.shared_namespace.iter())
            .map(String::as_str)
            .collect()
    }
}

fn pick<T>(flag: Option<T>, env: Option<T>, file: Option<T>) -> Option<T> {
    flag.or(env).or(file)
}

fn read_config_file(env: Env<'_>) -> Result<(FileConfig, Option<PathBuf>), ConfigError> {
    let (path, required) = match env("KARGO_CREDS_CONFIG").filter(|path| !path.is_empty()) {
        Some(path) => (PathBuf::from(path), true),
        None => match config_home(env) {
            Ok(home) => (home.join("kargo-creds").join("config.yaml"), false),
            Err(_) => return Ok((FileConfig::default(), None)),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok((FileConfig::default(), None))
        }
        Err(error) => {
            return Err(ConfigError::File {
                path,
                reason: error.to_string(),
            })
        }
    };
    let config = parse_config_text(&text, &path)?;
    Ok((config, Some(path)))
}

fn parse_config_text(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_norway::from_str(text).map_err(|error| ConfigError::File {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

fn parse_bool(value: &str, setting: &'static str, origin: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::Invalid {
            setting,
            origin: origin.to_owned(),
            reason: format!("{value:?} is not true or false"),
        }),
    }
}

fn parse_waits(text: &str) -> Result<Vec<Duration>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse::<f64>()
                .ok()
                .filter(|seconds| (0.0..3600.0).contains(seconds))
                .map(Duration::from_secs_f64)
                .ok_or_else(|| ConfigError::Invalid {
                    setting: "validation waits",
                    origin: "KARGO_CREDS_GITHUB_VALIDATION_WAITS".into(),
                    reason: format!("{item:?} is not a number of seconds"),
                })
        })
        .collect()
}

/// A timeout in seconds (fractions allowed) from the environment or the config file.
fn seconds_setting(
    from_env: Option<String>,
    variable: &str,
    from_file: Option<f64>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let seconds = match from_env {
        Some(text) => text
            .trim()
            .parse::<f64>()
            .map_err(|_| ConfigError::Invalid {
                setting: "timeout",
                origin: variable.to_owned(),
                reason: format!("{text:?} is not a number of seconds"),
            })?,
        None => match from_file {
            Some(seconds) => seconds,
            None => return Ok(default),
        },
    };
    if !(seconds > 0.0 && seconds < 86_400.0) {
        return Err(ConfigError::Invalid {
            setting: "timeout",
            origin: variable.to_owned(),
            reason: format!("{seconds} is not between 0 and 86400 seconds"),
        });
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_docker_types(value: &str, origin: &str) -> Result<Vec<CredType>, ConfigError> {
    let mut types = Vec::new();
    for item in value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        match item.parse::<CredType>() {
            Ok(cred_type @ (CredType::Image | CredType::Helm)) => types.push(cred_type),
            _ => {
                return Err(ConfigError::Invalid {
                    setting: "docker types",
                    origin: origin.to_owned(),
                    reason: format!("{item:?} is not image or helm"),
                })
            }
        }
    }
    Ok(types)
}

/// `$XDG_CONFIG_HOME` or `~/.config` (the `dirs` crate's rule), read through `env`.
fn config_home(env: Env<'_>) -> Result<PathBuf, ConfigError> {
    xdg_home(env, "XDG_CONFIG_HOME", ".config").ok_or(ConfigError::NoHome {
        what: "config",
        variable: "XDG_CONFIG_HOME",
    })
}

fn cache_home(env: Env<'_>) -> Result<PathBuf, ConfigError> {
    xdg_home(env, "XDG_CACHE_HOME", ".cache").ok_or(ConfigError::NoHome {
        what: "cache",
        variable: "XDG_CACHE_HOME",
    })
}

fn xdg_home(env: Env<'_>, variable: &str, fallback: &str) -> Option<PathBuf> {
    if let Some(dir) = env(variable).filter(|dir| Path::new(dir).is_absolute()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(home) = env("HOME").filter(|home| !home.is_empty()) {
        return Some(PathBuf::from(home).join(fallback));
    }
    if variable == "XDG_CONFIG_HOME" {
        dirs::config_dir()
    } else {
        dirs::cache_dir()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(flags: &Flags, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(flags, &move |name: &str| map.get(name).cloned())
    }

    #[test]
    fn defaults_without_anything() {
        let home = tempfile::tempdir().unwrap();
        let settings = load(
            &Flags::default(),
            &[("HOME", home.path().to_str().unwrap())],
        )
        .unwrap();
        assert_eq!(settings.project, None);
        assert_eq!(
            settings.shared_namespace.as_deref(),
            Some("kargo-shared-resources")
        );
        assert_eq!(settings.source, SourceKind::Kubernetes);
        assert_eq!(
            settings.secrets_dir,
            home.path().join(".config/kargo-creds/secrets")
        );
        assert_eq!(settings.cache_dir, home.path().join(".cache/kargo-creds"));
        assert_eq!(settings.docker_types, vec![CredType::Image, CredType::Helm]);
        assert_eq!(settings.expiry_margin, Duration::from_secs(300));
        assert!(!settings.allow_http);
        assert_eq!(settings.log_level, Level::Warn);
    }

    #[test]
    fn flag_beats_environment_beats_file() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("config.yaml");
        std::fs::write(
            &file,
            "project: from-file\nsharedNamespace: file-shared\nallowHttp: true\n",
        )
        .unwrap();
        let base = [
            ("HOME", home.path().to_str().unwrap()),
            ("KARGO_CREDS_CONFIG", file.to_str().unwrap()),
        ];
        let settings = load(&Flags::default(), &base).unwrap();
        assert_eq!(settings.project.as_deref(), Some("from-file"));
        assert_eq!(settings.shared_namespace.as_deref(), Some("file-shared"));
        assert!(settings.allow_http);

        let mut with_env = base.to_vec();
        with_env.push(("KARGO_PROJECT", "from-env"));
        with_env.push(("KARGO_CREDS_ALLOW_HTTP", "false"));
        let settings = load(&Flags::default(), &with_env).unwrap();
        assert_eq!(settings.project.as_deref(), Some("from-env"));
        assert!(!settings.allow_http);

        let flags = Flags {
            project: Some("from-flag".into()),
            ..Flags::default()
        };
        assert_eq!(
            load(&flags, &with_env).unwrap().project.as_deref(),
            Some("from-flag")
        );
    }

    #[test]
    fn unknown_config_key_is_an_error_naming_it() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("config.yaml");
        std::fs::write(&file, "project: p\nsharedNamspace: typo\n").unwrap();
        let error = load(
            &Flags::default(),
            &[
                ("HOME", home.path().to_str().unwrap()),
                ("KARGO_CREDS_CONFIG", file.to_str().unwrap()),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("sharedNamspace"), "{error}");
        assert!(error.contains("config.yaml"), "{error}");
    }

    #[test]
    fn empty_shared_namespace_means_none() {
        let flags = Flags {
            shared_namespace: Some(String::new()),
            project: Some("p".into()),
            ..Flags::default()
        };
        let settings = load(&flags, &[("HOME", "/nonexistent")]).unwrap();
        assert_eq!(settings.shared_namespace, None);
        assert_eq!(settings.namespaces(), vec!["p"]);
    }

    #[test]
    fn source_follows_the_secrets_folder_unless_told() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("secrets");
        std::fs::create_dir(&dir).unwrap();
        let vars = [
            ("HOME", "/nonexistent"),
            ("KARGO_CREDS_SECRETS_DIR", dir.to_str().unwrap()),
        ];
        let settings = load(&Flags::default(), &vars).unwrap();
        assert_eq!(settings.source, SourceKind::Dir);
        assert!(settings.source_reason.contains("exists"));
        let flags = Flags {
            source: Some("kubernetes".into()),
            ..Flags::default()
        };
        assert_eq!(load(&flags, &vars).unwrap().source, SourceKind::Kubernetes);
        let flags = Flags {
            source: Some("ldap".into()),
            ..Flags::default()
        };
        assert!(load(&flags, &vars)
            .unwrap_err()
            .to_string()
            .contains("ldap"));
    }

    #[test]
    fn bad_values_are_errors() {
        for (name, value) in [
            ("KARGO_CREDS_ALLOW_HTTP", "maybe"),
            ("KARGO_CREDS_DOCKER_TYPES", "image,git"),
            ("KARGO_CREDS_EXPIRY_MARGIN", "5m"),
            ("KARGO_CREDS_LOG", "loud"),
        ] {
            let error = load(
                &Flags::default(),
                &[("HOME", "/nonexistent"), (name, value)],
            )
            .unwrap_err()
            .to_string();
            assert!(error.contains(name), "{error}");
        }
    }
}
