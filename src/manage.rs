//! Credential management as the Kargo CLI does it (`create`/`get`/`update`/`delete`
//! `credentials` and `generic-credentials`): building and changing Secrets, and showing them
//! with the seed's redaction rule. Pure: the binary reads and writes through a source.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::secret::{keys, CredType, Data, Secret, CRED_TYPE_LABEL, DESCRIPTION_ANNOTATION};
use crate::sensitive::Sensitive;

/// What `get credentials -o yaml|json` shows instead of a sensitive value.
pub const REDACTED: &str = "*** REDACTED ***";
/// The annotation generic credentials may show besides the description.
pub const REPLICATE_TO_ANNOTATION: &str = "kargo.akuity.io/replicate-to";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManageError {
    #[error("{what} {value:?} is not valid: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("nothing to change: give at least one of {0}")]
    NothingToChange(&'static str),
    #[error("secret {id} is not {expected} (its label {CRED_TYPE_LABEL} is {actual})")]
    WrongKind {
        id: String,
        expected: &'static str,
        actual: String,
    },
}

/// `create credentials`.
#[derive(Debug, Clone)]
pub struct NewCredentials {
    pub namespace: String,
    pub name: String,
    pub cred_type: CredType,
    pub repo_url: String,
    pub regex: bool,
    pub username: String,
    pub password: Sensitive<String>,
    pub description: Option<String>,
}

/// The changes `update credentials` asks for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CredentialsUpdate {
    pub repo_url: Option<String>,
    pub regex: Option<bool>,
    pub username: Option<String>,
    pub password: Option<Sensitive<String>>,
    pub description: Option<String>,
}

/// The changes `create`/`update generic-credentials` ask for.
#[derive(Debug, Clone, Default)]
pub struct GenericChanges {
    pub set: Vec<(String, Sensitive<String>)>,
    pub unset: Vec<String>,
    pub description: Option<String>,
}

/// A repository-credentials Secret as `kargo create credentials` makes it.
pub fn new_credentials(new: NewCredentials) -> Result<Secret, ManageError> {
    check_name(&new.name)?;
    if new.cred_type == CredType::Generic {
        return Err(invalid(
            "credential type",
            "generic",
            "use generic-credentials",
        ));
    }
    check_repo_url(&new.repo_url, new.regex)?;
    check_value("username", &new.username)?;
    check_value("password", new.password.expose())?;
    let mut data = Data::new();
    data.insert(keys::REPO_URL.into(), bytes(&new.repo_url));
    if new.regex {
        data.insert(keys::REPO_URL_IS_REGEX.into(), bytes("true"));
    }
    data.insert(keys::USERNAME.into(), bytes(&new.username));
    data.insert(
        keys::PASSWORD.into(),
        Sensitive::new(new.password.into_inner().into_bytes()),
    );
    let mut secret = Secret {
        namespace: new.namespace,
        name: new.name,
        labels: BTreeMap::from([(
            CRED_TYPE_LABEL.to_owned(),
            new.cred_type.as_str().to_owned(),
        )]),
        data: Some(data),
        ..Secret::default()
    };
    set_description(&mut secret, new.description);
    Ok(secret)
}

/// Applies `update credentials`: only the given fields change; every other value stays
/// byte for byte.
pub fn update_credentials(
    secret: &mut Secret,
    update: CredentialsUpdate,
) -> Result<(), ManageError> {
    expect_kind(secret, false)?;
    let nothing = update.repo_url.is_none()
        && update.regex.is_none()
        && update.username.is_none()
        && update.password.is_none()
        && update.description.is_none();
    if nothing {
        return Err(ManageError::NothingToChange(
            "--repo-url, --regex/--no-regex, --username, --password, --description",
        ));
    }
    let regex = update.regex.unwrap_or_else(|| secret.is_regex());
    let repo_url = match &update.repo_url {
        Some(repo_url) => repo_url.clone(),
        None => secret
            .text(keys::REPO_URL)
            .ok()
            .flatten()
            .unwrap_or_default()
            .to_owned(),
    };
    if update.repo_url.is_some() || update.regex == Some(true) {
        check_repo_url(&repo_url, regex)?;
    }
    let data = secret.data.get_or_insert_with(Data::new);
    if let Some(repo_url) = update.repo_url {
        data.insert(keys::REPO_URL.into(), bytes(&repo_url));
    }
    match update.regex {
        Some(true) => {
            data.insert(keys::REPO_URL_IS_REGEX.into(), bytes("true"));
        }
        Some(false) => {
            data.remove(keys::REPO_URL_IS_REGEX);
        }
        None => {}
    }
    if let Some(username) = update.username {
        check_value("username", &username)?;
        data.insert(keys::USERNAME.into(), bytes(&username));
    }
    if let Some(password) = update.password {
        check_value("password", password.expose())?;
        data.insert(
            keys::PASSWORD.into(),
            Sensitive::new(password.into_inner().into_bytes()),
        );
    }
    set_description(secret, update.description);
    Ok(())
}

/// A generic-credentials Secret (`kargo.akuity.io/cred-type: generic`).
pub fn new_generic(
    namespace: &str,
    name: &str,
    changes: GenericChanges,
) -> Result<Secret, ManageError> {
    check_name(name)?;
    if changes.set.is_empty() {
        return Err(ManageError::NothingToChange("--set KEY=VALUE"));
    }
    let mut secret = Secret {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        labels: BTreeMap::from([(
            CRED_TYPE_LABEL.to_owned(),
            CredType::Generic.as_str().to_owned(),
        )]),
        data: Some(Data::new()),
        ..Secret::default()
    };
    update_generic(&mut secret, changes)?;
    Ok(secret)
}

/// Applies `--set`, `--unset` and `--description` to a generic Secret.
pub fn update_generic(secret: &mut Secret, changes: GenericChanges) -> Result<(), ManageError> {
    expect_kind(secret, true)?;
    if changes.set.is_empty() && changes.unset.is_empty() && changes.description.is_none() {
        return Err(ManageError::NothingToChange(
            "--set KEY=VALUE, --unset KEY, --description",
        ));
    }
    let data = secret.data.get_or_insert_with(Data::new);
    for key in &changes.unset {
        data.remove(key);
    }
    for (key, value) in changes.set {
        check_key(&key)?;
        data.insert(key, Sensitive::new(value.into_inner().into_bytes()));
    }
    set_description(secret, changes.description);
    Ok(())
}

/// Parses `KEY=VALUE` for `--set`.
pub fn parse_assignment(text: &str) -> Result<(String, Sensitive<String>), String> {
    let (key, value) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    check_key(key).map_err(|error| error.to_string())?;
    Ok((key.to_owned(), Sensitive::from(value)))
}

/// The Secret as `get credentials -o yaml|json` shows it: the seed's rule. Data moves to
/// `stringData`; only `repoURL`, `repoURLIsRegex` and `username` are shown in clear for
/// repository credentials (nothing for generic ones); only the description annotation (and
/// `replicate-to` for generic ones) is shown.
pub fn redacted_view(secret: &Secret) -> Value {
    let generic = secret.cred_type() == Some(CredType::Generic);
    let clear = |key: &str| {
        !generic
            && matches!(
                key,
                keys::REPO_URL | keys::REPO_URL_IS_REGEX | keys::USERNAME
            )
    };
    let string_data: BTreeMap<&str, String> = secret
        .data
        .iter()
        .flat_map(Data::iter)
        .map(|(key, value)| {
            let shown = if clear(key) {
                String::from_utf8_lossy(value.expose()).into_owned()
            } else {
                REDACTED.to_owned()
            };
            (key, shown)
        })
        .collect();
    let annotations: BTreeMap<&str, &str> = secret
        .annotations
        .iter()
        .map(|(key, value)| {
            let shown =
                key == DESCRIPTION_ANNOTATION || (generic && key == REPLICATE_TO_ANNOTATION);
            (key.as_str(), if shown { value.as_str() } else { REDACTED })
        })
        .collect();
    let mut metadata = json!({
        "name": secret.name,
        "namespace": secret.namespace,
        "labels": secret.labels,
    });
    if !annotations.is_empty() {
        metadata["annotations"] = json!(annotations);
    }
    if let Some(created) = secret.server.created_at {
        metadata["creationTimestamp"] = json!(crate::timefmt::rfc3339(created));
    }
    if let Some(version) = &secret.server.resource_version {
        metadata["resourceVersion"] = json!(version);
    }
    if let Some(uid) = &secret.server.uid {
        metadata["uid"] = json!(uid);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "stringData": string_data,
        "type": secret.secret_type.as_deref().unwrap_or("Opaque"),
    })
}

/// `NAME TYPE REGEX REPO AGE`, aligned like kubectl's tables.
pub fn table(secrets: &[Secret], now: i64) -> String {
    let mut rows = vec![["NAME", "TYPE", "REGEX", "REPO", "AGE"].map(str::to_owned)];
    for secret in secrets {
        let repo = secret
            .text(keys::REPO_URL)
            .ok()
            .flatten()
            .unwrap_or_default();
        rows.push([
            secret.name.clone(),
            secret
                .labels
                .get(CRED_TYPE_LABEL)
                .cloned()
                .unwrap_or_default(),
            secret.is_regex().to_string(),
            crate::url::for_display(repo),
            secret
                .server
                .created_at
                .map_or_else(|| "<unknown>".to_owned(), |created| age(now - created)),
        ]);
    }
    align(&rows)
}

/// `NAME AGE` for generic credentials.
pub fn generic_table(secrets: &[Secret], now: i64) -> String {
    let mut rows = vec![["NAME", "KEYS", "AGE"].map(str::to_owned)];
    for secret in secrets {
        let keys: Vec<&str> = secret.data.iter().flat_map(Data::keys).collect();
        rows.push([
            secret.name.clone(),
            keys.join(","),
            secret
                .server
                .created_at
                .map_or_else(|| "<unknown>".to_owned(), |created| age(now - created)),
        ]);
    }
    align(&rows)
}

fn align<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c + 1 == N {
                    cell.clone()
                } else {
                    format!("{cell:<width$}", width = widths[c])
                }
            })
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// kubectl's short ages: `45s`, `8m25s`, `3h12m`, `5d`.
pub fn age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, s / 60 % 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s if s < 8 * 86_400 => format!("{}d{}h", s / 86_400, s / 3600 % 24),
        s => format!("{}d", s / 86_400),
    }
}

fn expect_kind(secret: &Secret, generic: bool) -> Result<(), ManageError> {
    let actual = secret
        .labels
        .get(CRED_TYPE_LABEL)
        .cloned()
        .unwrap_or_else(|| "absent".into());
    let is_generic = actual == CredType::Generic.as_str();
    let is_repository = matches!(actual.as_str(), "git" | "helm" | "image");
    if (generic && is_generic) || (!generic && is_repository) {
        return Ok(());
    }
    Err(ManageError::WrongKind {
        id: secret.id(),
        expected: if generic {
            "generic credentials"
        } else {
            "repository credentials"
        },
        actual,
    })
}

fn set_description(secret: &mut Secret, description: Option<String>) {
    match description {
        Some(text) if text.is_empty() => {
            secret.annotations.remove(DESCRIPTION_ANNOTATION);
        }
        Some(text) => {
            secret
                .annotations
                .insert(DESCRIPTION_ANNOTATION.to_owned(), text);
        }
        None => {}
    }
}

fn bytes(text: &str) -> Sensitive<Vec<u8>> {
    Sensitive::new(text.as_bytes().to_vec())
}

fn invalid(what: &'static str, value: &str, reason: &str) -> ManageError {
    ManageError::Invalid {
        what,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A Kubernetes object name: lower-case RFC 1123 subdomain.
pub fn check_name(name: &str) -> Result<(), ManageError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "name",
            name,
            "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
        ))
    }
}

fn check_key(key: &str) -> Result<(), ManageError> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "data key",
            key,
            "letters, digits, '-', '_' and '.'",
        ))
    }
}

fn check_repo_url(repo_url: &str, regex: bool) -> Result<(), ManageError> {
    if repo_url.trim().is_empty() {
        return Err(invalid("--repo-url", repo_url, "it is empty"));
    }
    if regex {
        crate::resolve::compile_pattern(repo_url)
            .map_err(|reason| invalid("--repo-url pattern", repo_url, &reason))?;
    }
    Ok(())
}

/// Values go into a line-based protocol later: refuse what could never be emitted.
fn check_value(what: &'static str, value: &str) -> Result<(), ManageError> {
    if value.is_empty() {
        return Err(ManageError::Invalid {
            what,
            value: String::new(),
            reason: "it is empty".into(),
        });
    }
    if let Some(character) = crate::secret::forbidden_character(value) {
        // Never echo a password back.
        return Err(ManageError::Invalid {
            what,
            value: "…".into(),
            reason: format!("it contains a {character}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Secret {
        new_credentials(NewCredentials {
            namespace: "kargo-demo".into(),
            name: "my-credentials".into(),
            cred_type: CredType::Git,
            repo_url: "https://github.com/example/kargo-demo.git".into(),
            regex: false,
            username: "my-username".into(),
            password: Sensitive::from("my-personal-access-token"),
            description: Some("demo".into()),
        })
        .unwrap()
    }

    #[test]
    fn creates_what_the_kargo_cli_creates() {
        let secret = demo();
        assert_eq!(secret.labels[CRED_TYPE_LABEL], "git");
        assert_eq!(
            secret.text("repoURL").unwrap(),
            Some("https://github.com/example/kargo-demo.git")
        );
        assert_eq!(
            secret.text("password").unwrap(),
            Some("my-personal-access-token")
        );
        assert!(!secret.has_key("repoURLIsRegex"));
        assert_eq!(secret.annotations[DESCRIPTION_ANNOTATION], "demo");
    }

    #[test]
    fn update_changes_only_given_fields() {
        let mut secret = demo();
        let before = secret.clone();
        update_credentials(
            &mut secret,
            CredentialsUpdate {
                repo_url: Some("^https://github.com/".into()),
                regex: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(secret.is_regex());
        assert_eq!(secret.bytes("password"), before.bytes("password"));
        assert_eq!(secret.bytes("username"), before.bytes("username"));
        update_credentials(
            &mut secret,
            CredentialsUpdate {
                regex: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!secret.has_key("repoURLIsRegex"));
        assert!(update_credentials(&mut secret, CredentialsUpdate::default()).is_err());
    }

    #[test]
    fn redaction_follows_the_seed() {
        let mut secret = demo();
        secret
            .data
            .as_mut()
            .unwrap()
            .insert("foo".into(), Sensitive::new(b"bar".to_vec()));
        secret
            .annotations
            .insert("last-applied".into(), "{\"password\":\"x\"}".into());
        let view = redacted_view(&secret);
        assert_eq!(
            view["stringData"]["repoURL"],
            "https://github.com/example/kargo-demo.git"
        );
        assert_eq!(view["stringData"]["username"], "my-username");
        assert_eq!(view["stringData"]["password"], REDACTED);
        assert_eq!(view["stringData"]["foo"], REDACTED);
        assert_eq!(view["metadata"]["annotations"]["last-applied"], REDACTED);
        assert_eq!(
            view["metadata"]["annotations"][DESCRIPTION_ANNOTATION],
            "demo"
        );
        assert!(!view.to_string().contains("my-personal-access-token"));

        let generic = new_generic(
            "ns",
            "api",
            GenericChanges {
                set: vec![("username".into(), Sensitive::from("u"))],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(redacted_view(&generic)["stringData"]["username"], REDACTED);
    }

    #[test]
    fn invalid_input_is_refused_without_echoing_secrets() {
        let mut new = NewCredentials {
            namespace: "n".into(),
            name: "Bad_Name".into(),
            cred_type: CredType::Git,
            repo_url: "x".into(),
            regex: false,
            username: "u".into(),
            password: Sensitive::from("p"),
            description: None,
        };
        assert!(new_credentials(new.clone()).is_err());
        new.name = "ok".into();
        new.password = Sensitive::from("p\nusername=evil");
        let error = new_credentials(new.clone()).unwrap_err().to_string();
        assert!(!error.contains("evil"), "{error}");
        new.password = Sensitive::from("p");
        new.regex = true;
        new.repo_url = "(unclosed".into();
        assert!(new_credentials(new).is_err());
    }

    #[test]
    fn table_and_ages() {
        let mut secret = demo();
        secret.server.created_at = Some(1000);
        let text = table(&[secret], 1000 + 505);
        assert!(text.starts_with("NAME"), "{text}");
        assert!(
            text.contains(
                "my-credentials   git    false   https://github.com/example/kargo-demo.git   8m25s"
            ),
            "{text}"
        );
        assert_eq!(age(45), "45s");
        assert_eq!(age(3 * 86_400 + 7200), "3d2h");
    }
}
