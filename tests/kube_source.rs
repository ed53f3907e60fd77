//! The `kubernetes` source (SPEC §3, issue 3) against the fake API server
//! (`tests/support/fake_kube.py`), through the real binaries and the real `kube` client:
//! the shared test vectors, pagination, concurrent namespace listing, 403/401, an API server
//! that is down or hangs, TLS failures, malformed Secrets, and TLS verification.

mod support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use support::{
    assert_no_secrets_in_stderr, secret_json, stderr, stdout, Env, FakeKube, CLI, DOCKER_HELPER,
    GIT_HELPER,
};

/// The bearer token the fake demands; it must never reach stderr either.
const TOKEN: &str = "fake-kube-bearer-token-7f3a9c";
const SHARED: &str = "kargo-shared-resources";

/// An environment that uses the kubernetes source through the fake's kubeconfig.
fn kube_env(fake: &FakeKube) -> Env {
    kube_env_at(&fake.kubeconfig())
}

fn kube_env_at(kubeconfig: &Path) -> Env {
    Env::empty()
        .var("KUBECONFIG", &kubeconfig.display().to_string())
        .var("KARGO_CREDS_SOURCE", "kubernetes")
}

fn git_input(host: &str, path: &str) -> Vec<u8> {
    format!("protocol=https\nhost={host}\npath={path}\n").into_bytes()
}

fn git_secret(repo_url: &str, username: &str, password: &str) -> Value {
    secret_json(
        &[("kargo.akuity.io/cred-type", "git")],
        &[],
        &[
            ("repoURL", repo_url),
            ("username", username),
            ("password", password),
        ],
    )
}

fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .collect()
}

/// The LIST requests of one namespace, in the order they were logged.
fn lists_of(fake: &FakeKube, namespace: &str) -> Vec<Value> {
    fake.requests()
        .into_iter()
        .filter(|r| r["verb"] == "list" && r["namespace"] == namespace)
        .collect()
}

/// A 127.0.0.1 port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The fake's kubeconfig with its server address replaced.
fn kubeconfig_pointing_to(fake: &FakeKube, server: &str, into: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(fake.kubeconfig()).unwrap();
    let original = format!("127.0.0.1:{}", fake.port);
    assert!(text.contains(&original), "{text}");
    let path = into.join("kubeconfig");
    std::fs::write(&path, text.replace(&original, server)).unwrap();
    path
}

/// Runs a command, returning its output and wall time (a hang guard, not a benchmark).
fn timed(env: &Env, program: &str, args: &[&str], stdin: &[u8]) -> (Output, Duration) {
    let started = Instant::now();
    let output = env.run(program, args, stdin);
    let elapsed = started.elapsed();
    eprintln!("{program} {args:?}: {elapsed:.2?}");
    (output, elapsed)
}

// ---------------------------------------------------------------------------------------
// 1. The shared test vectors through the kubernetes source
// ---------------------------------------------------------------------------------------

fn vector_cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/kargo-resolve.json"
    );
    let text = std::fs::read_to_string(path).expect("the shared test vectors beside the project");
    let json: Value = serde_json::from_str(&text).expect("valid JSON");
    json["cases"].as_array().expect("cases").clone()
}

/// Why a case does not apply to this source test, if it does not.
fn skip_reason(case: &Value) -> Option<&'static str> {
    if case.get("ambient").is_some() {
        return Some("ambient identity");
    }
    match case["expected"]["provider"].as_str() {
        None | Some("basic") | Some("ssh") | Some("githubApp") => None,
        Some(_) => Some("cloud provider (ecr/gar/acr)"),
    }
}

/// Writes a case's Secrets into the fake's store, as the API server would hold them.
fn seed_case(fake: &FakeKube, case: &Value) {
    fake.clear_secrets();
    for secret in case["secrets"].as_array().unwrap() {
        let namespace = secret["namespace"].as_str().unwrap();
        let name = secret["name"].as_str().unwrap();
        let mut stored = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": secret["labels"],
                "annotations": secret["annotations"],
            },
            "type": "Opaque",
        });
        if let Some(data) = secret["data"].as_object() {
            let encoded: serde_json::Map<String, Value> = data
                .iter()
                .map(|(key, value)| {
                    let value = value.as_str().unwrap();
                    (
                        key.clone(),
                        base64::engine::general_purpose::STANDARD
                            .encode(value)
                            .into(),
                    )
                })
                .collect();
            stored["data"] = encoded.into();
        }
        fake.seed(namespace, name, &stored);
    }
}

/// The values of a case that are secret: never to be seen on stderr.
fn case_secret_values(case: &Value) -> Vec<String> {
    const PUBLIC: &[&str] = &[
        "repoURL",
        "repoURLIsRegex",
        "username",
        "awsRegion",
        "awsAccessKeyID",
        "githubAppID",
        "githubAppClientID",
        "githubAppInstallationID",
    ];
    let mut values = Vec::new();
    for secret in case["secrets"].as_array().unwrap() {
        for (key, value) in secret["data"].as_object().into_iter().flatten() {
            let value = value.as_str().unwrap();
            // Very short values ("pw") would match ordinary words.
            if !PUBLIC.contains(&key.as_str()) && value.trim().len() >= 6 {
                values.push(value.to_owned());
            }
        }
    }
    values
}

/// Runs one case through `kargo-creds resolve` (and `get` for static credentials);
/// returns a failure description, if any.
fn run_case(fake: &FakeKube, case: &Value) -> Option<String> {
    let name = case["name"].as_str().unwrap();
    let expected = &case["expected"];
    let project = case["project"].as_str().unwrap();
    let shared = case["shared_namespace"].as_str().unwrap();
    let url = case["url"].as_str().unwrap();
    let cred_type = case["type"].as_str().unwrap();
    let allow_http = case["allow_credentials_over_http"]
        .as_bool()
        .unwrap_or(false);
    let mut env = kube_env(fake);
    if allow_http {
        env = env.var("KARGO_CREDS_ALLOW_HTTP", "true");
    }
    let secrets = case_secret_values(case);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let common = [
        "--source",
        "kubernetes",
        "--project",
        project,
        "--shared-namespace",
        shared,
    ];
    let mut args = common.to_vec();
    args.extend(["resolve", url, "--type", cred_type, "-o", "json"]);
    let output = env.run(CLI, &args, b"");
    let leaked = secrets
        .iter()
        .find(|secret| stderr(&output).contains(*secret));
    if let Some(secret) = leaked {
        return Some(format!(
            "{name}: stderr leaks {secret:?}: {}",
            stderr(&output)
        ));
    }
    if expected["outcome"] == "error" {
        let secret = expected["secret"].as_str().unwrap();
        let message = stderr(&output);
        if output.status.code() != Some(1) || !message.contains(secret) {
            return Some(format!(
                "{name}: expected exit 1 and an error naming {secret}, got {:?}, stdout {:?}, stderr {message:?}",
                output.status.code(),
                stdout(&output)
            ));
        }
        if lines(&message).len() != 1 {
            return Some(format!("{name}: the error is not one line: {message:?}"));
        }
        return None;
    }
    if !output.status.success() {
        return Some(format!(
            "{name}: exit {:?}, stderr {:?}",
            output.status.code(),
            stderr(&output)
        ));
    }
    let actual: Value = match serde_json::from_slice(&output.stdout) {
        Ok(value) => value,
        Err(error) => return Some(format!("{name}: stdout is not JSON ({error})")),
    };
    for key in ["secret", "provider"] {
        if actual[key] != expected[key] {
            return Some(format!(
                "{name}: {key} expected {} actual {}",
                expected[key], actual[key]
            ));
        }
    }
    // The static values themselves, through `get -o json`.
    if expected["outcome"] == "credentials" && expected["provider"] == "basic" {
        let mut args = common.to_vec();
        args.extend(["get", url, "--type", cred_type, "-o", "json"]);
        let output = env.run(CLI, &args, b"");
        if let Some(secret) = secrets.iter().find(|s| stderr(&output).contains(*s)) {
            return Some(format!("{name}: get: stderr leaks {secret:?}"));
        }
        let got: Value = match serde_json::from_slice(&output.stdout) {
            Ok(value) if output.status.success() => value,
            _ => {
                return Some(format!(
                    "{name}: get failed: exit {:?}, stderr {:?}",
                    output.status.code(),
                    stderr(&output)
                ))
            }
        };
        for key in ["username", "password", "secret"] {
            if got[key] != expected[key] {
                return Some(format!(
                    "{name}: get: {key} expected {} actual {}",
                    expected[key], got[key]
                ));
            }
        }
    }
    None
}

#[test]
fn every_applicable_vector_through_the_kubernetes_source() {
    let started = Instant::now();
    let fake = FakeKube::start(&["--token", TOKEN]);
    let cases = vector_cases();
    let mut failures = Vec::new();
    let mut skips = Vec::new();
    let mut ran = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        if let Some(reason) = skip_reason(case) {
            skips.push(format!("{name} ({reason})"));
            continue;
        }
        seed_case(&fake, case);
        ran += 1;
        if let Some(failure) = run_case(&fake, case) {
            failures.push(failure);
        }
    }
    eprintln!(
        "{} cases: {ran} run through the kubernetes source, {} skipped in {:.1?}: {skips:#?}",
        cases.len(),
        skips.len(),
        started.elapsed()
    );
    assert!(ran >= 60, "only {ran} cases ran");
    // Every lookup listed with the label selector, never all Secrets.
    let requests = fake.requests();
    assert!(requests.iter().all(|r| r["verb"] == "list"
        && r["query"]["labelSelector"]
            .as_str()
            .is_some_and(|s| s.starts_with("kargo.akuity.io/cred-type="))));
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 2. Pagination
// ---------------------------------------------------------------------------------------

#[test]
fn pagination_follows_continue_tokens_to_the_last_page() {
    let fake = FakeKube::start(&["--token", TOKEN, "--page-size-cap", "2"]);
    for i in 1..=7 {
        fake.seed(
            "demo",
            &format!("repo-{i}"),
            &git_secret(
                &format!("https://git.example.com/team/repo-{i}"),
                &format!("user-{i}"),
                &format!("page-secret-{i}"),
            ),
        );
    }
    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let output = env.run(
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/repo-7"),
    );
    let secrets: Vec<String> = (1..=7).map(|i| format!("page-secret-{i}")).collect();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_secrets_in_stderr(&output, &secrets);
    assert_no_secrets_in_stderr(&output, &[TOKEN]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "username=user-7\npassword=page-secret-7\n",
        "the Secret on the last page answers"
    );

    let pages = lists_of(&fake, "demo");
    assert_eq!(pages.len(), 4, "7 Secrets, 2 per page: {pages:#?}");
    assert!(
        pages[0]["query"].get("continue").is_none(),
        "{:#?}",
        pages[0]
    );
    let tokens: BTreeSet<&str> = pages[1..]
        .iter()
        .map(|page| {
            page["query"]["continue"]
                .as_str()
                .filter(|t| !t.is_empty())
                .expect("every later page carries a continue token")
        })
        .collect();
    assert_eq!(tokens.len(), 3, "each page asks for the next: {tokens:?}");
    assert!(pages
        .iter()
        .all(|p| p["status"] == 200
            && p["query"]["labelSelector"] == "kargo.akuity.io/cred-type=git"));
    // The shared namespace is empty: one page.
    assert_eq!(lists_of(&fake, SHARED).len(), 1);
}

// ---------------------------------------------------------------------------------------
// 3. Concurrency
// ---------------------------------------------------------------------------------------

#[test]
fn project_and_shared_namespaces_are_listed_concurrently() {
    let fake = FakeKube::start(&["--token", TOKEN, "--delay-ms", "400"]);
    fake.seed(
        "demo",
        "project-creds",
        &git_secret(
            "https://git.example.com/team/app",
            "proj",
            "concurrent-one-1",
        ),
    );
    fake.seed(
        SHARED,
        "shared-creds",
        &git_secret(
            "https://git.example.com/team/other",
            "shr",
            "concurrent-two-2",
        ),
    );
    let env = kube_env(&fake);
    let output = env.run(
        CLI,
        &[
            "--project",
            "demo",
            "resolve",
            "https://git.example.com/team/other",
            "--type",
            "git",
            "-o",
            "json",
        ],
        b"",
    );
    assert_no_secrets_in_stderr(&output, &["concurrent-one-1", "concurrent-two-2", TOKEN]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["secret"], "kargo-shared-resources/shared-creds");

    let project = lists_of(&fake, "demo");
    let shared = lists_of(&fake, SHARED);
    assert_eq!(project.len(), 1, "one page for the project: {project:#?}");
    assert_eq!(
        shared.len(),
        1,
        "one page for the shared namespace: {shared:#?}"
    );
    let all = fake.requests();
    assert_eq!(all.len(), 2, "nothing but the two LISTs: {all:#?}");
    let interval = |r: &Value| (r["start"].as_f64().unwrap(), r["end"].as_f64().unwrap());
    let (a_start, a_end) = interval(&project[0]);
    let (b_start, b_end) = interval(&shared[0]);
    assert!(
        a_start < b_end && b_start < a_end,
        "both LISTs in flight at once: project [{a_start}, {a_end}], shared [{b_start}, {b_end}]"
    );
}

// ---------------------------------------------------------------------------------------
// 4. 403 on one namespace
// ---------------------------------------------------------------------------------------

#[test]
fn forbidden_shared_namespace_is_skipped_with_one_warning() {
    let fake = FakeKube::start(&["--token", TOKEN, "--forbid", SHARED]);
    fake.seed(
        "demo",
        "project-creds",
        &git_secret("https://git.example.com/team/app", "proj", "forbidden-pw-1"),
    );
    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let output = env.run(
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    assert_no_secrets_in_stderr(&output, &["forbidden-pw-1", TOKEN]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "username=proj\npassword=forbidden-pw-1\n");
    let warning = stderr(&output);
    assert_eq!(lines(&warning).len(), 1, "one warning line: {warning:?}");
    assert!(warning.contains(SHARED), "{warning}");
    assert_eq!(lists_of(&fake, SHARED)[0]["status"], 403);

    // The same through resolve.
    let output = env.run(
        CLI,
        &[
            "resolve",
            "https://git.example.com/team/app",
            "--type",
            "git",
            "-o",
            "json",
        ],
        b"",
    );
    assert_no_secrets_in_stderr(&output, &["forbidden-pw-1", TOKEN]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["secret"], "demo/project-creds");
    assert_eq!(lines(&stderr(&output)).len(), 1, "{}", stderr(&output));
}

#[test]
fn forbidden_project_namespace_falls_back_to_shared() {
    let fake = FakeKube::start(&["--token", TOKEN, "--forbid", "demo"]);
    fake.seed(
        SHARED,
        "shared-creds",
        &git_secret("https://git.example.com/team/app", "shr", "forbidden-pw-2"),
    );
    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let output = env.run(
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    assert_no_secrets_in_stderr(&output, &["forbidden-pw-2", TOKEN]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "username=shr\npassword=forbidden-pw-2\n");
    let warning = stderr(&output);
    assert_eq!(lines(&warning).len(), 1, "one warning line: {warning:?}");
    assert!(warning.contains("demo"), "{warning}");
}

// ---------------------------------------------------------------------------------------
// 5. 401
// ---------------------------------------------------------------------------------------

#[test]
fn unauthorized_is_a_one_line_error_naming_server_and_namespace() {
    let fake = FakeKube::start(&["--token", TOKEN]);
    fake.seed(
        "demo",
        "project-creds",
        &git_secret("https://git.example.com/team/app", "proj", "unauth-pw-1"),
    );
    let server = format!("http://127.0.0.1:{}", fake.port);
    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let names_namespace = |text: &str| text.contains("demo") || text.contains(SHARED);

    let output = env.run(
        GIT_HELPER,
        &["--kube-context", "wrong-token", "get"],
        &git_input("git.example.com", "team/app"),
    );
    assert_no_secrets_in_stderr(
        &output,
        &["unauth-pw-1", TOKEN, "wrong-token-for-fake-kube"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "", "git gets nothing on stdout");
    let message = stderr(&output);
    assert_eq!(lines(&message).len(), 1, "{message:?}");
    assert!(message.contains(&server), "names the API server: {message}");
    assert!(names_namespace(&message), "names the namespace: {message}");
    assert!(message.contains("401"), "{message}");

    let output = env.run(
        CLI,
        &[
            "--kube-context",
            "wrong-token",
            "resolve",
            "https://git.example.com/team/app",
            "--type",
            "git",
        ],
        b"",
    );
    assert_no_secrets_in_stderr(
        &output,
        &["unauth-pw-1", TOKEN, "wrong-token-for-fake-kube"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert_eq!(lines(&message).len(), 1, "{message:?}");
    assert!(
        message.contains(&server) && names_namespace(&message),
        "{message}"
    );

    // The context can also come from the environment.
    let output = kube_env(&fake)
        .var("KARGO_PROJECT", "demo")
        .var("KARGO_CREDS_KUBE_CONTEXT", "wrong-token")
        .run(DOCKER_HELPER, &["get"], b"git.example.com");
    assert_eq!(output.status.code(), Some(1));
    assert_no_secrets_in_stderr(
        &output,
        &["unauth-pw-1", TOKEN, "wrong-token-for-fake-kube"],
    );
    // docker's protocol: the message on stdout.
    let message = stdout(&output);
    assert!(!message.contains("unauth-pw-1"), "{message}");
    assert_eq!(lines(&message).len(), 1, "{message:?}");
    assert!(
        message.contains(&server) && names_namespace(&message),
        "{message}"
    );
    assert!(
        fake.requests().iter().all(|r| r["status"] == 401),
        "every request was refused"
    );
}

// ---------------------------------------------------------------------------------------
// 6. API server down, hanging, unreachable, untrusted
// ---------------------------------------------------------------------------------------

#[test]
fn api_server_down_is_a_prompt_one_line_error() {
    let fake = FakeKube::start(&["--token", TOKEN]);
    let port = closed_port();
    let folder = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_pointing_to(&fake, &format!("127.0.0.1:{port}"), folder.path());
    let env = kube_env_at(&kubeconfig)
        .var("KARGO_PROJECT", "demo")
        .var("KARGO_CREDS_CONNECT_TIMEOUT", "1");
    let (output, elapsed) = timed(
        &env,
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert_no_secrets_in_stderr(&output, &[TOKEN]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert_eq!(lines(&message).len(), 1, "{message:?}");
    assert!(
        message.contains(&format!("127.0.0.1:{port}")),
        "names the API server: {message}"
    );
    assert!(
        message.contains("demo") || message.contains(SHARED),
        "{message}"
    );

    let (output, elapsed) = timed(
        &env,
        CLI,
        &["get", "https://git.example.com/team/app", "-o", "json"],
        b"",
    );
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert_no_secrets_in_stderr(&output, &[TOKEN]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(lines(&stderr(&output)).len(), 1, "{}", stderr(&output));
}

#[test]
fn hanging_api_server_errors_within_the_request_timeout() {
    let fake = FakeKube::start(&["--token", TOKEN, "--delay-ms", "5000"]);
    fake.seed(
        "demo",
        "project-creds",
        &git_secret("https://git.example.com/team/app", "proj", "hang-pw-1"),
    );
    let env = kube_env(&fake)
        .var("KARGO_PROJECT", "demo")
        .var("KARGO_CREDS_REQUEST_TIMEOUT", "1");
    let (output, elapsed) = timed(
        &env,
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    assert_no_secrets_in_stderr(&output, &["hang-pw-1", TOKEN]);
    assert!(
        elapsed < Duration::from_millis(4000),
        "the request timeout (1 s) ends the wait, not the server (5 s): took {elapsed:?}"
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert_eq!(lines(&message).len(), 1, "{message:?}");
    assert!(
        message.contains(&format!("127.0.0.1:{}", fake.port)),
        "{message}"
    );
    assert!(
        message.contains("demo") || message.contains(SHARED),
        "{message}"
    );
}

/// A server that accepts TCP connections and never says a word: the TLS handshake never
/// completes, and the request timeout must still end the wait.
#[test]
fn silent_tls_server_errors_within_the_request_timeout() {
    let fake = FakeKube::start(&["--tls", "--token", TOKEN]);
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let folder = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig_pointing_to(&fake, &format!("127.0.0.1:{port}"), folder.path());
    let env = kube_env_at(&kubeconfig)
        .var("KARGO_PROJECT", "demo")
        .var("KARGO_CREDS_CONNECT_TIMEOUT", "1")
        .var("KARGO_CREDS_REQUEST_TIMEOUT", "1");
    let (output, elapsed) = timed(
        &env,
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    drop(silent);
    assert_no_secrets_in_stderr(&output, &[TOKEN]);
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert_eq!(lines(&message).len(), 1, "{message:?}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}

#[test]
fn unresolvable_api_server_is_a_one_line_error() {
    let fake = FakeKube::start(&["--token", TOKEN]);
    let folder = tempfile::tempdir().unwrap();
    let kubeconfig =
        kubeconfig_pointing_to(&fake, "kube-api.does-not-exist.invalid:6443", folder.path());
    let env = kube_env_at(&kubeconfig)
        .var("KARGO_PROJECT", "demo")
        .var("KARGO_CREDS_CONNECT_TIMEOUT", "1")
        .var("KARGO_CREDS_REQUEST_TIMEOUT", "2");
    let (output, elapsed) = timed(
        &env,
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert_no_secrets_in_stderr(&output, &[TOKEN]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert_eq!(lines(&message).len(), 1, "{message:?}");
    assert!(
        message.contains("kube-api.does-not-exist.invalid"),
        "{message}"
    );
}

#[test]
fn untrusted_tls_certificate_is_a_one_line_error() {
    let fake = FakeKube::start(&["--tls", "--token", TOKEN]);
    fake.seed(
        "demo",
        "project-creds",
        &git_secret("https://git.example.com/team/app", "proj", "tls-fail-pw-1"),
    );
    // The same server without its CA: nothing vouches for its certificate.
    let text = std::fs::read_to_string(fake.kubeconfig()).unwrap();
    let without_ca: String = text
        .lines()
        .filter(|line| !line.contains("certificate-authority-data"))
        .map(|line| format!("{line}\n"))
        .collect();
    let folder = tempfile::tempdir().unwrap();
    let kubeconfig = folder.path().join("kubeconfig");
    std::fs::write(&kubeconfig, without_ca).unwrap();
    let env = kube_env_at(&kubeconfig)
        .var("KARGO_PROJECT", "demo")
        .var("KARGO_CREDS_REQUEST_TIMEOUT", "3");
    let (output, elapsed) = timed(
        &env,
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    assert_no_secrets_in_stderr(&output, &["tls-fail-pw-1", TOKEN]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    assert_eq!(lines(&message).len(), 1, "{message:?}");
    assert!(
        message.contains(&format!("https://127.0.0.1:{}", fake.port)),
        "{message}"
    );
    assert!(
        fake.requests().is_empty(),
        "no request got through the failed handshake"
    );
}

// ---------------------------------------------------------------------------------------
// 7. Malformed Secrets among good ones
// ---------------------------------------------------------------------------------------

#[test]
fn malformed_secrets_are_skipped_with_a_warning_naming_them() {
    let fake = FakeKube::start(&["--token", TOKEN]);
    let repo = "https://git.example.com/team/app";
    // Both sort before the good one and match the same URL: were they not skipped, they
    // would win (or fail the whole list).
    let mut bad_base64 = git_secret(repo, "bad", "unused-pw");
    bad_base64["data"]["password"] = json!("not*base64!!-malformed-value");
    fake.seed("demo", "a-bad-base64", &bad_base64);
    let mut odd_label = git_secret(repo, "odd", "odd-label-pw-9");
    odd_label["metadata"]["labels"]["team"] = json!(5);
    fake.seed("demo", "b-odd-label", &odd_label);
    fake.seed(
        "demo",
        "c-good",
        &git_secret(repo, "good", "malformed-good-pw"),
    );

    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let output = env.run(
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    assert_no_secrets_in_stderr(
        &output,
        &[
            "malformed-good-pw",
            "odd-label-pw-9",
            "not*base64!!-malformed-value",
            TOKEN,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "username=good\npassword=malformed-good-pw\n"
    );
    let warnings = stderr(&output);
    assert!(warnings.contains("a-bad-base64"), "{warnings}");
    assert!(warnings.contains("b-odd-label"), "{warnings}");
    assert!(!warnings.contains("c-good"), "{warnings}");

    let output = env.run(CLI, &["resolve", repo, "--type", "git", "-o", "json"], b"");
    assert_no_secrets_in_stderr(&output, &["malformed-good-pw", "odd-label-pw-9", TOKEN]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["secret"], "demo/c-good");
}

// ---------------------------------------------------------------------------------------
// 8. TLS
// ---------------------------------------------------------------------------------------

#[test]
fn tls_verifies_the_ca_from_the_kubeconfig() {
    let fake = FakeKube::start(&["--tls", "--token", TOKEN]);
    fake.seed(
        SHARED,
        "shared-creds",
        &git_secret(
            "https://git.example.com/team/app",
            "tls-user",
            "tls-good-pw",
        ),
    );
    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let output = env.run(
        GIT_HELPER,
        &["get"],
        &git_input("git.example.com", "team/app"),
    );
    assert_no_secrets_in_stderr(&output, &["tls-good-pw", TOKEN]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "username=tls-user\npassword=tls-good-pw\n");
    assert_eq!(stderr(&output), "");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(requests
        .iter()
        .all(|r| r["status"] == 200 && r["authenticated"] == true));
}

// ---------------------------------------------------------------------------------------
// Source selection
// ---------------------------------------------------------------------------------------

#[test]
fn explain_reports_the_kubernetes_source_and_why() {
    let fake = FakeKube::start(&["--token", TOKEN]);
    fake.seed(
        "demo",
        "project-creds",
        &git_secret("https://git.example.com/team/app", "proj", "explain-pw-1"),
    );
    // Chosen by the environment even though the secrets folder exists.
    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let output = env.run(
        CLI,
        &[
            "resolve",
            "https://git.example.com/team/app",
            "--type",
            "git",
            "--explain",
        ],
        b"",
    );
    assert_no_secrets_in_stderr(&output, &["explain-pw-1", TOKEN]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let source_line = text
        .lines()
        .find(|line| line.starts_with("source:"))
        .unwrap_or_else(|| panic!("no source line: {text}"));
    assert!(source_line.contains("kubernetes"), "{source_line}");
    assert!(source_line.contains("KARGO_CREDS_SOURCE"), "{source_line}");
    assert!(text.contains("demo/project-creds"), "{text}");
    assert!(!text.contains("explain-pw-1"), "{text}");

    // And by the flag, over the environment.
    let env = Env::empty()
        .var("KUBECONFIG", &fake.kubeconfig().display().to_string())
        .var("KARGO_CREDS_SOURCE", "dir")
        .var("KARGO_PROJECT", "demo");
    let output = env.run(
        CLI,
        &[
            "--source",
            "kubernetes",
            "resolve",
            "https://git.example.com/team/app",
            "--type",
            "git",
            "--explain",
        ],
        b"",
    );
    assert_no_secrets_in_stderr(&output, &["explain-pw-1", TOKEN]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let source_line = text.lines().find(|l| l.starts_with("source:")).unwrap();
    assert!(source_line.contains("kubernetes"), "{source_line}");
    assert!(source_line.contains("--source"), "{source_line}");
}

/// SPEC §3: a 403 namespace is skipped "with one warning line" — also when one command
/// lists it for several credential types (the docker helper searches image and helm).
#[test]
fn docker_helper_warns_once_about_a_forbidden_namespace() {
    let fake = FakeKube::start(&["--token", TOKEN, "--forbid", SHARED]);
    fake.seed(
        "demo",
        "registry",
        &secret_json(
            &[("kargo.akuity.io/cred-type", "image")],
            &[],
            &[
                ("repoURL", "ghcr.io/example/app"),
                ("username", "reg"),
                ("password", "docker-forbidden-pw"),
            ],
        ),
    );
    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let output = env.run(DOCKER_HELPER, &["get"], b"ghcr.io");
    assert_no_secrets_in_stderr(&output, &["docker-forbidden-pw", TOKEN]);
    assert!(output.status.success(), "{}", stderr(&output));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["Username"], "reg");
    assert_eq!(lines(&stderr(&output)).len(), 1, "{}", stderr(&output));

    // No match: both types are searched in both namespaces.
    let output = env.run(DOCKER_HELPER, &["get"], b"quay.io");
    assert_no_secrets_in_stderr(&output, &["docker-forbidden-pw", TOKEN]);
    assert_eq!(output.status.code(), Some(1), "docker's \"not found\"");
    assert!(
        stdout(&output).contains("credentials not found"),
        "{}",
        stdout(&output)
    );
    let warnings = stderr(&output);
    assert!(warnings.contains(SHARED), "{warnings}");
    assert_eq!(
        lines(&warnings).len(),
        1,
        "one warning line for the forbidden namespace, not one per type:\n{warnings}"
    );
}

/// `get credentials` on a namespace that cannot be read is an error (an empty table would
/// read as "there are none"), said once, not once per credential type.
#[test]
fn get_credentials_on_a_forbidden_namespace_fails_once() {
    let fake = FakeKube::start(&["--token", TOKEN, "--forbid", SHARED]);
    let env = kube_env(&fake).var("KARGO_PROJECT", "demo");
    let output = env.run(CLI, &["get", "credentials", "--shared"], b"");
    assert_no_secrets_in_stderr(&output, &[TOKEN]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let errors = stderr(&output);
    let error_lines: Vec<&str> = lines(&errors)
        .into_iter()
        .filter(|line| !line.contains("warning"))
        .collect();
    assert_eq!(error_lines.len(), 1, "{errors}");
    assert!(
        error_lines[0].contains(SHARED) && error_lines[0].contains("forbidden"),
        "{errors}"
    );
    let warnings: Vec<&str> = lines(&errors)
        .into_iter()
        .filter(|line| line.contains("warning"))
        .collect();
    assert!(warnings.len() <= 1, "{errors}");
}
