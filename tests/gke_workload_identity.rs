//! GKE Workload Identity for Artifact Registry, against `tests/support/fake_gke.py` (a
//! metadata server that insists on `Metadata-Flavor: Google`, and an IAM Credentials API that
//! only honours tokens it issued and the accounts it was told to allow).

mod support;

use std::process::{Child, ChildStdin};

use support::{Env, DOCKER_HELPER};

const GCP_PROJECT: &str = "acme-gcp";
const ACCOUNT: &str = "kargo-project-kargo-demo@acme-gcp.iam.gserviceaccount.com";

struct FakeGke {
    child: Child,
    _stdin: ChildStdin,
    state: tempfile::TempDir,
    port: u16,
}

impl FakeGke {
    fn start(allow: &[&str]) -> FakeGke {
        let mut args = vec!["--project", GCP_PROJECT];
        for account in allow {
            args.extend(["--allow", account]);
        }
        let (child, stdin, state, port) = support::start_python_server("fake_gke.py", &args);
        FakeGke {
            child,
            _stdin: stdin,
            state,
            port,
        }
    }

    fn requests(&self, path_part: &str) -> usize {
        std::fs::read_to_string(self.state.path().join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(path_part))
            .count()
    }

    fn env(&self) -> Env {
        Env::empty()
            .var("KARGO_PROJECT", "kargo-demo")
            .var("GCE_METADATA_HOST", &format!("127.0.0.1:{}", self.port))
            .var(
                "KARGO_CREDS_GCP_IAM_CREDENTIALS_URL",
                &format!("http://127.0.0.1:{}", self.port),
            )
    }
}

impl Drop for FakeGke {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn docker_get(env: &Env, registry: &str) -> (i32, serde_json::Value, String) {
    let output = env.run(DOCKER_HELPER, &["get"], registry.as_bytes());
    let stdout = support::stdout(&output);
    let stderr = support::stderr(&output);
    for secret in ["own-", "impersonated-"] {
        assert!(
            !stderr.contains(secret),
            "a token reached stderr:\n{stderr}"
        );
    }
    let value = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code().unwrap_or(-1), value, stdout)
}

#[test]
fn the_projects_service_account_is_impersonated_and_cached() {
    let fake = FakeGke::start(&[ACCOUNT]);
    let env = fake.env();
    let (code, value, stdout) = docker_get(&env, "us-central1-docker.pkg.dev");
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(value["Username"], "oauth2accesstoken");
    let secret = value["Secret"].as_str().unwrap();
    assert!(
        secret.starts_with(&format!("impersonated-{ACCOUNT}-")),
        "{secret}"
    );
    // The second get comes from the token cache: one impersonation in all.
    let (code, again, _) = docker_get(&env, "https://us-central1-docker.pkg.dev/v2/");
    assert_eq!(code, 0);
    assert_eq!(again["Secret"], value["Secret"]);
    assert_eq!(fake.requests(":generateAccessToken"), 1);
    // GOOGLE_CLOUD_PROJECT unset: the project came from the metadata server.
    assert_eq!(fake.requests("project/project-id"), 1);
}

#[test]
fn a_denied_impersonation_falls_back_to_the_workloads_own_identity() {
    let fake = FakeGke::start(&[]);
    let (code, value, stdout) = docker_get(&fake.env(), "gcr.io");
    assert_eq!(code, 0, "{stdout}");
    assert!(
        value["Secret"].as_str().unwrap().starts_with("own-"),
        "{value}"
    );
    assert_eq!(fake.requests(":generateAccessToken"), 1);
}

#[test]
fn without_a_project_the_workloads_own_identity_serves() {
    let fake = FakeGke::start(&[ACCOUNT]);
    let env = Env::empty()
        .var("GCE_METADATA_HOST", &format!("127.0.0.1:{}", fake.port))
        .var(
            "KARGO_CREDS_GCP_IAM_CREDENTIALS_URL",
            &format!("http://127.0.0.1:{}", fake.port),
        );
    let (code, value, _) = docker_get(&env, "europe-docker.pkg.dev");
    assert_eq!(code, 0);
    assert!(
        value["Secret"].as_str().unwrap().starts_with("own-"),
        "{value}"
    );
    assert_eq!(fake.requests(":generateAccessToken"), 0);
}

#[test]
fn no_metadata_host_or_a_matching_secret_means_no_request() {
    let fake = FakeGke::start(&[ACCOUNT]);
    // Not GKE: nothing is probed.
    let plain = Env::empty().var("KARGO_PROJECT", "kargo-demo");
    let (code, _, stdout) = docker_get(&plain, "us-central1-docker.pkg.dev");
    assert_eq!(
        (code, stdout.trim()),
        (1, "credentials not found in native keychain")
    );
    // Not Google: nothing is asked.
    let (code, _, _) = docker_get(&fake.env(), "ghcr.io");
    assert_eq!(code, 1);
    // A Secret that matches wins over the ambient identity.
    let env = fake.env();
    env.write_manifest(
        "kargo-demo/gar.yaml",
        "kind: Secret\nmetadata: {name: gar, labels: {kargo.akuity.io/cred-type: image}}\nstringData: {repoURL: us-central1-docker.pkg.dev/p/r, username: _json_key_base64, password: static-pw}\n",
    );
    let (code, value, _) = docker_get(&env, "us-central1-docker.pkg.dev");
    assert_eq!(code, 0);
    assert_eq!(value["Secret"], "static-pw");
    assert_eq!(fake.requests("/"), 0, "no request reached the fake");
}
