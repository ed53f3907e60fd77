//! Property tests (bounded: a few hundred generated cases each, a few seconds in all):
//! normalization never panics and is idempotent on URL-like strings and keeps the
//! properties the shared vectors show; resolution keeps Kargo's precedence whatever else
//! a namespace holds; git requests survive a round trip through the wire format.

use kargo_creds::fuzzing::{self, Kind};
use kargo_creds::protocol::git;
use kargo_creds::resolve::{self, NamespaceSecrets, Target, Thoroughness};
use kargo_creds::secret::{CredType, Data, Secret};
use kargo_creds::sensitive::Sensitive;
use kargo_creds::url;
use proptest::prelude::*;
use proptest::sample::select;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // A failure is fixed by adding its input to fuzz/corpus/normalize, not by a file
        // of seeds beside the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// URL-like strings

fn scheme() -> impl Strategy<Value = &'static str> {
    select(vec![
        "https://", "http://", "ssh://", "HTTPS://", "Ssh://", "oci://", "OCI://", "", "",
    ])
}

fn userinfo() -> impl Strategy<Value = &'static str> {
    select(vec![
        "",
        "",
        "",
        "git@",
        "user:pass@",
        "a%40b:p%3Aw@",
        "Bob@",
        "u:@",
        "@",
    ])
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "github.com",
            "GitHub.COM",
            "localhost",
            "[::1]",
            "[fe80::1%25en0]",
            "127.0.0.1",
            "ghcr.io",
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "europe-docker.pkg.dev",
            "bücher.example",
            "İstanbul.example",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9][a-zA-Z0-9.-]{0,11}",
    ]
}

fn port() -> impl Strategy<Value = &'static str> {
    select(vec![
        "", "", "", ":443", ":5000", ":2222", ":", ":abc", ":80:80",
    ])
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "org", "repo.git", "Repo", "..", ".", "%2e%2e", "%41", "%zz", "%", "", "library", "é",
            "a b", "x:y", "@", "tag:1.0", ".git", "~user", "日本",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9._~-]{1,8}",
    ]
}

fn suffix() -> impl Strategy<Value = &'static str> {
    select(vec![
        "",
        "",
        "",
        "/",
        ".git",
        "/.git/",
        ".git/",
        "//",
        "?x=1",
        "?",
        "#frag",
        ":latest",
        "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ])
}

fn decoration() -> impl Strategy<Value = &'static str> {
    select(vec![
        "", "", "", " ", "\t", "\n", "\u{feff}", "\u{200b}", "\u{a0}", "\r\n",
    ])
}

/// `scheme userinfo host port /path suffix`, decorated, or an SCP-style `user@host:path`.
fn url_like() -> impl Strategy<Value = String> {
    let hierarchical = (
        decoration(),
        scheme(),
        userinfo(),
        host(),
        port(),
        prop::collection::vec(segment(), 0..4),
        suffix(),
        decoration(),
    )
        .prop_map(|(lead, scheme, user, host, port, path, suffix, trail)| {
            let path: String = path.iter().map(|s| format!("/{s}")).collect();
            format!("{lead}{scheme}{user}{host}{port}{path}{suffix}{trail}")
        });
    let scp = (
        userinfo(),
        host(),
        prop::collection::vec(segment(), 0..3),
        suffix(),
    )
        .prop_map(|(user, host, path, suffix)| format!("{user}{host}:{}{suffix}", path.join("/")));
    prop_oneof![4 => hierarchical, 1 => scp, 1 => any::<String>()]
}

/// A lower-case host and path that every normalizer accepts as they are.
fn simple_repository() -> impl Strategy<Value = (String, String)> {
    (
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9-]{0,5}){1,2}",
        prop::collection::vec("[a-z0-9][a-z0-9_-]{1,8}", 1..4),
    )
        .prop_map(|(host, path)| (host, path.join("/")))
}

proptest! {
    #![proptest_config(config(768))]

    /// The fuzz target's check: nothing panics, every normalizer is idempotent up to the
    /// documented one-pass trims and the case of what Go re-escapes.
    #[test]
    fn normalization_never_panics_and_is_idempotent(input in url_like()) {
        fuzzing::check_normalize(input.as_bytes());
        fuzzing::check_docker_input(input.as_bytes());
    }

    /// Surrounding whitespace and invisible characters never matter (sanitize rules).
    #[test]
    fn decoration_does_not_change_a_normalized_url(
        input in url_like(),
        lead in decoration(),
        trail in decoration(),
    ) {
        let decorated = format!("{lead}\u{feff}{input}\u{200b}{trail}");
        for kind in [Kind::Git, Kind::Image, Kind::Helm] {
            let normalized = kind.normalize(&decorated);
            // An input that cannot be normalized is returned exactly as given.
            if normalized != decorated {
                prop_assert_eq!(&normalized, &kind.normalize(&url::sanitize(&decorated)), "{:?}", kind);
            }
        }
    }

    /// Normalized forms ignore ASCII case, wherever the URL normalizes at all (up to the
    /// case of what Go decodes and re-escapes after Kargo lower-cases: `%41` → `A`).
    #[test]
    fn case_does_not_change_a_normalized_url(input in url_like()) {
        let upper = input.to_ascii_uppercase();
        let lower = input.to_ascii_lowercase();
        for kind in [Kind::Git, Kind::Image, Kind::Helm] {
            let from_upper = kind.normalize(&upper);
            let from_lower = kind.normalize(&lower);
            if from_upper != upper && from_lower != lower {
                prop_assert_eq!(
                    from_upper.to_ascii_lowercase(),
                    from_lower.to_ascii_lowercase(),
                    "{:?}", kind
                );
            }
        }
    }

    /// git: userinfo, one trailing `/` and one `.git` are not part of an http(s) repository;
    /// an SCP-style address is the `ssh://` one.
    #[test]
    fn git_forms_of_one_repository_agree(
        (host, path) in simple_repository(),
        scheme in select(vec!["https://", "http://"]),
        user in select(vec!["", "git@", "user:token@"]),
    ) {
        let plain = url::normalize_git_url(&format!("{scheme}{host}/{path}"));
        prop_assert_eq!(&plain, &format!("{scheme}{host}/{path}"));
        for variant in [
            format!("{scheme}{user}{host}/{path}"),
            format!("{scheme}{host}/{path}/"),
            format!("{scheme}{host}/{path}.git"),
            format!("{scheme}{host}/{path}.git/"),
            format!("{}{}/{path}", scheme.to_ascii_uppercase(), host.to_ascii_uppercase()),
        ] {
            prop_assert_eq!(&url::normalize_git_url(&variant), &plain, "{}", variant);
        }
        prop_assert_eq!(
            url::normalize_git_url(&format!("git@{host}:{path}.git")),
            url::normalize_git_url(&format!("ssh://git@{host}/{path}"))
        );
        prop_assert_eq!(url::host_of_url(&plain), Some(host.as_str()));
    }

    /// image/helm: Docker Hub spellings collapse, tags and digests are not the repository,
    /// `oci://` charts normalize as images.
    #[test]
    fn image_forms_of_one_repository_agree(
        (host, path) in simple_repository(),
        name in "[a-z0-9]{2,10}",
        tag in "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,10}",
    ) {
        for hub in [
            format!("docker.io/library/{name}"),
            format!("index.docker.io/{name}:{tag}"),
            format!("registry-1.docker.io/library/{name}"),
            format!("{name}:{tag}"),
            format!("oci://docker.io/{name}"),
        ] {
            let kind = if hub.starts_with("oci://") { Kind::Helm } else { Kind::Image };
            prop_assert_eq!(&kind.normalize(&hub), &name, "{}", hub);
        }
        let image = format!("{host}/{path}");
        prop_assert_eq!(&url::normalize_image_url(&image), &image);
        prop_assert_eq!(&url::normalize_image_url(&format!("{image}:{tag}")), &image);
        prop_assert_eq!(&url::normalize_helm_url(&format!("oci://{image}")), &image);
        prop_assert_eq!(url::registry_host_of_normalized_image(&image), host.as_str());
        prop_assert_eq!(url::registry_host_of_server_url(&format!("https://{host}/v2/")), host);
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution

const URLS: &[&str] = &[
    "https://github.com/acme/app",
    "https://github.com/acme/app.git",
    "https://github.com/acme/other",
    "https://github.com",
    "git@github.com:acme/app.git",
    "https://gitlab.example/acme/app",
];

const PATTERNS: &[&str] = &[
    "^https://github.com/acme/",
    "github\\.com",
    "gitlab",
    "(unclosed",
    "app$",
];

fn secret(namespace: &str, name: String, repo_url: Option<&str>, regex: bool) -> Secret {
    let mut data: Vec<(String, Sensitive<Vec<u8>>)> = vec![
        ("username".into(), Sensitive::new(b"u".to_vec())),
        ("password".into(), Sensitive::new(b"p".to_vec())),
    ];
    if let Some(repo_url) = repo_url {
        data.push((
            "repoURL".into(),
            Sensitive::new(repo_url.as_bytes().to_vec()),
        ));
    }
    if regex {
        data.push(("repoURLIsRegex".into(), Sensitive::new(b"true".to_vec())));
    }
    Secret {
        namespace: namespace.into(),
        name,
        data: Some(data.into_iter().collect::<Data>()),
        ..Secret::default()
    }
}

/// Up to 8 Secrets with distinct names, exact or regex, some without `repoURL`.
fn namespace_secrets(namespace: &'static str) -> impl Strategy<Value = Vec<Secret>> {
    prop::collection::btree_map(
        "[a-z]{1,3}",
        (any::<bool>(), 0..URLS.len(), 0..PATTERNS.len(), 0..8u8),
        0..8,
    )
    .prop_map(move |secrets| {
        secrets
            .into_iter()
            .map(|(name, (regex, url, pattern, missing))| {
                let repo_url = match (missing, regex) {
                    (0, _) => None,
                    (_, true) => Some(PATTERNS[pattern]),
                    (_, false) => Some(URLS[url]),
                };
                secret(namespace, name, repo_url, regex)
            })
            .collect()
    })
}

fn winner_id(target: &Target, namespaces: &[NamespaceSecrets<Secret>]) -> Option<String> {
    resolve::resolve(target, namespaces, Thoroughness::FirstMatch)
        .winner
        .map(Secret::id)
}

fn namespaces(project: Vec<Secret>, shared: Vec<Secret>) -> Vec<NamespaceSecrets<Secret>> {
    vec![
        NamespaceSecrets {
            namespace: "project".into(),
            secrets: project,
        },
        NamespaceSecrets {
            namespace: "shared".into(),
            secrets: shared,
        },
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// The documented order decides, not the order a source lists Secrets in; a helper's
    /// first-match lookup and `--explain` pick the same Secret.
    #[test]
    fn the_winner_depends_on_names_not_listing_order(
        project in namespace_secrets("project"),
        shared in namespace_secrets("shared"),
        url in select(URLS.to_vec()),
    ) {
        let target = Target::url(CredType::Git, url);
        let listed = namespaces(project.clone(), shared.clone());
        let reversed = namespaces(
            project.into_iter().rev().collect(),
            shared.into_iter().rev().collect(),
        );
        let winner = winner_id(&target, &listed);
        prop_assert_eq!(&winner, &winner_id(&target, &reversed));
        let explained = resolve::resolve(&target, &listed, Thoroughness::Explain);
        prop_assert_eq!(&winner, &explained.winner.map(Secret::id));
    }

    /// A match in the project namespace always beats anything in the shared one.
    #[test]
    fn the_project_namespace_beats_the_shared_one(
        project in namespace_secrets("project"),
        shared in namespace_secrets("shared"),
        url in select(URLS.to_vec()),
    ) {
        let target = Target::url(CredType::Git, url);
        let project_only = winner_id(&target, &namespaces(project.clone(), Vec::new()));
        let both = winner_id(&target, &namespaces(project, shared.clone()));
        match project_only {
            Some(project_winner) => prop_assert_eq!(both, Some(project_winner)),
            None => prop_assert_eq!(both, winner_id(&target, &namespaces(Vec::new(), shared))),
        }
    }

    /// Exact `repoURL`s come first, in name order: adding a Secret named after an exact
    /// winner, whatever it holds, never changes the winner. An exact winner's normalized
    /// `repoURL` is the request's.
    #[test]
    fn a_later_name_never_displaces_an_exact_winner(
        project in namespace_secrets("project"),
        url in select(URLS.to_vec()),
        extra_url in select(URLS.iter().chain(PATTERNS).copied().collect::<Vec<_>>()),
        extra_regex in any::<bool>(),
        extra_suffix in "[a-z]{0,3}",
    ) {
        let target = Target::url(CredType::Git, url);
        let listed = namespaces(project.clone(), Vec::new());
        let before = resolve::resolve(&target, &listed, Thoroughness::FirstMatch);
        let Some(winner) = before.winner.filter(|winner| !winner.is_regex()) else {
            return Ok(());
        };
        prop_assert_eq!(
            url::normalize_git_url(winner.text("repoURL").unwrap().unwrap()),
            target.normalized()
        );
        let extra_name = format!("{}~{extra_suffix}", winner.name);
        let mut more = project.clone();
        more.retain(|secret| secret.name != extra_name);
        more.push(secret("project", extra_name, Some(extra_url), extra_regex));
        prop_assert_eq!(
            winner_id(&target, &namespaces(more, Vec::new())),
            Some(winner.id())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The git protocol

/// A value git could send: no NUL, newline or carriage return.
fn git_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[^\\x00\\n\\r]{0,12}",
        select(vec![
            "",
            "=",
            "a=b",
            "%0a",
            "%00",
            "é",
            " x ",
            "https://h/p"
        ])
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// What git writes, the parser reads back field by field; unknown keys and
    /// capabilities change nothing.
    #[test]
    fn git_requests_round_trip(
        protocol in prop::option::of(git_value()),
        host in prop::option::of(git_value()),
        path in prop::option::of(git_value()),
        username in prop::option::of(git_value()),
        password in prop::option::of(git_value()),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut wire = format!("capability[]=authtype{eol}wwwauth[]=Basic realm=\"x\"{eol}");
        for (key, value) in [
            ("protocol", &protocol),
            ("host", &host),
            ("path", &path),
            ("username", &username),
            ("password", &password),
        ] {
            if let Some(value) = value {
                wire.push_str(&format!("{key}={value}{eol}future-key=1{eol}"));
            }
        }
        wire.push_str(eol);
        let request = git::read_request(wire.as_bytes()).unwrap();
        prop_assert_eq!(&request.protocol, &protocol);
        prop_assert_eq!(&request.host, &host);
        prop_assert_eq!(&request.path, &path);
        prop_assert_eq!(&request.username, &username);
        prop_assert_eq!(request.password.as_ref().map(|p| p.expose().clone()), password);
        fuzzing::check_git_request(wire.as_bytes());
    }

    /// A `url=` names the same repository as the fields it stands for.
    #[test]
    fn a_url_line_equals_its_fields(
        (host, path) in simple_repository(),
        scheme in select(vec!["https", "http", "ssh"]),
        port in select(vec!["", ":8443"]),
        user in select(vec!["", "bob@", "bob:s%3Dcret@"]),
    ) {
        let from_url = git::read_request(format!("url={scheme}://{user}{host}{port}/{path}\n").as_bytes()).unwrap();
        let from_fields = git::read_request(
            format!("protocol={scheme}\nhost={host}{port}\npath={path}\n").as_bytes(),
        )
        .unwrap();
        prop_assert_eq!(from_url.repository_url(), from_fields.repository_url());
        prop_assert_eq!(from_url.username.is_some(), !user.is_empty());
    }

    /// Arbitrary lines never panic the parser and never yield a value with a control
    /// character in it (the fuzz target's check, on line-shaped input).
    #[test]
    fn arbitrary_lines_keep_the_parser_invariants(
        lines in prop::collection::vec(
            (select(vec!["protocol", "host", "path", "username", "password", "url", "x"]), any::<String>()),
            0..6,
        ),
    ) {
        let wire: String = lines.iter().map(|(key, value)| format!("{key}={value}\n")).collect();
        fuzzing::check_git_request(wire.as_bytes());
    }
}
