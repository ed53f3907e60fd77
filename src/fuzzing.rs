//! Invariant checks on hostile input, shared by the cargo-fuzz targets in `fuzz/` and by
//! `tests/fuzz_corpus.rs`, which replays the committed corpus in every CI run.
//!
//! Each `check_*` takes arbitrary bytes, drives one input path of the helpers and panics
//! (with the broken invariant) if it misbehaves: a panic inside the code under test, or a
//! result that breaks a promise of the SPEC. Not part of the supported API.

use crate::protocol::{docker, git};
use crate::secret::{forbidden_character, Secret};
use crate::source::manifest::{self, Format};
use crate::url;

/// The git credential protocol parser (SPEC §8.1).
///
/// A request it accepts holds no NUL, newline or carriage return in any value (a `url=`
/// included), names a URL free of them too, and writes back to input that parses to the
/// same request.
pub fn check_git_request(bytes: &[u8]) {
    let Ok(request) = git::read_request(bytes) else {
        return;
    };
    for (key, value) in git_fields(&request) {
        if let Some(what) = value.and_then(forbidden_character) {
            panic!("accepted a {key} holding a {what}");
        }
    }
    if let Some(what) = request
        .repository_url()
        .as_deref()
        .and_then(forbidden_character)
    {
        panic!("the repository URL holds a {what}");
    }
    let wire = git_wire(&request);
    if wire.len() <= git::MAX_INPUT {
        match git::read_request(wire.as_bytes()) {
            Ok(again) => assert!(again == request, "the request changed when written back"),
            Err(error) => panic!("the request written back does not parse: {error}"),
        }
    }
}

/// The attributes this crate reads, by their names on the wire.
fn git_fields(request: &git::GitRequest) -> [(&'static str, Option<&str>); 5] {
    [
        ("protocol", request.protocol.as_deref()),
        ("host", request.host.as_deref()),
        ("path", request.path.as_deref()),
        ("username", request.username.as_deref()),
        (
            "password",
            request.password.as_ref().map(|p| p.expose().as_str()),
        ),
    ]
}

/// A request as git writes one, with the fields this crate reads.
fn git_wire(request: &git::GitRequest) -> String {
    let mut wire = String::new();
    for (key, value) in git_fields(request) {
        if let Some(value) = value {
            wire.push_str(key);
            wire.push('=');
            wire.push_str(value);
            wire.push('\n');
        }
    }
    wire.push('\n');
    wire
}

/// What `docker-credential-kargo get|erase` does with stdin (SPEC §8.2): the server URL,
/// the registry host it is reduced to, and the JSON answer that echoes the URL.
///
/// The host is lower-case and trimmed, holds no `/` or control character, and reducing
/// it again changes nothing; the answer is one line of JSON that reads back as written.
pub fn check_docker_input(bytes: &[u8]) {
    let request = docker::read_server_request(bytes);
    let blank = String::from_utf8_lossy(bytes).trim().is_empty();
    assert_eq!(request.is_none(), blank, "blank input and None must agree");
    let Some(request) = request else {
        return;
    };
    let host = &request.registry_host;
    assert!(!host.contains('/'), "host {host:?} holds a '/'");
    assert!(
        !host
            .chars()
            .any(|c| c.is_control() || (c.is_whitespace() && c != ' ')),
        "host {host:?} holds a control character"
    );
    assert_eq!(host.trim(), host, "host {host:?} is not trimmed");
    assert!(
        !host.chars().any(|c| c.is_ascii_uppercase()),
        "host {host:?} is not lower-case"
    );
    let again = url::registry_host_of_server_url(host);
    assert_eq!(&again, host, "reducing the host again changed it");

    let answer = docker::format_credentials(&request.server_url, "user", "s\"e\ncret");
    assert!(
        answer.ends_with('\n') && answer.matches('\n').count() == 1,
        "the answer is not one line"
    );
    let json: serde_json::Value = serde_json::from_str(&answer).expect("the answer to get is JSON");
    assert_eq!(
        json["ServerURL"].as_str(),
        Some(request.server_url.as_str())
    );
    assert_eq!(json["Secret"].as_str(), Some("s\"e\ncret"));
}

/// The manifest loader of the `dir` source (SPEC §3), on a file's bytes, as YAML and as
/// JSON, whole and split into documents as the folder index splits it.
///
/// Every Secret it yields has a name and a namespace, renders back to a manifest that
/// parses to the same Secret, and is the same whether the file is parsed whole or
/// document by document.
pub fn check_manifest(bytes: &[u8]) {
    // The folder source skips files that are not UTF-8.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    for format in [Format::Yaml, Format::Json] {
        for folder in [None, Some("folder-ns")] {
            let Ok(parsed) = manifest::parse(text, format, folder) else {
                continue;
            };
            for secret in &parsed.secrets {
                check_secret(secret, folder);
            }
            if format == Format::Yaml {
                check_split_agrees(text, folder, &parsed.secrets);
            }
        }
    }
}

fn check_secret(secret: &Secret, folder: Option<&str>) {
    assert!(!secret.name.is_empty(), "a Secret without a name");
    assert!(!secret.namespace.is_empty(), "a Secret without a namespace");
    if folder.is_none() {
        assert_ne!(secret.namespace, "folder-ns");
    }
    // A rendered manifest always names its type, `Opaque` by default.
    let expected = Secret {
        secret_type: Some(
            secret
                .secret_type
                .clone()
                .unwrap_or_else(|| "Opaque".into()),
        ),
        ..secret.clone()
    };
    for format in [Format::Yaml, Format::Json] {
        let rendered = manifest::render(secret, format);
        match manifest::parse(&rendered, format, None) {
            Ok(mut back) => {
                assert_eq!(
                    back.secrets.len(),
                    1,
                    "{format:?} rendering of {} reads back as {} Secrets",
                    secret.id(),
                    back.secrets.len()
                );
                assert!(
                    back.secrets.remove(0) == expected,
                    "{format:?} rendering of {} reads back differently",
                    secret.id()
                );
            }
            Err(error) => panic!(
                "{format:?} rendering of {} does not parse: {error}",
                secret.id()
            ),
        }
    }
}

/// The folder index parses a YAML file one document at a time (to locate each Secret):
/// where that and parsing the whole file both succeed, they must find the same Secrets.
fn check_split_agrees(text: &str, folder: Option<&str>, whole: &[Secret]) {
    let documents = manifest::split_yaml_documents(text);
    let mut expected_start = 0;
    for &(start, end, _) in &documents {
        assert!(
            start == expected_start && start < end && end <= text.len(),
            "document ranges must tile the text"
        );
        expected_start = end;
    }
    let mut pieces = Vec::new();
    for (start, end, _) in documents {
        match manifest::parse(&text[start..end], Format::Yaml, folder) {
            Ok(parsed) => pieces.extend(parsed.secrets),
            Err(_) => return,
        }
    }
    assert!(
        pieces == whole,
        "parsing document by document found other Secrets than parsing the whole file"
    );
}

/// Every normalization function (SPEC §5.1) on an arbitrary string: none panics, and
/// normalizing twice gives what normalizing once gave, with two exceptions that are
/// Kargo's behaviour, not ours to change:
///
/// * ASCII case: Kargo lower-cases a git URL *before* Go decodes and re-escapes it, so the
///   result may hold upper case (`%41` → `A`, `é` → `%C3%A9`) that a second pass
///   lower-cases. Twice equals once up to ASCII case, and a third pass changes nothing.
/// * one-pass trims: Kargo drops ONE trailing `/`, ONE `.git`, ONE `library/` and helm ONE
///   `oci://`, so a result that still carries one is trimmed again ([`trims_again`]).
/// * a result that a second pass reads through another parser ([`reread_differently`]):
///   Kargo's incidental SCP handling, which the vectors leave out; only checked not to
///   panic.
pub fn check_normalize(bytes: &[u8]) {
    let input = String::from_utf8_lossy(bytes);
    let input = input.as_ref();

    let sanitized = url::sanitize(input);
    assert_eq!(
        url::sanitize(&sanitized),
        sanitized,
        "sanitize is idempotent"
    );
    assert!(
        !sanitized.chars().any(char::is_control),
        "sanitize leaves no control character"
    );
    assert_eq!(sanitized.trim(), sanitized, "sanitize trims");

    for kind in [Kind::Git, Kind::Image, Kind::Helm] {
        let once = kind.normalize(input);
        if once != input && !trims_again(kind, &once) && !reread_differently(kind, input, &once) {
            let twice = kind.normalize(&once);
            assert!(
                twice.eq_ignore_ascii_case(&once),
                "{kind:?} normalization is not idempotent: once {once:?}, twice {twice:?}"
            );
            if !trims_again(kind, &twice) {
                let thrice = kind.normalize(&twice);
                assert!(
                    thrice == twice,
                    "{kind:?} normalization does not settle: twice {twice:?}, thrice {thrice:?}"
                );
            }
        }
    }

    let image = url::normalize_image_url(input);
    let _ = url::registry_host_of_normalized_image(&image);
    let _ = url::registry_host_of_normalized_image(input);
    let _ = url::registry_host_of_server_url(input);
    let _ = url::host_of_url(&url::normalize_git_url(input));
    let _ = url::host_of_url(input);
    let display = url::for_display(input);
    assert!(
        !display.chars().any(char::is_control),
        "for_display leaves no control character"
    );
    let _ = crate::resolve::is_plain_http(input);
    let _ = crate::secret::CredType::guess_from_url(input);
}

/// Whether a second pass reads a git result through another parser than the first:
///
/// * an SCP-style input (`host:path`, also `h://x` with an unknown scheme, as Kargo does)
///   has its path parsed as a Go *relative* reference and becomes `ssh://host/path`, which
///   a second pass parses as an absolute URL: `//x>y` was a network path keeping Go's host
///   characters, `"` was left as written, and so on. Only results of plain characters and
///   no `//` in the path are held to idempotence;
/// * `https://` with no host and no path: Go writes it back as `https:`, which a second
///   pass reads as the SCP host `https` (`ssh://https`).
fn reread_differently(kind: Kind, input: &str, normalized: &str) -> bool {
    if kind != Kind::Git {
        return false;
    }
    let lowered = url::sanitize(input).to_ascii_lowercase();
    let hierarchical = ["http://", "https://", "ssh://"]
        .iter()
        .any(|scheme| lowered.starts_with(scheme));
    if hierarchical {
        return ["http:", "https:", "ssh:"].iter().any(|scheme| {
            normalized
                .strip_prefix(scheme)
                .is_some_and(|rest| !rest.starts_with("//"))
        });
    }
    let plain = normalized
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/@:".contains(&b));
    let network_path = normalized
        .strip_prefix("ssh://")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, path)| path.contains("//"));
    !plain || network_path
}

/// A credential type whose URLs are normalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Git,
    Image,
    Helm,
}

impl Kind {
    pub fn normalize(self, input: &str) -> String {
        match self {
            Kind::Git => url::normalize_git_url(input),
            Kind::Image => url::normalize_image_url(input),
            Kind::Helm => url::normalize_helm_url(input),
        }
    }
}

/// Whether a normalized URL still carries what one pass trims once: a trailing `/` or
/// `.git` (git, helm `https://`), a leading `library/` (Docker Hub images and charts), a
/// leading `oci://` (helm), or (helm `https://`) a space that dropping the trailing `/`
/// left at the end, which the second pass's sanitizing trims.
pub fn trims_again(kind: Kind, normalized: &str) -> bool {
    let before_query = normalized
        .find(['#', '?'])
        .map_or(normalized, |end| &normalized[..end]);
    let ends_trimmable = before_query.ends_with('/') || before_query.ends_with(".git");
    let library = normalized.starts_with("library/");
    match kind {
        Kind::Git => ends_trimmable,
        Kind::Image => library,
        // Helm's `https://` rule drops a `/` that ends the whole URL, fragment or not.
        Kind::Helm => {
            ends_trimmable
                || normalized.ends_with('/')
                || library
                || normalized.starts_with("oci://")
                || normalized.ends_with(char::is_whitespace)
        }
    }
}
