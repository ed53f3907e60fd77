//! `kargo-creds` end to end (SPEC §4, §5, §9, §10): `resolve` (summary, `--explain`,
//! `-o json`, `--registry`, the type guess), `get` in every output form, `version`, exit
//! codes, plain-http refusal, configuration precedence, and that `resolve` never prints a
//! password.

mod support;

use std::process::Output;

use serde_json::{json, Value};
use support::{assert_no_secrets_in_stderr, stderr, stdout, Env, CLI, EXAMPLE_SECRETS};

const DEMO_REPO: &str = "https://github.com/example/kargo-demo.git";
const SHARED: &str = "kargo-shared-resources";

// ---------------------------------------------------------------------------------------
// helpers

fn cli(env: &Env, args: &[&str]) -> Output {
    env.run(CLI, args, b"")
}

fn code(output: &Output) -> i32 {
    output
        .status
        .code()
        .expect("exited normally (not by a signal)")
}

/// Runs and expects exit 0; returns stdout.
#[track_caller]
fn ok(env: &Env, args: &[&str]) -> String {
    let output = cli(env, args);
    assert_eq!(
        code(&output),
        0,
        "kargo-creds {args:?}\nstdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
    stdout(&output)
}

#[track_caller]
fn json_of(env: &Env, args: &[&str]) -> Value {
    let out = ok(env, args);
    serde_json::from_str(&out).unwrap_or_else(|error| panic!("{args:?}: not JSON ({error}): {out}"))
}

fn demo() -> Env {
    Env::with_examples().var("KARGO_PROJECT", "kargo-demo")
}

/// A Secret manifest (as JSON) in `namespace`, labelled `cred_type`, with `stringData`.
fn secret(namespace: &str, name: &str, cred_type: &str, data: &[(&str, &str)]) -> Value {
    let string_data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kargo.akuity.io/cred-type": cred_type},
        },
        "stringData": string_data,
    })
}

fn basic(
    namespace: &str,
    name: &str,
    cred_type: &str,
    repo_url: &str,
    user: &str,
    pass: &str,
) -> Value {
    secret(
        namespace,
        name,
        cred_type,
        &[
            ("repoURL", repo_url),
            ("username", user),
            ("password", pass),
        ],
    )
}

fn write_list(env: &Env, file: &str, items: Vec<Value>) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    env.write_manifest(file, &serde_json::to_string_pretty(&list).unwrap());
}

/// Asserts `needles` occur in `haystack` in this order.
#[track_caller]
fn assert_in_order(haystack: &str, needles: &[&str]) {
    let mut from = 0;
    for needle in needles {
        match haystack[from..].find(needle) {
            Some(at) => from += at + needle.len(),
            None => {
                panic!("{needle:?} missing or out of order (after byte {from}) in:\n{haystack}")
            }
        }
    }
}

/// The line of `text` that starts with `prefix`.
#[track_caller]
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

// ---------------------------------------------------------------------------------------
// version

#[test]
fn version_prints_name_and_version() {
    let expected = format!("kargo-creds {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(expected, "kargo-creds 0.1.0\n");
    assert_eq!(ok(&Env::with_examples(), &["version"]), expected);
    // Works without any secrets folder or cluster.
    assert_eq!(ok(&Env::empty(), &["version"]), expected);
}

// ---------------------------------------------------------------------------------------
// resolve: summary

#[test]
fn resolve_prints_one_summary_line() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--project", "kargo-demo", "resolve", DEMO_REPO],
            "kargo-demo/kargo-demo-repo (basic provider, username demo-bot)",
        ),
        (
            &["resolve", "https://github.com/example/kargo-demo.git"],
            "kargo-shared-resources/github-fallback (basic provider, username shared-reader)",
        ),
        (
            &[
                "--project",
                "kargo-demo",
                "resolve",
                "ghcr.io/example/guestbook",
            ],
            "kargo-demo/ghcr-demo (basic provider, username demo-bot)",
        ),
        (
            &["resolve", "ghcr.io/example/guestbook"],
            "kargo-shared-resources/ghcr-org (basic provider, username org-reader)",
        ),
        (
            &["resolve", "docker.io/example/base"],
            "kargo-shared-resources/dockerhub (basic provider, username examplebot)",
        ),
        (
            &["resolve", "127.0.0.1:5000/example/app"],
            "kargo-shared-resources/local-registry (basic provider, username localuser)",
        ),
        (
            &[
                "resolve",
                "https://gitlab.example.com/platform/config.git",
                "--project",
                "kargo-demo",
            ],
            "kargo-demo/platform-config (basic provider, username platform-bot)",
        ),
        (
            &["resolve", "https://nowhere.example/none.git"],
            "no matching Secret",
        ),
        (
            &["resolve", "registry.unknown.example/a/b"],
            "no matching Secret",
        ),
    ];
    for (args, expected) in cases {
        let out = ok(&Env::with_examples(), args);
        assert_eq!(out, format!("{expected}\n"), "kargo-creds {args:?}");
    }
}

#[test]
fn resolve_shows_an_ssh_key_secret_for_what_it_is() {
    let out = ok(&demo(), &["resolve", "git@github.com:example/legacy.git"]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("kargo-demo/legacy-ssh ("), "{out}");
    assert!(out.contains("ssh"), "{out}");
    let value = json_of(
        &demo(),
        &["resolve", "git@github.com:example/legacy.git", "-o", "json"],
    );
    assert_eq!(value["secret"], "kargo-demo/legacy-ssh");
    assert_eq!(value["provider"], "ssh");
}

// ---------------------------------------------------------------------------------------
// resolve --explain

#[test]
fn explain_shows_source_urls_namespaces_candidates_note_and_result() {
    let out = ok(&demo(), &["resolve", DEMO_REPO, "--explain"]);

    let source = line(&out, "source:");
    assert!(source.contains("dir"), "{source}");
    assert!(source.contains("secrets"), "the folder: {source}");
    assert!(source.contains("exists"), "why it was chosen: {source}");

    let url = line(&out, "url:");
    assert!(url.contains(DEMO_REPO), "{url}");
    assert!(url.contains("git"), "the type: {url}");
    assert_eq!(
        line(&out, "normalized:").split_whitespace().nth(1),
        Some("https://github.com/example/kargo-demo"),
        "{out}"
    );

    // Each namespace (project first) with every candidate, in the documented order:
    // exact ones by name, then patterns by name.
    assert_in_order(
        &out,
        &[
            "namespace kargo-demo",
            "bitbucket-deploy",
            "kargo-demo-repo",
            "legacy-ssh",
            "platform-config",
            "example-org",
            "namespace kargo-shared-resources",
            "internal-git",
            "azure-devops",
            "github-fallback",
            "gitlab-platform",
            "note:",
            "result:",
        ],
    );
    let winner = out
        .lines()
        .find(|line| line.contains(" kargo-demo-repo "))
        .expect("the winner's line");
    assert!(winner.contains("exact match"), "{winner}");
    let differs = out
        .lines()
        .find(|line| line.contains(" bitbucket-deploy "))
        .expect("bitbucket-deploy's line");
    assert!(
        differs.contains("no"),
        "a verdict for a non-match: {differs}"
    );

    // Kargo's own code (one pass in name order) would pick the pattern example-org.
    let note = line(&out, "note:");
    assert!(note.contains("kargo-demo/example-org"), "{note}");

    let result = line(&out, "result:");
    assert!(
        result.contains("kargo-demo/kargo-demo-repo (basic provider, username demo-bot)"),
        "{result}"
    );
}

#[test]
fn explain_has_no_note_when_kargo_would_pick_the_same_secret() {
    for (env, url) in [
        (demo(), "ghcr.io/example/guestbook"),
        (Env::with_examples(), "https://github.com/example/other.git"),
        (Env::with_examples(), "https://nowhere.example/none.git"),
    ] {
        let out = ok(&env, &["resolve", url, "--explain"]);
        assert!(
            !out.lines().any(|l| l.starts_with("note:")),
            "{url}: unexpected note:\n{out}"
        );
        line(&out, "result:");
    }
}

#[test]
fn explain_says_when_no_project_is_set() {
    let out = ok(&Env::with_examples(), &["resolve", DEMO_REPO, "--explain"]);
    assert!(!out.contains("namespace kargo-demo "), "{out}");
    assert!(out.contains("namespace kargo-shared-resources"), "{out}");
    assert!(
        line(&out, "result:").contains("kargo-shared-resources/github-fallback"),
        "{out}"
    );
}

// ---------------------------------------------------------------------------------------
// resolve -o json

#[test]
fn resolve_json_has_the_documented_fields_and_candidate_order() {
    let value = json_of(&demo(), &["resolve", DEMO_REPO, "-o", "json"]);
    assert_eq!(value["url"], DEMO_REPO);
    assert_eq!(value["type"], "git");
    assert_eq!(value["normalized"], "https://github.com/example/kargo-demo");
    assert_eq!(value["secret"], "kargo-demo/kargo-demo-repo");
    assert_eq!(value["provider"], "basic");
    assert!(value["outcome"].is_string(), "{value:#}");

    let candidates = value["candidates"].as_array().expect("candidates array");
    let order: Vec<(&str, &str, &str)> = candidates
        .iter()
        .map(|c| {
            (
                c["namespace"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["mode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            ("kargo-demo", "bitbucket-deploy", "exact"),
            ("kargo-demo", "kargo-demo-repo", "exact"),
            ("kargo-demo", "legacy-ssh", "exact"),
            ("kargo-demo", "platform-config", "exact"),
            ("kargo-demo", "example-org", "regex"),
            (SHARED, "internal-git", "exact"),
            (SHARED, "azure-devops", "regex"),
            (SHARED, "github-fallback", "regex"),
            (SHARED, "gitlab-platform", "regex"),
        ]
    );
    for candidate in candidates {
        for key in [
            "namespace",
            "name",
            "mode",
            "repoURL",
            "verdict",
            "reason",
            "matches",
        ] {
            assert!(
                candidate.get(key).is_some(),
                "candidate lacks {key}: {candidate}"
            );
        }
        assert!(candidate["matches"].is_boolean(), "{candidate}");
        assert!(candidate["verdict"].is_string(), "{candidate}");
        assert!(candidate["reason"].is_string(), "{candidate}");
    }
    let by_name = |name: &str| candidates.iter().find(|c| c["name"] == name).unwrap();
    assert_eq!(by_name("kargo-demo-repo")["matches"], true);
    assert_eq!(by_name("kargo-demo-repo")["repoURL"], DEMO_REPO);
    assert_eq!(
        by_name("example-org")["matches"],
        true,
        "would match: Kargo's pick"
    );
    assert_eq!(
        by_name("example-org")["repoURL"],
        "^https://github\\.com/example/"
    );
    assert_eq!(by_name("bitbucket-deploy")["matches"], false);
    assert_ne!(
        by_name("kargo-demo-repo")["verdict"],
        by_name("bitbucket-deploy")["verdict"],
        "a match and a non-match have different verdicts"
    );
}

#[test]
fn resolve_json_without_a_match_has_nulls() {
    let value = json_of(
        &Env::with_examples(),
        &["resolve", "https://nowhere.example/x.git", "-o", "json"],
    );
    assert_eq!(value["secret"], Value::Null);
    assert_eq!(value["provider"], Value::Null);
    assert_eq!(value["type"], "git");
    assert_eq!(value["normalized"], "https://nowhere.example/x");
    let candidates = value["candidates"].as_array().unwrap();
    assert_eq!(
        candidates.len(),
        4,
        "every shared git Secret is a candidate: {value:#}"
    );
    assert!(
        candidates.iter().all(|c| c["matches"] == false),
        "{value:#}"
    );
    assert_ne!(
        value["outcome"],
        json_of(&demo(), &["resolve", DEMO_REPO, "-o", "json"])["outcome"],
        "no match and a match have different outcomes"
    );
}

// ---------------------------------------------------------------------------------------
// resolve --registry and the type guess

#[test]
fn resolve_registry_looks_up_a_host_as_the_docker_helper_does() {
    let env = Env::with_examples();
    let out = ok(
        &env,
        &["resolve", "--registry", "https://index.docker.io/v1/"],
    );
    assert_eq!(
        out,
        "kargo-shared-resources/dockerhub (basic provider, username examplebot)\n"
    );
    let value = json_of(
        &env,
        &[
            "resolve",
            "--registry",
            "https://index.docker.io/v1/",
            "-o",
            "json",
        ],
    );
    assert_eq!(value["normalized"], "docker.io");
    assert_eq!(value["secret"], "kargo-shared-resources/dockerhub");
    assert_eq!(value["type"], "image");

    let out = ok(&demo(), &["resolve", "--registry", "ghcr.io"]);
    assert_eq!(
        out,
        "kargo-demo/ghcr-demo (basic provider, username demo-bot)\n"
    );
    let out = ok(&env, &["resolve", "--registry", "https://myreg:5000/v2/"]);
    assert_eq!(out, "no matching Secret\n");
    let out = ok(&env, &["resolve", "--registry", "127.0.0.1:5000"]);
    assert_eq!(
        out,
        "kargo-shared-resources/local-registry (basic provider, username localuser)\n"
    );

    // Without the project, ghcr.io has no Secret: the trace shows both types searched.
    let out = ok(&env, &["resolve", "--registry", "ghcr.io", "--explain"]);
    assert!(out.contains("ghcr.io"), "{out}");
    assert!(
        out.contains("ghcr-org"),
        "the image pattern is a candidate:\n{out}"
    );
    assert!(
        out.contains("bitnami-oci"),
        "helm Secrets are candidates too:\n{out}"
    );
    assert!(
        line(&out, "result:").contains("no matching Secret"),
        "{out}"
    );
}

#[test]
fn resolve_guesses_the_type_from_the_url() {
    let env = Env::with_examples();
    let cases = [
        (
            "oci://registry-1.docker.io/bitnamicharts",
            "helm",
            "kargo-shared-resources/bitnami-oci",
        ),
        ("oci://ghcr.io/example/charts/x", "helm", ""),
        (
            "https://github.com/example/app.git",
            "git",
            "kargo-shared-resources/github-fallback",
        ),
        (
            "https://github.com/example/app",
            "git",
            "kargo-shared-resources/github-fallback",
        ),
        ("git@github.com:example/app.git", "git", ""),
        (
            "docker.io/example/base",
            "image",
            "kargo-shared-resources/dockerhub",
        ),
        (
            "example/base:1.0",
            "image",
            "kargo-shared-resources/dockerhub",
        ),
        (
            "127.0.0.1:5000/example/app",
            "image",
            "kargo-shared-resources/local-registry",
        ),
        (
            "ghcr.io/example/app",
            "image",
            "kargo-shared-resources/ghcr-org",
        ),
    ];
    for (url, cred_type, secret) in cases {
        let value = json_of(&env, &["resolve", url, "-o", "json"]);
        assert_eq!(value["type"], cred_type, "{url}: {value:#}");
        let expected = if secret.is_empty() {
            Value::Null
        } else {
            json!(secret)
        };
        assert_eq!(value["secret"], expected, "{url}");
        for candidate in value["candidates"].as_array().unwrap() {
            assert_eq!(
                candidate["type"], cred_type,
                "{url}: only {cred_type} Secrets: {candidate}"
            );
        }
    }
    // --type overrides the guess: an https:// classic chart repository (trailing slash
    // ignored, a deliberate difference from Kargo).
    let value = json_of(
        &env,
        &[
            "resolve",
            "https://charts.example.com/stable",
            "--type",
            "helm",
            "-o",
            "json",
        ],
    );
    assert_eq!(value["type"], "helm");
    assert_eq!(value["secret"], "kargo-shared-resources/classic-charts");
    let value = json_of(
        &env,
        &["resolve", "https://charts.example.com/stable", "-o", "json"],
    );
    assert_eq!(value["type"], "git");
    assert_eq!(value["secret"], Value::Null);
}

// ---------------------------------------------------------------------------------------
// get

#[test]
fn get_json_prints_the_credentials() {
    let value = json_of(&demo(), &["get", DEMO_REPO]);
    assert_eq!(
        value,
        json!({
            "username": "demo-bot",
            "password": "ghp_exampleDemoRepoToken0001",
            "expires_at": null,
            "secret": "kargo-demo/kargo-demo-repo",
            "provider": "basic",
        })
    );
    assert_eq!(json_of(&demo(), &["get", DEMO_REPO, "-o", "json"]), value);
    let value = json_of(
        &Env::with_examples(),
        &["get", "oci://registry-1.docker.io/bitnamicharts"],
    );
    assert_eq!(value["password"], "dckr_pat_exampleCharts0018");
    assert_eq!(value["secret"], "kargo-shared-resources/bitnami-oci");
    let value = json_of(
        &Env::with_examples(),
        &[
            "get",
            "https://charts.example.com/stable/",
            "--type",
            "helm",
        ],
    );
    assert_eq!(value["password"], "classic-example-password-0019");
}

#[test]
fn get_prints_username_password_and_env_forms() {
    let env = demo();
    assert_eq!(
        ok(
            &env,
            &["get", "ghcr.io/example/guestbook", "-o", "username"]
        ),
        "demo-bot\n"
    );
    assert_eq!(
        ok(
            &env,
            &["get", "ghcr.io/example/guestbook", "-o", "password"]
        ),
        "ghp_exampleGhcrToken0005\n"
    );
    assert_eq!(
        ok(
            &env,
            &["get", "ghcr.io/example/guestbook", "--output", "env"]
        ),
        "KARGO_CREDS_USERNAME=demo-bot\nKARGO_CREDS_PASSWORD=ghp_exampleGhcrToken0005\n"
    );
    assert_eq!(
        ok(&env, &["get", "quay.io/example/worker", "-o", "env"]),
        "KARGO_CREDS_USERNAME=example+robot\nKARGO_CREDS_PASSWORD=QUAYexampleRobotToken0006\n"
    );
    // --registry, as the docker helper looks up.
    assert_eq!(
        ok(
            &env,
            &[
                "get",
                "--registry",
                "https://index.docker.io/v1/",
                "-o",
                "password"
            ]
        ),
        "dckr_pat_exampleHubToken0014\n"
    );
    assert_eq!(
        ok(&env, &["get", "--registry", "ghcr.io", "-o", "username"]),
        "demo-bot\n"
    );
}

#[test]
fn get_env_output_is_shell_quoted_and_round_trips_through_sh() {
    let awkward_user = "bot user";
    let awkward_password = "it's a $ecret \"pw\" `x` \\ ; & | * ~ #";
    let env = Env::empty();
    write_list(
        &env,
        "creds.json",
        vec![basic(
            SHARED,
            "awkward",
            "image",
            "reg.example/a/b",
            awkward_user,
            awkward_password,
        )],
    );
    let out = ok(&env, &["get", "reg.example/a/b", "-o", "env"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with("KARGO_CREDS_USERNAME="), "{out}");
    assert!(out.contains("\nKARGO_CREDS_PASSWORD="), "{out}");
    assert_ne!(
        line(&out, "KARGO_CREDS_USERNAME="),
        format!("KARGO_CREDS_USERNAME={awkward_user}")
    );

    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(r#"eval "$(cat)"; printf '%s\n%s' "$KARGO_CREDS_USERNAME" "$KARGO_CREDS_PASSWORD""#);
    let evaluated = support::run_with_stdin(&mut command, out.as_bytes());
    assert!(evaluated.status.success(), "sh: {}", stderr(&evaluated));
    assert_eq!(
        stdout(&evaluated),
        format!("{awkward_user}\n{awkward_password}")
    );
}

#[test]
fn get_ssh_key_prints_the_key_of_an_ssh_secret() {
    let env = demo();
    let out = ok(
        &env,
        &["get", "git@github.com:example/legacy.git", "-o", "ssh-key"],
    );
    assert!(
        out.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"),
        "{out}"
    );
    assert!(out.contains("ZXhhbXBsZS1rZXktbm90LXJlYWw="), "{out}");
    assert!(
        out.trim_end()
            .ends_with("-----END OPENSSH PRIVATE KEY-----"),
        "{out}"
    );

    // Any other form for an SSH Secret fails, naming the Secret, never showing the key.
    for form in ["json", "env", "username", "password"] {
        let output = cli(
            &env,
            &["get", "git@github.com:example/legacy.git", "-o", form],
        );
        assert_eq!(code(&output), 1, "-o {form}: {}", stdout(&output));
        assert!(
            !stdout(&output).contains("ZXhhbXBsZS1rZXktbm90LXJlYWw"),
            "-o {form}"
        );
        assert!(
            stderr(&output).contains("legacy-ssh"),
            "-o {form}: {}",
            stderr(&output)
        );
        assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
    }
    // -o ssh-key for a username/password Secret fails.
    let output = cli(&env, &["get", DEMO_REPO, "-o", "ssh-key"]);
    assert_eq!(code(&output), 1);
    assert_eq!(stdout(&output), "");
    assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
}

#[test]
fn get_without_a_match_exits_1_with_one_line_on_stderr() {
    for (env, url) in [
        (Env::with_examples(), "https://nowhere.example/none.git"),
        (Env::with_examples(), "ghcr.io/unknown/app"),
        (Env::with_examples(), "oci://nowhere.example/charts/x"),
        (Env::empty(), DEMO_REPO),
    ] {
        for form in ["json", "env", "username", "password", "ssh-key"] {
            let output = cli(&env, &["get", url, "-o", form]);
            assert_eq!(code(&output), 1, "{url} -o {form}: {}", stdout(&output));
            assert_eq!(stdout(&output), "", "{url} -o {form}");
            // (A fresh checkout may leave the examples group-readable: that warning aside.)
            let err = stderr(&output);
            let lines: Vec<&str> = err
                .lines()
                .filter(|line| !line.starts_with("kargo-creds: warning:"))
                .collect();
            assert_eq!(lines.len(), 1, "{url} -o {form}: one line: {err:?}");
            let err = lines[0];
            assert!(err.starts_with("kargo-creds"), "{err}");
            assert!(err.contains(url), "the line names the URL: {err}");
        }
    }
}

#[test]
fn get_never_puts_a_secret_on_stderr() {
    let urls = [
        DEMO_REPO,
        "https://github.com/example/other.git",
        "https://gitlab.example.com/platform/config.git",
        "git@github.com:example/legacy.git",
        "ghcr.io/example/guestbook",
        "oci://ghcr.io/example/charts/guestbook",
        "docker.io/example/base",
        "https://nowhere.example/x.git",
    ];
    for env in [Env::with_examples(), demo()] {
        let env = env.var("KARGO_CREDS_LOG", "debug");
        for url in urls {
            for form in ["json", "env", "username", "password", "ssh-key"] {
                let output = cli(&env, &["-vv", "get", url, "-o", form]);
                assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// usage errors

#[test]
fn usage_errors_exit_2() {
    let env = Env::with_examples();
    let cases: &[&[&str]] = &[
        &[],
        &["resolve"],
        &["get"],
        &["resolve", DEMO_REPO, "--bogus"],
        &["--bogus", "resolve", DEMO_REPO],
        &["resolve", DEMO_REPO, "--type", "svn"],
        &["resolve", DEMO_REPO, "--type", "generic"],
        &["resolve", DEMO_REPO, "-o", "yaml"],
        &["resolve", DEMO_REPO, "-o", "password"],
        &["get", DEMO_REPO, "-o", "yaml"],
        &["get", DEMO_REPO, "--type", "image", "--registry"],
        &["resolve", "ghcr.io", "--registry", "--type", "image"],
        &["frobnicate"],
        &["resolve", DEMO_REPO, "extra"],
    ];
    for args in cases {
        let output = cli(&env, args);
        assert_eq!(
            code(&output),
            2,
            "kargo-creds {args:?}\nstdout: {}\nstderr: {}",
            stdout(&output),
            stderr(&output)
        );
        assert!(
            !stderr(&output).trim().is_empty(),
            "{args:?}: a message on stderr"
        );
    }
}

// ---------------------------------------------------------------------------------------
// plain http

#[test]
fn plain_http_is_refused_unless_allowed() {
    let env = Env::empty();
    write_list(
        &env,
        "creds.json",
        vec![basic(
            SHARED,
            "plain",
            "git",
            "http://git.local/team/repo.git",
            "http-user",
            "http-pass-0099",
        )],
    );
    let url = "http://git.local/team/repo.git";
    for given in [
        url,
        "HTTP://git.local/team/repo.git",
        " Http://git.local/team/repo.git",
    ] {
        let out = ok(&env, &["resolve", given]);
        assert!(out.contains("http"), "{given}: the refusal says why: {out}");
        assert!(
            !out.contains("kargo-shared-resources/plain"),
            "{given}: {out}"
        );
        assert!(!out.contains("http-user"), "{given}: {out}");
        let value = json_of(&env, &["resolve", given, "-o", "json"]);
        assert_eq!(value["secret"], Value::Null, "{given}");
        assert_eq!(value["outcome"], "refused", "{given}: {value:#}");
        let output = cli(&env, &["get", given]);
        assert_eq!(code(&output), 1, "{given}");
        assert_eq!(stdout(&output), "", "{given}");
        assert_no_secrets_in_stderr(&output, &["http-pass-0099"]);
    }
    // -v: a one-line notice on stderr.
    let output = cli(&env, &["-v", "resolve", url]);
    assert!(stderr(&output).contains("http"), "{}", stderr(&output));

    let allowed = env.var("KARGO_CREDS_ALLOW_HTTP", "true");
    assert_eq!(
        ok(&allowed, &["resolve", url]),
        "kargo-shared-resources/plain (basic provider, username http-user)\n"
    );
    let value = json_of(&allowed, &["get", url]);
    assert_eq!(value["password"], "http-pass-0099");
    // https is never refused.
    let out = ok(
        &Env::with_examples(),
        &["resolve", "https://github.com/example/x.git"],
    );
    assert!(out.contains("github-fallback"), "{out}");
}

// ---------------------------------------------------------------------------------------
// configuration

/// Three projects with one Secret each for the same URL: the answer says which project won.
fn three_projects() -> Env {
    let env = Env::empty();
    let items = ["p-file", "p-env", "p-flag"]
        .iter()
        .map(|ns| {
            basic(
                ns,
                &format!("{ns}-creds"),
                "git",
                "https://git.example/team/app.git",
                &format!("{ns}-user"),
                "pw-x",
            )
        })
        .collect();
    write_list(&env, "creds.json", items);
    env
}

#[test]
fn a_config_file_sets_the_project() {
    let env = Env::with_examples();
    let config = env.home.path().join("kargo-creds.yaml");
    std::fs::write(&config, "project: kargo-demo\n").unwrap();
    let env = env.var("KARGO_CREDS_CONFIG", config.to_str().unwrap());
    assert_eq!(
        ok(&env, &["resolve", "ghcr.io/example/guestbook"]),
        "kargo-demo/ghcr-demo (basic provider, username demo-bot)\n"
    );
    assert_eq!(
        ok(&env, &["resolve", DEMO_REPO]),
        "kargo-demo/kargo-demo-repo (basic provider, username demo-bot)\n"
    );
}

#[test]
fn project_flag_beats_environment_beats_config_file() {
    let env = three_projects();
    let config = env.home.path().join("config.yaml");
    std::fs::write(&config, "project: p-file\n").unwrap();
    let url = "https://git.example/team/app.git";

    assert_eq!(ok(&env, &["resolve", url]), "no matching Secret\n");
    let env = env.var("KARGO_CREDS_CONFIG", config.to_str().unwrap());
    assert_eq!(ok(&env, &["get", url, "-o", "username"]), "p-file-user\n");
    let env = env.var("KARGO_PROJECT", "p-env");
    assert_eq!(ok(&env, &["get", url, "-o", "username"]), "p-env-user\n");
    assert_eq!(
        ok(&env, &["--project", "p-flag", "get", url, "-o", "username"]),
        "p-flag-user\n"
    );
    // The flag is global: after the subcommand too.
    assert_eq!(
        ok(&env, &["get", url, "-o", "username", "--project", "p-flag"]),
        "p-flag-user\n"
    );
    let out = ok(&env, &["--project", "p-flag", "resolve", url, "--explain"]);
    assert!(out.contains("namespace p-flag (project)"), "{out}");
}

#[test]
fn the_default_config_file_is_read_and_unknown_keys_are_errors() {
    let env = Env::with_examples();
    let folder = env.home.path().join(".config/kargo-creds");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("config.yaml"), "project: kargo-demo\n").unwrap();
    assert_eq!(
        ok(&env, &["resolve", "ghcr.io/example/guestbook"]),
        "kargo-demo/ghcr-demo (basic provider, username demo-bot)\n"
    );

    std::fs::write(
        folder.join("config.yaml"),
        "project: kargo-demo\nprojcet: typo\n",
    )
    .unwrap();
    for args in [&["resolve", DEMO_REPO][..], &["get", DEMO_REPO]] {
        let output = cli(&env, args);
        assert_eq!(code(&output), 1, "{args:?}");
        assert_eq!(stdout(&output), "");
        assert!(
            stderr(&output).contains("projcet"),
            "names the key: {}",
            stderr(&output)
        );
    }
}

#[test]
fn secrets_dir_and_shared_namespace_flags_apply() {
    let env = Env::empty();
    let examples = support::examples_dir();
    let examples = examples.to_str().unwrap();
    assert_eq!(
        ok(&env, &["resolve", "docker.io/example/base"]),
        "no matching Secret\n"
    );
    assert_eq!(
        ok(
            &env,
            &[
                "--secrets-dir",
                examples,
                "resolve",
                "docker.io/example/base"
            ]
        ),
        "kargo-shared-resources/dockerhub (basic provider, username examplebot)\n"
    );
    assert_eq!(
        ok(
            &env,
            &[
                "--secrets-dir",
                examples,
                "--shared-namespace",
                "",
                "resolve",
                "docker.io/example/base"
            ]
        ),
        "no matching Secret\n"
    );
    assert_eq!(
        ok(
            &env,
            &[
                "--secrets-dir",
                examples,
                "--shared-namespace",
                "kargo-demo",
                "resolve",
                "ghcr.io/example/guestbook"
            ]
        ),
        "kargo-demo/ghcr-demo (basic provider, username demo-bot)\n"
    );
}

// ---------------------------------------------------------------------------------------
// secrecy of resolve

#[test]
fn resolve_never_prints_a_password_of_the_examples() {
    let urls = [
        DEMO_REPO,
        "https://github.com/example/other",
        "https://gitlab.example.com/platform/config.git",
        "https://gitlab.example.com/platform/other.git",
        "git@github.com:example/legacy.git",
        "https://bitbucket.org/example/deploy-config",
        "https://git.internal.example:8443/infra/manifests",
        "https://dev.azure.com/example/project/_git/repo",
        "ghcr.io/example/guestbook",
        "quay.io/example/worker:1.4",
        "exampleacr.azurecr.io/team/app",
        "oci://ghcr.io/example/charts/guestbook",
        "docker.io/example/base",
        "127.0.0.1:5000/example/app",
        "us-central1-docker.pkg.dev/example-project/images",
        "oci://registry-1.docker.io/bitnamicharts",
        "https://nowhere.example/x.git",
        "http://github.com/example/kargo-demo.git",
    ];
    let modes: &[&[&str]] = &[
        &[],
        &["--explain"],
        &["-o", "json"],
        &["--explain", "-o", "json"],
        &["-o", "text"],
    ];
    for env in [Env::with_examples(), demo()] {
        let env = env.var("KARGO_CREDS_LOG", "debug");
        for url in urls {
            for mode in modes {
                let mut args = vec!["-vv", "resolve", url];
                args.extend_from_slice(mode);
                check_resolve_output(&env, &args);
            }
        }
        for host in [
            "https://index.docker.io/v1/",
            "ghcr.io",
            "127.0.0.1:5000",
            "quay.io",
            "charts.example.com",
        ] {
            for mode in modes {
                let mut args = vec!["resolve", "--registry", host];
                args.extend_from_slice(mode);
                check_resolve_output(&env, &args);
            }
        }
        for cred_type in ["git", "image", "helm"] {
            let args = [
                "resolve",
                "https://charts.example.com/stable/",
                "--type",
                cred_type,
                "--explain",
            ];
            check_resolve_output(&env, &args);
        }
    }
}

#[track_caller]
fn check_resolve_output(env: &Env, args: &[&str]) {
    let output = cli(env, args);
    assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
    let out = stdout(&output);
    let err = stderr(&output);
    for secret in EXAMPLE_SECRETS {
        assert!(
            !out.contains(secret),
            "kargo-creds {args:?} prints a password ({secret}) on stdout:\n{out}"
        );
        assert!(
            !err.contains(secret),
            "kargo-creds {args:?} prints a password ({secret}) on stderr:\n{err}"
        );
    }
}

// A password typed into a URL's userinfo (`https://user:pw@host/…`) is a password too:
// SPEC §10 says no log line or error ever contains one, and `resolve` never prints one
// (git itself redacts userinfo passwords in its messages).
const URL_PASSWORD: &str = "url-embedded-pw-4242";

fn url_with_password(scheme: &str) -> String {
    format!("{scheme}://someone:{URL_PASSWORD}@nowhere.example/team/app.git")
}

#[test]
fn resolve_never_echoes_a_password_given_in_the_url() {
    let url = url_with_password("https");
    let env = Env::with_examples();
    for mode in [&[][..], &["--explain"], &["-o", "json"]] {
        let mut args = vec!["-v", "resolve", url.as_str()];
        args.extend_from_slice(mode);
        let output = cli(&env, &args);
        assert_eq!(code(&output), 0);
        assert!(
            !stdout(&output).contains(URL_PASSWORD),
            "resolve {mode:?} echoes the URL's password on stdout:\n{}",
            stdout(&output)
        );
        assert_no_secrets_in_stderr(&output, &[URL_PASSWORD]);
    }
}

#[test]
fn get_without_a_match_never_puts_a_password_given_in_the_url_on_stderr() {
    let output = cli(
        &Env::with_examples(),
        &["get", url_with_password("https").as_str()],
    );
    assert_eq!(code(&output), 1);
    assert_no_secrets_in_stderr(&output, &[URL_PASSWORD]);
}

#[test]
fn the_plain_http_notice_never_shows_a_password_given_in_the_url() {
    let url = url_with_password("http");
    let output = cli(&Env::with_examples(), &["-v", "resolve", url.as_str()]);
    assert_eq!(code(&output), 0);
    assert!(
        stderr(&output).contains("http"),
        "the notice: {}",
        stderr(&output)
    );
    assert_no_secrets_in_stderr(&output, &[URL_PASSWORD]);
}
