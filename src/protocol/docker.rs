//! The docker-credential-helpers protocol (SPEC §8.2): one action word as the argument,
//! the server URL (or JSON for `store`) on stdin, JSON or a message on stdout.
//!
//! The error strings are the ones clients match on (docker-credential-helpers'
//! `credentials/error.go`): do not reword them.

use std::collections::BTreeMap;

use serde::Serialize;

/// `get` found nothing: docker and the Python SDK turn this exact text into "not found".
pub const NOT_FOUND: &str = "credentials not found in native keychain";
/// `get`/`erase` without a server URL.
pub const MISSING_SERVER_URL: &str = "no credentials server URL";

/// The actions a docker credential helper takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Store,
    Erase,
    List,
    Version,
}

impl Action {
    /// Every action, in the order usage and the man page list them.
    pub const ALL: [Action; 5] = [
        Action::Get,
        Action::Store,
        Action::Erase,
        Action::List,
        Action::Version,
    ];

    /// The word docker passes as the argument.
    pub fn word(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::Store => "store",
            Action::Erase => "erase",
            Action::List => "list",
            Action::Version => "version",
        }
    }

    pub fn parse(word: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|action| action.word() == word)
    }
}

/// The server URL from stdin, trimmed; `None` when empty.
pub fn parse_server_url(input: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(input);
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// What `get` and `erase` read on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRequest {
    /// As given (trimmed): `get` echoes it back as `ServerURL`.
    pub server_url: String,
    /// The registry host it names, which Secrets are matched against.
    pub registry_host: String,
}

/// Reads the server URL `get` and `erase` receive; `None` when there is none.
pub fn read_server_request(input: &[u8]) -> Option<ServerRequest> {
    let server_url = parse_server_url(input)?;
    let registry_host = crate::url::registry_host_of_server_url(&server_url);
    Some(ServerRequest {
        server_url,
        registry_host,
    })
}

#[derive(Serialize)]
struct CredentialsOut<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// The answer to `get`.
pub fn format_credentials(server_url: &str, username: &str, secret: &str) -> String {
    let out = CredentialsOut {
        server_url,
        username,
        secret,
    };
    // Serializing three strings cannot fail. A newline ends it, as Go's json.Encoder does.
    let mut json = serde_json::to_string(&out).unwrap_or_default();
    json.push('\n');
    json
}

/// The answer to `list`: `{server: username}`.
pub fn format_list(entries: &BTreeMap<String, String>) -> String {
    let mut json = serde_json::to_string(entries).unwrap_or_else(|_| "{}".into());
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_word_parses_back_and_others_do_not() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.word()), Some(action));
        }
        for word in ["", "GET", "get ", "help", "--version"] {
            assert_eq!(Action::parse(word), None, "{word:?}");
        }
    }

    #[test]
    fn server_url_is_trimmed_and_empty_is_none() {
        assert_eq!(parse_server_url(b"ghcr.io\n").as_deref(), Some("ghcr.io"));
        assert_eq!(parse_server_url(b"  \n"), None);
        assert_eq!(parse_server_url(b""), None);
    }

    #[test]
    fn credentials_json_has_docker_field_names() {
        let json = format_credentials("ghcr.io", "u", "p\"q");
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["ServerURL"], "ghcr.io");
        assert_eq!(value["Username"], "u");
        assert_eq!(value["Secret"], "p\"q");
    }
}
