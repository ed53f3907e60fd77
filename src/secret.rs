//! The Secret model: what a source hands to resolution, independent of where it came from.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::sensitive::Sensitive;

/// The label that marks a Secret as a Kargo credential, and its type.
pub const CRED_TYPE_LABEL: &str = "kargo.akuity.io/cred-type";
/// A free-text description shown by `get credentials`.
pub const DESCRIPTION_ANNOTATION: &str = "kargo.akuity.io/description";

/// Well-known data keys.
pub mod keys {
    pub const REPO_URL: &str = "repoURL";
    pub const REPO_URL_IS_REGEX: &str = "repoURLIsRegex";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    pub const SSH_PRIVATE_KEY: &str = "sshPrivateKey";
}

/// The value of the `kargo.akuity.io/cred-type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredType {
    Git,
    Helm,
    Image,
    Generic,
}

impl CredType {
    pub fn as_str(self) -> &'static str {
        match self {
            CredType::Git => "git",
            CredType::Helm => "helm",
            CredType::Image => "image",
            CredType::Generic => "generic",
        }
    }

    /// Guesses the type of a URL given without `--type`: `oci://` is a chart, a URL git
    /// can clone is git, anything else is an image reference.
    pub fn guess_from_url(url: &str) -> CredType {
        let lower = crate::url::sanitize(url).to_ascii_lowercase();
        if lower.starts_with("oci://") {
            CredType::Helm
        } else if lower.starts_with("https://")
            || lower.starts_with("http://")
            || lower.starts_with("ssh://")
            || lower.starts_with("git@")
            || lower.contains(".git")
        {
            CredType::Git
        } else {
            CredType::Image
        }
    }
}

impl fmt::Display for CredType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CredType {
    type Err = String;

    /// Exact and case-sensitive, as the label selector is.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "git" => Ok(CredType::Git),
            "helm" => Ok(CredType::Helm),
            "image" => Ok(CredType::Image),
            "generic" => Ok(CredType::Generic),
            other => Err(format!(
                "unknown credential type {other:?} (expected git, helm, image or generic)"
            )),
        }
    }
}

/// A Kubernetes Secret, reduced to what credential lookup needs. `data` holds decoded
/// bytes (`data` base64-decoded, `stringData` as given); every value is [`Sensitive`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Secret {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `None` when the Secret has no data at all.
    pub data: Option<Data>,
    /// The Secret's `type` (`Opaque` when absent); kept as it is when the Secret is updated.
    pub secret_type: Option<String>,
    /// What the API server adds, when the source has it (shown by `get credentials`).
    pub server: ServerFields,
}

/// Fields a Kubernetes API server fills in; empty for a manifest in a folder.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerFields {
    /// Unix seconds.
    pub created_at: Option<i64>,
    pub resource_version: Option<String>,
    pub uid: Option<String>,
}

/// A Secret's `data`, ordered by key, every value [`Sensitive`]. A sorted vector rather
/// than a tree: Secrets hold a handful of keys, and a lookup may build thousands of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Data(Vec<(String, Sensitive<Vec<u8>>)>);

impl Data {
    pub fn new() -> Data {
        Data(Vec::new())
    }

    /// Sets a key, returning the value it replaces.
    pub fn insert(&mut self, key: String, value: Sensitive<Vec<u8>>) -> Option<Sensitive<Vec<u8>>> {
        match self.position(&key) {
            Ok(index) => Some(std::mem::replace(&mut self.0[index].1, value)),
            Err(index) => {
                self.0.insert(index, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Sensitive<Vec<u8>>> {
        let index = self.position(key).ok()?;
        Some(self.0.remove(index).1)
    }

    pub fn get(&self, key: &str) -> Option<&Sensitive<Vec<u8>>> {
        self.position(key).ok().map(|index| &self.0[index].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Keys and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Sensitive<Vec<u8>>)> {
        self.0.iter().map(|(key, value)| (key.as_str(), value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(key, _)| key.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|(candidate, _)| candidate.as_str().cmp(key))
    }
}

impl FromIterator<(String, Sensitive<Vec<u8>>)> for Data {
    fn from_iter<I: IntoIterator<Item = (String, Sensitive<Vec<u8>>)>>(entries: I) -> Data {
        let mut data = Data::new();
        for (key, value) in entries {
            data.insert(key, value);
        }
        data
    }
}

impl<const N: usize> From<[(String, Sensitive<Vec<u8>>); N]> for Data {
    fn from(entries: [(String, Sensitive<Vec<u8>>); N]) -> Data {
        entries.into_iter().collect()
    }
}

/// A data value that cannot be used as it stands. Names the Secret and the key, never
/// the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("secret {secret}: data key {key:?} is not valid UTF-8")]
    NotUtf8 { secret: String, key: String },
    #[error(
        "secret {secret}: data key {key:?} contains a {what} (refusing to emit it: it could inject attributes into the credential protocol)"
    )]
    ForbiddenCharacter {
        secret: String,
        key: String,
        what: &'static str,
    },
}

impl Secret {
    /// `namespace/name`, the way Kargo and kubectl name a Secret.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The credential type its label declares, if it is one of the four known values.
    pub fn cred_type(&self) -> Option<CredType> {
        self.labels.get(CRED_TYPE_LABEL)?.parse().ok()
    }

    pub fn has_key(&self, key: &str) -> bool {
        self.data
            .as_ref()
            .is_some_and(|data| data.contains_key(key))
    }

    /// The raw bytes of a data value.
    pub fn bytes(&self, key: &str) -> Option<&[u8]> {
        Some(self.data.as_ref()?.get(key)?.expose().as_slice())
    }

    /// A data value as text, exactly as stored.
    pub fn text(&self, key: &str) -> Result<Option<&str>, ValueError> {
        match self.bytes(key) {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| ValueError::NotUtf8 {
                    secret: self.id(),
                    key: key.to_owned(),
                }),
        }
    }

    /// A data value as text with one trailing `\n` or `\r\n` removed (the common
    /// `echo … | base64` mistake). Used for `repoURL`, `username` and `password`.
    pub fn trimmed_text(&self, key: &str) -> Result<Option<&str>, ValueError> {
        Ok(self.text(key)?.map(trim_one_newline))
    }

    /// A value about to be written into a line-based protocol: trimmed as above, and
    /// refused if a newline, carriage return or NUL remains inside it.
    pub fn emittable_text(&self, key: &str) -> Result<Option<&str>, ValueError> {
        let Some(value) = self.trimmed_text(key)? else {
            return Ok(None);
        };
        if let Some(what) = forbidden_character(value) {
            return Err(ValueError::ForbiddenCharacter {
                secret: self.id(),
                key: key.to_owned(),
                what,
            });
        }
        Ok(Some(value))
    }

    /// Whether `repoURLIsRegex` is exactly `"true"` (anything else means an exact URL).
    pub fn is_regex(&self) -> bool {
        self.bytes(keys::REPO_URL_IS_REGEX) == Some(b"true".as_slice())
    }
}

/// Removes a single trailing `\r\n` or `\n`.
pub fn trim_one_newline(value: &str) -> &str {
    value
        .strip_suffix("\r\n")
        .or_else(|| value.strip_suffix('\n'))
        .unwrap_or(value)
}

/// Names the first character that must never appear in an emitted value.
pub fn forbidden_character(value: &str) -> Option<&'static str> {
    value.chars().find_map(|c| match c {
        '\n' => Some("newline"),
        '\r' => Some("carriage return"),
        '\0' => Some("NUL byte"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_with(key: &str, value: &str) -> Secret {
        Secret {
            namespace: "ns".into(),
            name: "s".into(),
            data: Some(Data::from([(
                key.to_owned(),
                Sensitive::new(value.as_bytes().to_vec()),
            )])),
            ..Secret::default()
        }
    }

    #[test]
    fn one_trailing_newline_is_trimmed() {
        for (stored, expected) in [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw", "pw"),
            ("pw\n\n", "pw\n"),
        ] {
            let secret = secret_with("password", stored);
            assert_eq!(secret.trimmed_text("password").unwrap(), Some(expected));
        }
    }

    #[test]
    fn embedded_control_characters_are_refused_without_showing_the_value() {
        for stored in ["pw\nusername=evil", "a\rb", "a\0b", "pw\n\n"] {
            let secret = secret_with("password", stored);
            let error = secret.emittable_text("password").unwrap_err();
            let message = error.to_string();
            assert!(message.contains("ns/s"), "{message}");
            assert!(
                !message.contains("evil") && !message.contains("pw"),
                "{message}"
            );
        }
    }

    #[test]
    fn only_exact_true_means_regex() {
        for (value, regex) in [("true", true), ("True", false), ("1", false), ("", false)] {
            assert_eq!(secret_with("repoURLIsRegex", value).is_regex(), regex);
        }
    }

    #[test]
    fn guesses_type_from_url() {
        assert_eq!(
            CredType::guess_from_url("oci://ghcr.io/a/b"),
            CredType::Helm
        );
        assert_eq!(
            CredType::guess_from_url("https://github.com/a/b"),
            CredType::Git
        );
        assert_eq!(
            CredType::guess_from_url("git@github.com:a/b.git"),
            CredType::Git
        );
        assert_eq!(CredType::guess_from_url("ghcr.io/a/b"), CredType::Image);
    }
}
