//! `kargo-creds doctor` (SPEC §9, issue 6) run as a user would, against the fake Kubernetes
//! API server (`tests/support/fake_kube.py`), real git and temporary docker/helm configs:
//! a healthy setup, then each way it breaks — an unreachable API server, a namespace the
//! credentials may not read, an unsafe cache folder, a skewed clock (the fake's `Date`),
//! git and docker wired or not — and the dir source. Every run is bounded and checked for
//! leaked secrets on stdout and stderr.

mod support;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    run_bounded, secret_json, stderr, stdout, Env, FakeKube, CLI, DOCKER_HELPER, GIT_HELPER,
};

const TOKEN: &str = "fake-kube-bearer-token-doctor-5e1d";
const PASSWORD: &str = "doctor-fixture-password-8c2b";
/// An `auths` entry in the docker config: doctor must never print it.
const DOCKER_AUTH: &str = "ZG9jdG9yOmRvY2tlci1hdXRoLXNlY3JldA==";
const PROJECT: &str = "kargo-demo";
const SHARED: &str = "kargo-shared-resources";
const HOST: &str = "github.com";
const REGISTRY: &str = "ghcr.io";
/// Far more than any check needs: an unreachable server is refused at once.
const BOUND: Duration = Duration::from_secs(60);

/// A machine under test: a temporary HOME with git's global config, docker's and helm's
/// configs inside it, and a PATH that holds docker-credential-kargo only when wired.
struct Machine {
    env: Env,
    bin: PathBuf,
    /// The caller's PATH without any folder holding a docker-credential-kargo.
    base_path: String,
}

impl Machine {
    fn new() -> Machine {
        let env = Env::empty();
        let home = env.home.path().to_owned();
        let bin = home.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let base_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .filter(|dir| !dir.join("docker-credential-kargo").exists())
            .map(|dir| dir.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let env = env
            .var("GIT_CONFIG_NOSYSTEM", "1")
            .var(
                "GIT_CONFIG_GLOBAL",
                &home.join("gitconfig").display().to_string(),
            )
            .var("DOCKER_CONFIG", &home.join(".docker").display().to_string())
            .var(
                "HELM_REGISTRY_CONFIG",
                &home.join("helm-registry.json").display().to_string(),
            )
            .var("PATH", &base_path);
        Machine {
            env,
            bin,
            base_path,
        }
    }

    /// A machine on the fake cluster's kubeconfig (the kubernetes source).
    fn on_cluster(fake: &FakeKube) -> Machine {
        let mut machine = Machine::new();
        machine.set("KUBECONFIG", &fake.kubeconfig().display().to_string());
        machine.set("KARGO_CREDS_SOURCE", "kubernetes");
        machine
    }

    /// Everything wired as `setup` would: git for HOST, docker and helm for REGISTRY, the
    /// helper on PATH, a private cache folder.
    fn healthy(fake: &FakeKube) -> Machine {
        let mut machine = Machine::on_cluster(fake);
        machine.wire_git(true, true);
        machine.wire_docker();
        machine.put_docker_helper_on_path();
        let cache = machine.cache_dir();
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
        machine
    }

    fn set(&mut self, name: &str, value: &str) {
        let env = std::mem::replace(&mut self.env, Env::empty());
        self.env = env.var(name, value);
    }

    fn home(&self) -> PathBuf {
        self.env.home.path().to_owned()
    }

    fn cache_dir(&self) -> PathBuf {
        self.home().join(".cache/kargo-creds")
    }

    fn git_config(&self, args: &[&str]) {
        let status = Command::new("git")
            .arg("config")
            .arg("--file")
            .arg(self.home().join("gitconfig"))
            .args(args)
            .status()
            .expect("git");
        assert!(status.success(), "git config {args:?}");
    }

    /// `credential.https://HOST.helper` (after an empty reset when `reset`) and, when
    /// `use_http_path`, `useHttpPath = true`.
    fn wire_git(&self, reset: bool, use_http_path: bool) {
        let section = format!("credential.https://{HOST}");
        if reset {
            self.git_config(&["--add", &format!("{section}.helper"), ""]);
        }
        self.git_config(&[
            "--add",
            &format!("{section}.helper"),
            &format!("{GIT_HELPER} --project {PROJECT}"),
        ]);
        if use_http_path {
            self.git_config(&[&format!("{section}.useHttpPath"), "true"]);
        }
    }

    fn wire_docker(&self) {
        let docker = self.home().join(".docker");
        std::fs::create_dir_all(&docker).unwrap();
        let config = json!({
            "auths": {"registry.example.com": {"auth": DOCKER_AUTH}},
            "credHelpers": {REGISTRY: "kargo", "gcr.io": "gcloud"},
        });
        std::fs::write(docker.join("config.json"), config.to_string()).unwrap();
        let helm = json!({"credHelpers": {REGISTRY: "kargo"}});
        std::fs::write(self.home().join("helm-registry.json"), helm.to_string()).unwrap();
    }

    fn put_docker_helper_on_path(&mut self) {
        std::os::unix::fs::symlink(DOCKER_HELPER, self.bin.join("docker-credential-kargo"))
            .unwrap_or_else(|error| {
                assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
            });
        let path = format!("{}:{}", self.bin.display(), self.base_path);
        self.set("PATH", &path);
    }

    /// `kargo-creds ARGS… doctor -o json`, bounded: the output and the checks.
    fn doctor(&self, args: &[&str]) -> (Output, Vec<Value>) {
        let output = self.run(args, "json");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "doctor -o json printed no JSON ({error}):\n{}\n{}",
                stdout(&output),
                stderr(&output)
            )
        });
        let checks = report["checks"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            report["ok"],
            checks.iter().all(|check| check["status"] != "fail"),
            "{report:#}"
        );
        (output, checks)
    }

    /// `kargo-creds ARGS… doctor -o FORMAT`, bounded, run from HOME (no repository's
    /// local git config), and checked for leaks.
    fn run(&self, args: &[&str], format: &str) -> Output {
        let mut command = self.env.command(CLI);
        command
            .args(args)
            .args(["doctor", "-o", format])
            .current_dir(self.home());
        let output = run_bounded(&mut command, b"", BOUND);
        for secret in [TOKEN, PASSWORD, DOCKER_AUTH]
            .iter()
            .chain(support::EXAMPLE_SECRETS)
        {
            for (stream, text) in [("stdout", stdout(&output)), ("stderr", stderr(&output))] {
                assert!(!text.contains(secret), "{stream} leaks {secret}:\n{text}");
            }
        }
        output
    }
}

fn start_fake(extra: &[&str]) -> FakeKube {
    let mut args = vec!["--token", TOKEN];
    args.extend_from_slice(extra);
    let fake = FakeKube::start(&args);
    let secret = secret_json(
        &[("kargo.akuity.io/cred-type", "git")],
        &[],
        &[
            ("repoURL", "https://github.com/example/repo"),
            ("username", "bot"),
            ("password", PASSWORD),
        ],
    );
    fake.seed(PROJECT, "repo", &secret);
    fake.seed(SHARED, "shared", &secret);
    fake
}

/// The checks named `name`.
fn named<'a>(checks: &'a [Value], name: &str) -> Vec<&'a Value> {
    checks
        .iter()
        .filter(|check| check["check"] == name)
        .collect()
}

/// The one check named `name`.
fn one<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    let found = named(checks, name);
    assert_eq!(found.len(), 1, "one {name} check expected: {checks:#?}");
    found[0]
}

fn found(check: &Value) -> &str {
    check["found"].as_str().unwrap_or_default()
}

fn fix(check: &Value) -> &str {
    check["fix"].as_str().unwrap_or_default()
}

#[test]
fn a_healthy_cluster_setup_is_all_ok() {
    let fake = start_fake(&[]);
    let machine = Machine::healthy(&fake);
    let project = ["--project", PROJECT];

    let (output, checks) = machine.doctor(&project);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{checks:#?}\n{}",
        stderr(&output)
    );
    for check in &checks {
        assert_eq!(check["status"], "ok", "{check:#}");
        assert!(check["fix"].is_null(), "{check:#}");
    }
    let names: Vec<&str> = checks.iter().filter_map(|c| c["check"].as_str()).collect();
    assert_eq!(
        names,
        [
            "source",
            "kubernetes",
            "namespace",
            "namespace",
            "cache",
            "git",
            "docker",
            "helm",
            "clock"
        ]
    );
    assert!(found(one(&checks, "source")).contains("KARGO_CREDS_SOURCE"));
    assert!(found(one(&checks, "kubernetes")).contains(&format!("127.0.0.1:{}", fake.port)));
    let namespaces = named(&checks, "namespace");
    assert!(found(namespaces[0]).contains(PROJECT));
    assert!(found(namespaces[1]).contains(SHARED));
    assert!(found(one(&checks, "docker")).contains(REGISTRY));
    assert!(found(one(&checks, "git")).contains(HOST));

    // Access was asked with SelfSubjectAccessReviews; no Secret was read.
    let requests = fake.requests();
    let reviews = requests
        .iter()
        .filter(|r| r["resource"] == "selfsubjectaccessreviews" && r["method"] == "POST")
        .count();
    assert_eq!(reviews, 2, "{requests:#?}");
    assert!(
        !requests.iter().any(|r| r["resource"] == "secrets"),
        "{requests:#?}"
    );

    // Text: the same checks, one line each, verdict first.
    let text = machine.run(&project, "text");
    assert_eq!(text.status.code(), Some(0));
    let lines: Vec<String> = stdout(&text).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), checks.len(), "{lines:#?}");
    for (line, check) in lines.iter().zip(&checks) {
        let words: Vec<&str> = line.split_whitespace().take(2).collect();
        assert_eq!(words, ["ok", check["check"].as_str().unwrap()], "{line}");
    }
}

#[test]
fn an_unreachable_api_server_fails_naming_it() {
    let fake = start_fake(&[]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut machine = Machine::healthy(&fake);
    let text = std::fs::read_to_string(fake.kubeconfig()).unwrap();
    let kubeconfig = machine.home().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        text.replace(
            &format!("127.0.0.1:{}", fake.port),
            &format!("127.0.0.1:{closed}"),
        ),
    )
    .unwrap();
    machine.set("KUBECONFIG", &kubeconfig.display().to_string());

    let (output, checks) = machine.doctor(&["--project", PROJECT]);
    assert_eq!(output.status.code(), Some(1));
    let kube = one(&checks, "kubernetes");
    assert_eq!(kube["status"], "fail", "{kube:#}");
    assert!(
        found(kube).contains(&format!("127.0.0.1:{closed}")),
        "{kube:#}"
    );
    assert!(found(kube).contains("unreachable"), "{kube:#}");
    assert!(fix(kube).contains("kubeconfig"), "{kube:#}");
    assert!(named(&checks, "namespace").is_empty(), "{checks:#?}");
    assert_eq!(one(&checks, "clock")["status"], "warn");
    // The rest is still checked.
    assert_eq!(one(&checks, "git")["status"], "ok");

    let text = machine.run(&["--project", PROJECT], "text");
    let line = stdout(&text)
        .lines()
        .find(|line| line.starts_with("fail"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        line.contains("kubernetes") && line.contains("; fix: "),
        "{line}"
    );
}

#[test]
fn an_unreadable_namespace_fails_with_the_rbac_fix() {
    let fake = start_fake(&["--forbid", PROJECT]);
    let machine = Machine::healthy(&fake);

    let (output, checks) = machine.doctor(&["--project", PROJECT]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(one(&checks, "kubernetes")["status"], "ok");
    let namespaces = named(&checks, "namespace");
    assert_eq!(namespaces.len(), 2);
    let denied = namespaces[0];
    assert_eq!(denied["status"], "fail", "{denied:#}");
    assert!(found(denied).contains(PROJECT), "{denied:#}");
    assert!(
        fix(denied).contains(&format!(
            "kubectl create role kargo-creds-reader -n {PROJECT} --verb=get,list --resource=secrets"
        )),
        "{denied:#}"
    );
    assert!(fix(denied).contains("rolebinding"), "{denied:#}");
    assert_eq!(namespaces[1]["status"], "ok", "{:#}", namespaces[1]);
    assert!(found(namespaces[1]).contains(SHARED));
}

#[test]
fn an_unsafe_cache_folder_is_a_warning_with_chmod() {
    let fake = start_fake(&[]);
    let machine = Machine::healthy(&fake);
    let cache = machine.cache_dir();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();

    let (output, checks) = machine.doctor(&["--project", PROJECT]);
    let check = one(&checks, "cache");
    assert_eq!(check["status"], "warn", "{check:#}");
    assert!(
        found(check).contains("writable by group or others"),
        "{check:#}"
    );
    assert_eq!(fix(check), format!("chmod 700 {}", cache.display()));
    // A warning is not a failure.
    assert_eq!(output.status.code(), Some(0), "{checks:#?}");

    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (_, checks) = machine.doctor(&["--project", PROJECT]);
    assert_eq!(one(&checks, "cache")["status"], "ok");
}

#[test]
fn clock_skew_against_the_api_server_date() {
    // Well inside each band, so that a second ticking over between the server's Date and
    // the local clock cannot change the verdict.
    for (skew, status, direction, code) in [
        ("10", "ok", "behind", 0),
        ("-10", "ok", "ahead of", 0),
        ("120", "warn", "behind", 0),
        ("-120", "warn", "ahead of", 0),
        ("600", "fail", "behind", 1),
    ] {
        let fake = start_fake(&["--date-skew-seconds", skew]);
        let machine = Machine::healthy(&fake);
        let (output, checks) = machine.doctor(&["--project", PROJECT]);
        let clock = one(&checks, "clock");
        assert_eq!(clock["status"], status, "skew {skew}: {clock:#}");
        assert!(found(clock).contains(direction), "skew {skew}: {clock:#}");
        assert!(found(clock).contains("API server"), "{clock:#}");
        assert_eq!(output.status.code(), Some(code), "skew {skew}: {checks:#?}");
        if status != "ok" {
            assert!(fix(clock).contains("ntp"), "{clock:#}");
        }
    }
}

#[test]
fn clock_skew_against_github_when_configured() {
    // Any HTTP server's Date will do: the fake API server stands in for GitHub's API.
    let github = FakeKube::start(&["--date-skew-seconds", "-150"]);
    let mut machine = Machine::new();
    machine.wire_git(true, true);
    let api = format!("http://127.0.0.1:{}", github.port);

    let (_, checks) = machine.doctor(&[]);
    let clock = one(&checks, "clock");
    assert_eq!(clock["status"], "ok");
    assert!(found(clock).contains("not compared"), "{clock:#}");

    machine.set("KARGO_CREDS_GITHUB_API_URL", &api);
    let (_, checks) = machine.doctor(&[]);
    let clock = one(&checks, "clock");
    assert_eq!(clock["status"], "warn", "{clock:#}");
    assert!(found(clock).contains("ahead of GitHub API"), "{clock:#}");
    assert!(found(clock).contains(&api), "{clock:#}");
}

#[test]
fn git_wired_and_not_wired() {
    let fake = start_fake(&[]);
    let machine = Machine::healthy(&fake);
    std::fs::remove_file(machine.home().join("gitconfig")).unwrap();
    let args = ["--project", PROJECT];

    // Not wired at all.
    let (_, checks) = machine.doctor(&args);
    let git = one(&checks, "git");
    assert_eq!(git["status"], "warn", "{git:#}");
    assert!(found(git).contains("not wired"), "{git:#}");
    assert!(
        fix(git).starts_with("kargo-creds setup git --host"),
        "{git:#}"
    );

    // Wired, but a global helper answers first (no empty reset) and no useHttpPath.
    machine.git_config(&["credential.helper", "store"]);
    machine.wire_git(false, false);
    let (_, checks) = machine.doctor(&args);
    let git = one(&checks, "git");
    assert_eq!(git["status"], "warn", "{git:#}");
    assert!(found(git).contains("store"), "{git:#}");
    assert!(found(git).contains("answers first"), "{git:#}");
    assert!(found(git).contains("useHttpPath"), "{git:#}");
    assert!(
        fix(git).contains(&format!("kargo-creds setup git --host {HOST}")),
        "{git:#}"
    );
    assert!(
        fix(git).contains(&format!("credential.https://{HOST}.useHttpPath true")),
        "{git:#}"
    );

    // As setup writes it: the reset, our helper, useHttpPath.
    std::fs::remove_file(machine.home().join("gitconfig")).unwrap();
    machine.git_config(&["credential.helper", "store"]);
    machine.wire_git(true, true);
    let (_, checks) = machine.doctor(&args);
    let git = one(&checks, "git");
    assert_eq!(git["status"], "ok", "{git:#}");
    assert!(found(git).contains(&format!("https://{HOST}")), "{git:#}");

    // A helper path that does not exist.
    std::fs::remove_file(machine.home().join("gitconfig")).unwrap();
    let section = format!("credential.https://{HOST}");
    machine.git_config(&["--add", &format!("{section}.helper"), ""]);
    machine.git_config(&[
        "--add",
        &format!("{section}.helper"),
        "/nonexistent/git-credential-kargo",
    ]);
    machine.git_config(&[&format!("{section}.useHttpPath"), "true"]);
    let (_, checks) = machine.doctor(&args);
    let git = one(&checks, "git");
    assert_eq!(git["status"], "warn", "{git:#}");
    assert!(found(git).contains("not installed"), "{git:#}");
}

#[test]
fn git_missing_is_a_warning() {
    let fake = start_fake(&[]);
    let mut machine = Machine::healthy(&fake);
    let empty = machine.home().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    machine.set("PATH", &empty.display().to_string());
    let (output, checks) = machine.doctor(&["--project", PROJECT]);
    let git = one(&checks, "git");
    assert_eq!(git["status"], "warn", "{git:#}");
    assert!(found(git).contains("git is not available"), "{git:#}");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn docker_wired_and_not_wired() {
    let fake = start_fake(&[]);
    let mut machine = Machine::on_cluster(&fake);
    machine.wire_git(true, true);
    let args = ["--project", PROJECT];
    let config = machine.home().join(".docker/config.json");

    // No config file.
    let (_, checks) = machine.doctor(&args);
    let docker = one(&checks, "docker");
    assert_eq!(docker["status"], "warn", "{docker:#}");
    assert!(found(docker).contains("not wired"), "{docker:#}");
    assert!(
        found(docker).contains(&config.display().to_string()),
        "{docker:#}"
    );
    assert!(
        fix(docker).starts_with("kargo-creds setup docker --registry"),
        "{docker:#}"
    );
    assert_eq!(one(&checks, "helm")["status"], "ok");

    // A config that sends nothing to kargo.
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        r#"{"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}}"#,
    )
    .unwrap();
    let (_, checks) = machine.doctor(&args);
    let docker = one(&checks, "docker");
    assert_eq!(docker["status"], "warn", "{docker:#}");
    assert!(found(docker).contains("desktop"), "{docker:#}");

    // Wired, but the helper is not on PATH.
    machine.wire_docker();
    let (_, checks) = machine.doctor(&args);
    for name in ["docker", "helm"] {
        let check = one(&checks, name);
        assert_eq!(check["status"], "warn", "{check:#}");
        assert!(found(check).contains("not on PATH"), "{check:#}");
    }

    // Wired and on PATH.
    machine.put_docker_helper_on_path();
    let (output, checks) = machine.doctor(&args);
    for name in ["docker", "helm"] {
        let check = one(&checks, name);
        assert_eq!(check["status"], "ok", "{check:#}");
        assert!(found(check).contains(REGISTRY), "{check:#}");
        assert!(!found(check).contains("gcr.io"), "{check:#}");
    }
    assert_eq!(output.status.code(), Some(0), "{checks:#?}");
}

#[test]
fn a_healthy_dir_source() {
    let mut machine = Machine::new();
    support::copy_private(&support::examples_dir(), &machine.env.secrets_dir());
    machine.wire_git(true, true);
    machine.wire_docker();
    machine.put_docker_helper_on_path();
    let args = ["--project", PROJECT];

    let (output, checks) = machine.doctor(&args);
    assert_eq!(output.status.code(), Some(0), "{checks:#?}");
    let names: BTreeSet<&str> = checks.iter().filter_map(|c| c["check"].as_str()).collect();
    assert!(
        !names.contains("kubernetes") && !names.contains("namespace"),
        "{names:?}"
    );
    let source = one(&checks, "source");
    assert!(found(source).starts_with("dir ("), "{source:#}");
    assert!(found(source).contains("exists"), "{source:#}");
    let secrets = one(&checks, "secrets");
    assert_eq!(secrets["status"], "ok", "{secrets:#}");
    assert!(found(secrets).contains("kargo-demo: 10"), "{secrets:#}");
    assert!(
        found(secrets).contains("kargo-shared-resources: 11"),
        "{secrets:#}"
    );
    for check in &checks {
        assert_eq!(check["status"], "ok", "{check:#}");
    }

    // A manifest others may read: a warning with the chmod.
    let exposed = machine.env.secrets_dir().join("kargo-demo/git.yaml");
    std::fs::set_permissions(&exposed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (output, checks) = machine.doctor(&args);
    let secrets = one(&checks, "secrets");
    assert_eq!(secrets["status"], "warn", "{secrets:#}");
    assert!(found(secrets).contains("git.yaml"), "{secrets:#}");
    assert!(fix(secrets).starts_with("chmod -R go-rwx"), "{secrets:#}");
    assert_eq!(output.status.code(), Some(0));

    // The dir source chosen explicitly, the folder missing: a failure.
    machine.set("KARGO_CREDS_SOURCE", "dir");
    machine.set(
        "KARGO_CREDS_SECRETS_DIR",
        &machine.home().join("no-such-folder").display().to_string(),
    );
    let (output, checks) = machine.doctor(&args);
    assert_eq!(one(&checks, "secrets")["status"], "fail");
    assert_eq!(output.status.code(), Some(1));
}
