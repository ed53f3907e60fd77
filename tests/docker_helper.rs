//! `docker-credential-kargo` end to end (SPEC §4, §5, §8.2, §10): every action, every
//! server-URL form docker and its kin send, the precedence rules as the docker protocol sees
//! them (a registry host only), the exact strings clients match on, and a real client (the
//! Python Docker SDK) talking to the helper.

mod support;

use std::process::Output;

use serde_json::{json, Value};
use support::{assert_no_secrets_in_stderr, stderr, stdout, Env, DOCKER_HELPER, EXAMPLE_SECRETS};

const NOT_FOUND: &str = "credentials not found in native keychain\n";
const NO_SERVER_URL: &str = "no credentials server URL\n";
const USAGE: &str = "usage: docker-credential-kargo <get|store|erase|list|version>";
const SHARED: &str = "kargo-shared-resources";

// ---------------------------------------------------------------------------------------
// helpers

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

/// An exact (non-regex) username/password Secret.
fn exact(
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

/// A regex (`repoURLIsRegex: "true"`) username/password Secret.
fn regex(
    namespace: &str,
    name: &str,
    cred_type: &str,
    pattern: &str,
    user: &str,
    pass: &str,
) -> Value {
    secret(
        namespace,
        name,
        cred_type,
        &[
            ("repoURL", pattern),
            ("repoURLIsRegex", "true"),
            ("username", user),
            ("password", pass),
        ],
    )
}

/// Writes Secrets as one JSON `List` manifest into the environment's secrets folder.
fn write_list(env: &Env, file: &str, items: Vec<Value>) {
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    env.write_manifest(file, &serde_json::to_string_pretty(&list).unwrap());
}

fn helper(env: &Env, action: &str, stdin: &str) -> Output {
    env.run(DOCKER_HELPER, &[action], stdin.as_bytes())
}

fn get(env: &Env, server_url: &str) -> Output {
    helper(env, "get", server_url)
}

fn code(output: &Output) -> i32 {
    output
        .status
        .code()
        .expect("exited normally (not by a signal)")
}

/// Asserts a successful `get` answer: exactly one JSON line with the three docker fields.
#[track_caller]
fn assert_credentials(output: &Output, server_url: &str, username: &str, secret: &str) {
    let out = stdout(output);
    assert_eq!(
        code(output),
        0,
        "get {server_url:?} should succeed\nstdout: {out}\nstderr: {}",
        stderr(output)
    );
    assert!(
        out.ends_with('\n'),
        "the answer ends with a newline: {out:?}"
    );
    assert_eq!(out.matches('\n').count(), 1, "one line: {out:?}");
    let value: Value = serde_json::from_str(&out).expect("get prints JSON");
    assert_eq!(
        value,
        json!({"ServerURL": server_url, "Username": username, "Secret": secret}),
        "for server URL {server_url:?}"
    );
}

#[track_caller]
fn assert_not_found(output: &Output, what: &str) {
    assert_eq!(
        stdout(output),
        NOT_FOUND,
        "{what}: stderr: {}",
        stderr(output)
    );
    assert_eq!(code(output), 1, "{what}");
}

/// Asserts the helper's answer to `get` is a given Secret's username and password.
#[track_caller]
fn assert_user(output: &Output, username: &str, secret: &str) {
    let out = stdout(output);
    assert_eq!(
        code(output),
        0,
        "expected {username}\nstdout: {out}\nstderr: {}",
        stderr(output)
    );
    let value: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(value["Username"], username, "{out}");
    assert_eq!(value["Secret"], secret, "{out}");
}

fn list(env: &Env) -> Value {
    let output = helper(env, "list", "");
    let out = stdout(&output);
    assert_eq!(code(&output), 0, "list: {out}\n{}", stderr(&output));
    assert!(out.ends_with('\n'), "list ends with a newline: {out:?}");
    let value: Value = serde_json::from_str(&out).expect("list prints JSON");
    assert!(value.is_object(), "list prints an object: {out}");
    value
}

fn demo() -> Env {
    Env::with_examples().var("KARGO_PROJECT", "kargo-demo")
}

// ---------------------------------------------------------------------------------------
// version and usage

#[test]
fn version_prints_the_product_line() {
    let output = helper(&Env::with_examples(), "version", "");
    assert_eq!(code(&output), 0);
    assert_eq!(
        stdout(&output),
        "docker-credential-kargo (kargo-creds) 0.1.0\n"
    );
    assert_eq!(
        stdout(&output),
        format!(
            "docker-credential-kargo (kargo-creds) {}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(stderr(&output), "");
}

#[test]
fn a_bad_or_missing_action_prints_usage_on_stderr_and_exits_2() {
    let env = Env::with_examples();
    let cases: &[&[&str]] = &[
        &[],
        &["fetch"],
        &["GET"],
        &["--help"],
        &["get", "ghcr.io"],
        &["list", "extra"],
        &[""],
    ];
    for args in cases {
        let output = env.run(DOCKER_HELPER, args, b"ghcr.io\n");
        assert_eq!(
            code(&output),
            2,
            "args {args:?}: stdout {}",
            stdout(&output)
        );
        assert_eq!(stdout(&output), "", "args {args:?}: nothing on stdout");
        assert!(
            stderr(&output).contains(USAGE),
            "args {args:?}: usage on stderr, got {:?}",
            stderr(&output)
        );
    }
}

// ---------------------------------------------------------------------------------------
// get: server URL forms

#[test]
fn get_reduces_every_server_url_form_to_a_registry_host() {
    let hub = ("examplebot", "dckr_pat_exampleHubToken0014");
    let local = ("localuser", "local-example-password-0016");
    let ghcr = ("demo-bot", "ghp_exampleGhcrToken0005");
    let gar = ("_json_key_base64", "eyJleGFtcGxlIjoidHJ1ZSJ9LTAwMTc=");
    let cases = [
        // Docker Hub: every alias docker, the SDK and containers-auth use.
        ("https://index.docker.io/v1/", hub),
        ("https://index.docker.io/v1", hub),
        ("index.docker.io", hub),
        ("docker.io", hub),
        ("registry-1.docker.io", hub),
        ("https://registry-1.docker.io/v2/", hub),
        // Host and port, with and without scheme and API path.
        ("127.0.0.1:5000", local),
        ("https://127.0.0.1:5000/v2/", local),
        ("https://127.0.0.1:5000", local),
        // A plain host; case is not significant in host names.
        ("ghcr.io", ghcr),
        ("https://ghcr.io/v2/", ghcr),
        ("GHCR.IO", ghcr),
        ("us-central1-docker.pkg.dev", gar),
    ];
    let env = demo();
    for (server_url, (username, secret)) in cases {
        let output = get(&env, server_url);
        // ServerURL echoes what the client sent.
        assert_credentials(&output, server_url, username, secret);
        assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
    }
}

#[test]
fn get_with_a_port_and_api_path_uses_host_and_port() {
    let env = Env::empty();
    write_list(
        &env,
        "ns/regs.json",
        vec![
            exact(
                SHARED,
                "myreg",
                "image",
                "myreg:5000/team/app",
                "port-user",
                "port-pass-5000",
            ),
            exact(
                SHARED,
                "myreg-noport",
                "image",
                "myreg/team/app",
                "noport-user",
                "noport-pass",
            ),
            exact(
                SHARED,
                "myreg-other-port",
                "image",
                "myreg:5001/team/app",
                "other-user",
                "other-pass",
            ),
        ],
    );
    assert_credentials(
        &get(&env, "https://myreg:5000/v2/"),
        "https://myreg:5000/v2/",
        "port-user",
        "port-pass-5000",
    );
    assert_credentials(
        &get(&env, "myreg:5000"),
        "myreg:5000",
        "port-user",
        "port-pass-5000",
    );
    assert_credentials(
        &get(&env, "https://myreg:5001/v2/"),
        "https://myreg:5001/v2/",
        "other-user",
        "other-pass",
    );
    // `myreg/team/app` has no dot or port in its first segment: a Docker Hub repository.
    assert_not_found(&get(&env, "https://myreg/v2/"), "myreg without a port");
    assert_credentials(
        &get(&env, "docker.io"),
        "docker.io",
        "noport-user",
        "noport-pass",
    );
}

#[test]
fn get_trims_the_server_url_read_from_stdin() {
    let env = demo();
    for input in ["ghcr.io\n", "  ghcr.io  \n", "ghcr.io\r\n", "\tghcr.io"] {
        assert_credentials(
            &get(&env, input),
            "ghcr.io",
            "demo-bot",
            "ghp_exampleGhcrToken0005",
        );
    }
}

#[test]
fn get_serves_docker_hub_secrets_written_every_way() {
    let env = Env::empty();
    write_list(
        &env,
        "hub.json",
        vec![exact(
            SHARED,
            "hub",
            "image",
            "library/nginx",
            "nginx-user",
            "nginx-pass",
        )],
    );
    for server_url in [
        "https://index.docker.io/v1/",
        "docker.io",
        "registry-1.docker.io",
    ] {
        assert_credentials(
            &get(&env, server_url),
            server_url,
            "nginx-user",
            "nginx-pass",
        );
    }
    for repo_url in [
        "nginx",
        "docker.io/library/nginx",
        "index.docker.io/example/app",
        "Docker.IO/Example/App:1.0",
    ] {
        let env = Env::empty();
        write_list(
            &env,
            "hub.json",
            vec![exact(SHARED, "hub", "image", repo_url, "u", "p")],
        );
        assert_credentials(
            &get(&env, "https://index.docker.io/v1/"),
            "https://index.docker.io/v1/",
            "u",
            "p",
        );
    }
}

// ---------------------------------------------------------------------------------------
// get: not found and empty input

#[test]
fn get_prints_the_exact_not_found_string_and_exits_1() {
    let shared_only = Env::with_examples();
    // ghcr.io credentials exist only in the kargo-demo Project (and the shared regex needs
    // a repository path after the host).
    assert_not_found(&get(&shared_only, "ghcr.io"), "ghcr.io without a project");
    let env = demo();
    for server_url in [
        "registry.unknown.example",
        "https://registry.unknown.example/v2/",
        "127.0.0.1:5001",
        "127.0.0.1",
        // git Secrets are never offered to docker.
        "github.com",
        "gitlab.example.com",
        // A classic https:// chart repository is not a registry.
        "charts.example.com",
        "https://charts.example.com/stable/",
    ] {
        let output = get(&env, server_url);
        assert_not_found(&output, server_url);
        assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
    }
    assert_not_found(&get(&Env::empty(), "ghcr.io"), "an empty secrets folder");
}

#[test]
fn get_without_a_server_url_says_so_and_exits_1() {
    for input in ["", "\n", "   \n\t\n"] {
        let output = get(&demo(), input);
        assert_eq!(stdout(&output), NO_SERVER_URL, "input {input:?}");
        assert_eq!(code(&output), 1, "input {input:?}");
    }
}

#[test]
fn get_of_a_secret_without_usable_credentials_is_not_found() {
    let env = Env::empty();
    write_list(
        &env,
        "odd.json",
        vec![
            exact(
                SHARED,
                "empty-password",
                "image",
                "empty.example/a/b",
                "user",
                "",
            ),
            secret(
                SHARED,
                "ssh-only",
                "image",
                &[
                    ("repoURL", "ssh.example/a/b"),
                    (
                        "sshPrivateKey",
                        "-----BEGIN KEY-----\nc3NoLWtleS1ub3QtcmVhbA==\n-----END KEY-----\n",
                    ),
                ],
            ),
        ],
    );
    let output = get(&env, "empty.example");
    assert_not_found(&output, "a Secret with an empty password");
    let output = get(&env, "ssh.example");
    assert_not_found(&output, "a Secret holding only an SSH key");
    assert!(
        !stderr(&output).contains("c3NoLWtleS1ub3QtcmVhbA"),
        "the key must not reach stderr: {}",
        stderr(&output)
    );
}

// ---------------------------------------------------------------------------------------
// get: precedence

#[test]
fn image_secrets_come_before_helm_secrets() {
    let env = Env::empty().var("KARGO_PROJECT", "team");
    write_list(
        &env,
        "team/creds.json",
        vec![
            // The helm Secret sorts first by name: type order must still win.
            exact(
                "team",
                "a-helm",
                "helm",
                "oci://reg.example/charts/app",
                "helm-user",
                "helm-pass",
            ),
            exact(
                "team",
                "z-image",
                "image",
                "reg.example/images/app",
                "image-user",
                "image-pass",
            ),
            exact(
                "team",
                "only-helm",
                "helm",
                "oci://charts.example:8443/c",
                "only-helm-user",
                "only-helm-pass",
            ),
        ],
    );
    assert_user(&get(&env, "reg.example"), "image-user", "image-pass");
    // A registry that only a helm Secret names is served by it.
    assert_user(
        &get(&env, "charts.example:8443"),
        "only-helm-user",
        "only-helm-pass",
    );

    // KARGO_CREDS_DOCKER_TYPES narrows (and orders) the types searched.
    let helm = env.var("KARGO_CREDS_DOCKER_TYPES", "helm");
    assert_user(&get(&helm, "reg.example"), "helm-user", "helm-pass");
    let helm_first = helm.var("KARGO_CREDS_DOCKER_TYPES", "helm,image");
    assert_user(&get(&helm_first, "reg.example"), "helm-user", "helm-pass");
    let image = helm_first.var("KARGO_CREDS_DOCKER_TYPES", "image");
    assert_user(&get(&image, "reg.example"), "image-user", "image-pass");
    assert_not_found(&get(&image, "charts.example:8443"), "helm not searched");
}

#[test]
fn docker_types_helm_uses_the_chart_secret_of_the_examples() {
    let env = demo();
    assert_user(
        &get(&env, "ghcr.io"),
        "demo-bot",
        "ghp_exampleGhcrToken0005",
    );
    let helm = demo().var("KARGO_CREDS_DOCKER_TYPES", "helm");
    assert_user(
        &get(&helm, "ghcr.io"),
        "demo-bot",
        "ghp_exampleChartsToken0008",
    );
    assert_user(
        &get(&helm, "https://index.docker.io/v1/"),
        "examplebot",
        "dckr_pat_exampleCharts0018",
    );
    // Only image Secrets name these registries.
    assert_not_found(&get(&helm, "127.0.0.1:5000"), "helm only: 127.0.0.1:5000");
    assert_not_found(&get(&helm, "quay.io"), "helm only: quay.io");
}

#[test]
fn a_bad_docker_types_setting_is_an_error() {
    let env = demo().var("KARGO_CREDS_DOCKER_TYPES", "image,git");
    let output = get(&env, "ghcr.io");
    assert_eq!(code(&output), 1);
    assert!(
        stdout(&output).contains("KARGO_CREDS_DOCKER_TYPES"),
        "the error names the setting: {}",
        stdout(&output)
    );
    assert_ne!(stdout(&output), NOT_FOUND);
}

#[test]
fn helm_https_chart_repositories_are_not_registries() {
    let env = Env::empty();
    write_list(
        &env,
        "charts.json",
        vec![
            exact(
                SHARED,
                "classic",
                "helm",
                "https://charts.reg.example/stable/",
                "classic-user",
                "classic-pass",
            ),
            exact(
                SHARED,
                "classic-upper",
                "helm",
                "HTTPS://charts2.reg.example/",
                "classic2",
                "classic2-pass",
            ),
        ],
    );
    assert_not_found(&get(&env, "charts.reg.example"), "https chart repository");
    assert_not_found(
        &get(&env, "https://charts.reg.example/"),
        "https chart repository",
    );
    assert_not_found(&get(&env, "charts2.reg.example"), "HTTPS chart repository");
    assert_eq!(list(&env), json!({}));

    write_list(
        &env,
        "oci.json",
        vec![exact(
            SHARED,
            "oci",
            "helm",
            "oci://charts.reg.example/stable/app",
            "oci-user",
            "oci-pass",
        )],
    );
    assert_user(&get(&env, "charts.reg.example"), "oci-user", "oci-pass");
    assert_eq!(list(&env), json!({"charts.reg.example": "oci-user"}));
}

#[test]
fn the_project_namespace_comes_before_the_shared_one() {
    let env = Env::empty();
    write_list(
        &env,
        "creds.json",
        vec![
            exact(
                "team",
                "team-reg",
                "image",
                "reg.example/team/app",
                "team-user",
                "team-pass",
            ),
            exact(
                SHARED,
                "a-shared-reg",
                "image",
                "reg.example/shared/app",
                "shared-user",
                "shared-pass",
            ),
            // A project pattern beats a shared exact match: namespaces come first.
            regex(
                "team",
                "team-pattern",
                "image",
                "^other\\.example",
                "team-re-user",
                "team-re-pass",
            ),
            exact(
                SHARED,
                "a-shared-other",
                "image",
                "other.example/x/y",
                "shared-other",
                "shared-other-pass",
            ),
        ],
    );
    let shared_only = env;
    assert_user(
        &get(&shared_only, "reg.example"),
        "shared-user",
        "shared-pass",
    );
    assert_user(
        &get(&shared_only, "other.example"),
        "shared-other",
        "shared-other-pass",
    );
    let team = shared_only.var("KARGO_PROJECT", "team");
    assert_user(&get(&team, "reg.example"), "team-user", "team-pass");
    assert_user(&get(&team, "other.example"), "team-re-user", "team-re-pass");
    // Another project does not see team's Secrets.
    let other = team.var("KARGO_PROJECT", "other-project");
    assert_user(&get(&other, "reg.example"), "shared-user", "shared-pass");
}

#[test]
fn shared_namespace_setting_is_honoured_and_empty_means_none() {
    let custom = Env::with_examples().var("KARGO_CREDS_SHARED_NAMESPACE", "kargo-demo");
    assert_user(
        &get(&custom, "ghcr.io"),
        "demo-bot",
        "ghp_exampleGhcrToken0005",
    );
    assert_not_found(
        &get(&custom, "docker.io"),
        "the default shared namespace is replaced",
    );

    let none = demo().var("KARGO_CREDS_SHARED_NAMESPACE", "");
    assert_user(
        &get(&none, "ghcr.io"),
        "demo-bot",
        "ghp_exampleGhcrToken0005",
    );
    assert_not_found(&get(&none, "docker.io"), "no shared namespace");
    assert_not_found(&get(&none, "127.0.0.1:5000"), "no shared namespace");
}

#[test]
fn exact_secrets_come_before_patterns_in_a_namespace() {
    let env = Env::empty();
    write_list(
        &env,
        "creds.json",
        vec![
            // Sorts before the exact Secret by name; Kargo's code would pick it.
            regex(
                SHARED,
                "a-pattern",
                "image",
                "reg\\.example",
                "pattern-user",
                "pattern-pass",
            ),
            exact(
                SHARED,
                "z-exact",
                "image",
                "reg.example/team/app",
                "exact-user",
                "exact-pass",
            ),
        ],
    );
    assert_user(&get(&env, "reg.example"), "exact-user", "exact-pass");
}

#[test]
fn ties_are_broken_byte_wise_by_name() {
    // '-' (0x2d) sorts before 'b' (0x62) byte-wise; a collation that ignores punctuation
    // would put "ab" first. Upper case sorts before lower case byte-wise.
    let env = Env::empty();
    write_list(
        &env,
        "creds.json",
        vec![
            exact(
                SHARED,
                "ab",
                "image",
                "reg.example/b/app",
                "ab-user",
                "ab-pass",
            ),
            exact(
                SHARED,
                "a-z",
                "image",
                "reg.example/a/app",
                "a-z-user",
                "a-z-pass",
            ),
            regex(
                SHARED,
                "alpha",
                "image",
                "^re\\.example",
                "alpha-user",
                "alpha-pass",
            ),
            regex(
                SHARED,
                "Zeta",
                "image",
                "^re\\.example",
                "zeta-user",
                "zeta-pass",
            ),
        ],
    );
    assert_user(&get(&env, "reg.example"), "a-z-user", "a-z-pass");
    assert_user(&get(&env, "re.example"), "zeta-user", "zeta-pass");
}

#[test]
fn patterns_match_the_host_or_the_host_and_a_slash() {
    let env = Env::empty();
    write_list(
        &env,
        "patterns.json",
        vec![
            regex(
                SHARED,
                "anchored-host",
                "image",
                "^one\\.example$",
                "one-user",
                "one-pass",
            ),
            regex(
                SHARED,
                "host-slash",
                "image",
                "^two\\.example/",
                "two-user",
                "two-pass",
            ),
            regex(
                SHARED,
                "needs-path",
                "image",
                "^three\\.example/team/",
                "three-user",
                "three-pass",
            ),
            regex(
                SHARED,
                "unanchored",
                "image",
                "azurecr\\.io",
                "acr-user",
                "acr-pass",
            ),
            regex(
                SHARED,
                "with-port",
                "image",
                "^myreg:5000/",
                "port-user",
                "port-pass",
            ),
        ],
    );
    assert_user(&get(&env, "one.example"), "one-user", "one-pass");
    assert_user(
        &get(&env, "https://one.example/v2/"),
        "one-user",
        "one-pass",
    );
    assert_user(&get(&env, "two.example"), "two-user", "two-pass");
    assert_not_found(
        &get(&env, "three.example"),
        "a pattern that needs a repository path",
    );
    assert_user(&get(&env, "team.azurecr.io"), "acr-user", "acr-pass");
    assert_user(
        &get(&env, "https://myreg:5000/v2/"),
        "port-user",
        "port-pass",
    );
    assert_not_found(&get(&env, "myreg:5001"), "another port");

    // The example ACR pattern `^exampleacr\.azurecr\.io/` matches the host followed by `/`.
    assert_user(
        &get(&demo(), "exampleacr.azurecr.io"),
        "pull-token",
        "ACRexamplePullToken0007",
    );
}

#[test]
fn an_invalid_pattern_is_skipped_with_a_warning_naming_the_secret() {
    let env = Env::empty();
    write_list(
        &env,
        "patterns.json",
        vec![
            regex(
                SHARED,
                "a-broken",
                "image",
                "^reg\\.example/((",
                "broken-user",
                "broken-pass-0001",
            ),
            regex(
                SHARED,
                "b-good",
                "image",
                "^reg\\.example",
                "good-user",
                "good-pass",
            ),
        ],
    );
    let output = get(&env, "reg.example");
    assert_user(&output, "good-user", "good-pass");
    assert!(
        stderr(&output).contains("a-broken"),
        "a warning names the skipped Secret: {:?}",
        stderr(&output)
    );
    assert_no_secrets_in_stderr(&output, &["broken-pass-0001", "good-pass"]);
}

#[test]
fn a_value_that_could_inject_protocol_lines_is_an_error_that_hides_the_value() {
    let env = Env::empty();
    write_list(
        &env,
        "bad.json",
        vec![exact(
            SHARED,
            "multi-line",
            "image",
            "reg.example/a/b",
            "user",
            "pw-first-half\nsecond-half-of-pw",
        )],
    );
    let output = get(&env, "reg.example");
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(
        stdout(&output).contains("multi-line"),
        "the error names the Secret: {}",
        stdout(&output)
    );
    for part in ["pw-first-half", "second-half-of-pw"] {
        assert!(
            !stdout(&output).contains(part),
            "stdout shows the value: {}",
            stdout(&output)
        );
        assert!(
            !stderr(&output).contains(part),
            "stderr shows the value: {}",
            stderr(&output)
        );
    }
}

// ---------------------------------------------------------------------------------------
// list, store, erase

#[test]
fn list_prints_the_exact_secrets_by_registry_host() {
    assert_eq!(
        list(&Env::with_examples()),
        json!({
            "127.0.0.1:5000": "localuser",
            "docker.io": "examplebot",
            "us-central1-docker.pkg.dev": "_json_key_base64",
        })
    );
    // With the Project: its exact image Secrets too; never the regex ones
    // (exampleacr.azurecr.io) nor the https chart repository.
    assert_eq!(
        list(&demo()),
        json!({
            "127.0.0.1:5000": "localuser",
            "docker.io": "examplebot",
            "ghcr.io": "demo-bot",
            "quay.io": "example+robot",
            "us-central1-docker.pkg.dev": "_json_key_base64",
        })
    );
    assert_eq!(
        list(&demo().var("KARGO_CREDS_DOCKER_TYPES", "helm")),
        json!({"docker.io": "examplebot", "ghcr.io": "demo-bot"})
    );
    let output = helper(&Env::empty(), "list", "");
    assert_eq!(code(&output), 0);
    assert_eq!(stdout(&output), "{}\n");
}

#[test]
fn list_prefers_project_then_image_then_name_order() {
    let env = Env::empty().var("KARGO_PROJECT", "team");
    write_list(
        &env,
        "creds.json",
        vec![
            exact(
                SHARED,
                "shared-reg",
                "image",
                "reg.example/x/y",
                "shared-user",
                "list-pass-1",
            ),
            exact(
                "team",
                "team-reg",
                "image",
                "reg.example/x/y",
                "team-user",
                "list-pass-2",
            ),
            exact(
                "team",
                "a-helm",
                "helm",
                "oci://img.example/charts",
                "helm-user",
                "list-pass-3",
            ),
            exact(
                "team",
                "z-image",
                "image",
                "img.example/x/y",
                "image-user",
                "list-pass-4",
            ),
            exact(
                "team",
                "b-second",
                "image",
                "two.example/x/y",
                "second-user",
                "list-pass-5",
            ),
            exact(
                "team",
                "a-first",
                "image",
                "two.example/z/w",
                "first-user",
                "list-pass-6",
            ),
            regex(
                "team",
                "pattern",
                "image",
                "^pattern\\.example",
                "pattern-user",
                "list-pass-7",
            ),
        ],
    );
    let value = list(&env);
    assert_eq!(
        value,
        json!({
            "reg.example": "team-user",
            "img.example": "image-user",
            "two.example": "first-user",
        })
    );
    let output = helper(&env, "list", "");
    assert_no_secrets_in_stderr(
        &output,
        &[
            "list-pass-1",
            "list-pass-2",
            "list-pass-3",
            "list-pass-4",
            "list-pass-5",
            "list-pass-6",
            "list-pass-7",
        ],
    );
    assert!(
        !stdout(&output).contains("list-pass-4"),
        "list never prints passwords"
    );
}

#[test]
fn store_is_refused_with_a_clear_message() {
    let request = r#"{"ServerURL":"ghcr.io","Username":"someone","Secret":"store-me-secret-0042"}"#;
    let output = helper(&demo(), "store", request);
    assert_eq!(code(&output), 1);
    let out = stdout(&output);
    assert!(!out.trim().is_empty(), "a message on stdout");
    assert!(
        out.contains("Kargo"),
        "the message says where credentials live: {out}"
    );
    assert!(
        !out.contains("store-me-secret-0042"),
        "the message never echoes the secret: {out}"
    );
    assert_no_secrets_in_stderr(&output, &["store-me-secret-0042"]);
}

#[test]
fn erase_is_accepted() {
    for server_url in [
        "ghcr.io\n",
        "https://index.docker.io/v1/",
        "registry.unknown.example",
    ] {
        let output = helper(&demo(), "erase", server_url);
        assert_eq!(
            code(&output),
            0,
            "erase {server_url:?}: {}",
            stdout(&output)
        );
        assert_eq!(stdout(&output), "");
    }
}

/// docker-credential-helpers' `Erase` answers an empty server URL with the same error as
/// `Get` (`credentials/credentials.go`), and src/protocol/docker.rs documents
/// `MISSING_SERVER_URL` as the answer to "`get`/`erase` without a server URL".
#[test]
fn erase_without_a_server_url_says_so_and_exits_1() {
    for input in ["", "\n", "  \n"] {
        let output = helper(&demo(), "erase", input);
        assert_eq!(stdout(&output), NO_SERVER_URL, "erase with input {input:?}");
        assert_eq!(code(&output), 1, "erase with input {input:?}");
    }
}

// ---------------------------------------------------------------------------------------
// configuration (environment and file only: docker passes no flags)

#[test]
fn an_unknown_config_key_is_an_error_naming_the_key() {
    let env = demo();
    let config = env.home.path().join("kargo-creds.yaml");
    std::fs::write(&config, "project: kargo-demo\nsharedNamspace: typo\n").unwrap();
    let env = env.var("KARGO_CREDS_CONFIG", config.to_str().unwrap());
    for (action, stdin) in [("get", "ghcr.io\n"), ("list", "")] {
        let output = helper(&env, action, stdin);
        assert_eq!(code(&output), 1, "{action}: {}", stdout(&output));
        let out = stdout(&output);
        assert!(
            out.contains("sharedNamspace"),
            "{action}: the error names the key: {out}"
        );
        assert_ne!(out, NOT_FOUND);
        assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
    }
}

#[test]
fn the_config_file_sets_the_project_and_the_environment_beats_it() {
    let env = Env::with_examples();
    let config = env.home.path().join("config.yaml");
    std::fs::write(&config, "project: kargo-demo\n").unwrap();
    let env = env.var("KARGO_CREDS_CONFIG", config.to_str().unwrap());
    assert_user(
        &get(&env, "ghcr.io"),
        "demo-bot",
        "ghp_exampleGhcrToken0005",
    );
    // The environment beats the file.
    let env = env.var("KARGO_PROJECT", "another-project");
    assert_not_found(&get(&env, "ghcr.io"), "KARGO_PROJECT beats the config file");
}

#[test]
fn the_config_file_sets_docker_types() {
    let env = demo();
    let config = env.home.path().join("config.yaml");
    std::fs::write(&config, "dockerTypes: [helm]\n").unwrap();
    let env = env.var("KARGO_CREDS_CONFIG", config.to_str().unwrap());
    assert_user(
        &get(&env, "ghcr.io"),
        "demo-bot",
        "ghp_exampleChartsToken0008",
    );
    let env = env.var("KARGO_CREDS_DOCKER_TYPES", "image");
    assert_user(
        &get(&env, "ghcr.io"),
        "demo-bot",
        "ghp_exampleGhcrToken0005",
    );
}

#[test]
fn the_default_config_file_is_read_from_the_config_dir() {
    let env = Env::with_examples();
    let folder = env.home.path().join(".config/kargo-creds");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("config.yaml"), "project: kargo-demo\n").unwrap();
    assert_user(
        &get(&env, "ghcr.io"),
        "demo-bot",
        "ghp_exampleGhcrToken0005",
    );
}

#[test]
fn a_missing_explicit_config_file_is_an_error() {
    let env = demo();
    let missing = env.home.path().join("no-such-config.yaml");
    let env = env.var("KARGO_CREDS_CONFIG", missing.to_str().unwrap());
    let output = get(&env, "ghcr.io");
    assert_eq!(code(&output), 1);
    assert!(
        stdout(&output).contains("no-such-config.yaml"),
        "the error names the file: {}",
        stdout(&output)
    );
}

// ---------------------------------------------------------------------------------------
// secrecy

#[test]
fn stderr_never_carries_a_secret_value() {
    let servers = [
        "https://index.docker.io/v1/",
        "ghcr.io",
        "quay.io",
        "127.0.0.1:5000",
        "exampleacr.azurecr.io",
        "us-central1-docker.pkg.dev",
        "charts.example.com",
        "github.com",
        "registry.unknown.example",
        "",
    ];
    for project in [None, Some("kargo-demo")] {
        for types in ["image,helm", "helm", "image"] {
            let mut env = Env::with_examples()
                .var("KARGO_CREDS_LOG", "debug")
                .var("KARGO_CREDS_DOCKER_TYPES", types);
            if let Some(project) = project {
                env = env.var("KARGO_PROJECT", project);
            }
            for server in servers {
                for action in ["get", "erase"] {
                    let output = helper(&env, action, server);
                    assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
                }
            }
            for action in ["list", "version"] {
                assert_no_secrets_in_stderr(&helper(&env, action, ""), EXAMPLE_SECRETS);
            }
            let request =
                r#"{"ServerURL":"ghcr.io","Username":"u","Secret":"ghp_exampleGhcrToken0005"}"#;
            assert_no_secrets_in_stderr(&helper(&env, "store", request), EXAMPLE_SECRETS);
        }
    }
}

// ---------------------------------------------------------------------------------------
// a real client: the Python Docker SDK

#[test]
fn the_python_docker_sdk_talks_to_the_helper() {
    let in_ci = std::env::var("CI").is_ok_and(|value| value == "true");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/docker_sdk_client.py"
    );
    let env = Env::with_examples();
    let mut command = env.command("python3");
    command.args([
        script,
        DOCKER_HELPER,
        "kargo-demo",
        "ghcr.io",
        "registry.unknown.example",
    ]);
    let output = match command.output() {
        Ok(output) => output,
        Err(error) => {
            assert!(!in_ci, "CI=true but python3 cannot be run: {error}");
            eprintln!("note: skipping the Docker SDK test: python3 cannot be run: {error}");
            return;
        }
    };
    if output.status.code() == Some(77) {
        assert!(
            !in_ci,
            "CI=true but the Python Docker SDK is not installed: {}",
            stderr(&output)
        );
        eprintln!(
            "note: skipping the Docker SDK test: {} (pip install docker)",
            stderr(&output).trim()
        );
        return;
    }
    assert_eq!(
        code(&output),
        0,
        "the SDK client failed\nstdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    let result: Value = serde_json::from_str(&stdout(&output)).expect("the client prints JSON");
    assert_eq!(result["program"], "docker-credential-kargo");
    assert_eq!(
        result["get"],
        json!({"ServerURL": "ghcr.io", "Username": "demo-bot", "Secret": "ghp_exampleGhcrToken0005"}),
        "{result:#}"
    );
    assert_eq!(
        result["list"],
        json!({
            "127.0.0.1:5000": "localuser",
            "docker.io": "examplebot",
            "ghcr.io": "demo-bot",
            "quay.io": "example+robot",
            "us-central1-docker.pkg.dev": "_json_key_base64",
        }),
        "{result:#}"
    );
    assert_eq!(
        result["unknown"]["raised"], "CredentialsNotFound",
        "an unknown registry must raise docker.credentials.errors.CredentialsNotFound: {result:#}"
    );
    assert_eq!(result["erase"]["raised"], Value::Null, "{result:#}");
    assert_eq!(result["store"]["raised"], "StoreError", "{result:#}");
    assert_no_secrets_in_stderr(&output, EXAMPLE_SECRETS);
}
