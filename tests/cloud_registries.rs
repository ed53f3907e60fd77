//! Cloud registry tokens end to end (SPEC §6.3, §6.4, §7, §8.2; issue 5): ECR access keys
//! and GAR/GCR service-account keys through the real binaries (`docker-credential-kargo`,
//! `kargo-creds get|resolve|cache`).
//!
//! * ECR runs against moto (`moto[server]`). moto accepts any signature by default; a moto
//!   started with `INITIAL_NO_AUTH_ACTION_COUNT=3` verifies SigV4 after the three IAM calls
//!   that create the test's access key. moto's `expiresAt` is always 2015-01-01, so a correct
//!   cache never keeps its tokens; to test caching, a tiny proxy in this file sits between the
//!   helper and moto and rewrites `expiresAt` to now + 12 h (and records what the helper sent).
//! * GAR/GCR runs against `tests/support/fake_google.py`, which verifies the JWT-bearer
//!   assertion (RS256 with the key's public half, `kid`, `iss`, `aud` = its own URL, scope,
//!   lifetime) and records every grant.
//!
//! Every test has its own HOME, secrets folder, cache folder, keys and servers (on ports the
//! kernel picks), so the tests run in parallel. Every child process runs under a deadline;
//! every server dies with its guard. Every binary run is checked: its stderr never holds the
//! AWS secret key, the private key, the service-account key, nor any issued token/password.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};
use support::aws_proxy::{AwsProxy, ProxyRules};
use support::{assert_exit, describe};
use support::{run_bounded, Env, FakeGoogle, Moto, CLI, DOCKER_HELPER, MOTO_BOOTSTRAP_ACTIONS};

const SHARED: &str = "kargo-shared-resources";

const ECR_HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const ECR_IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app";
const ECR_SECRET: &str = "ecr";
const ECR_SECRET_ID: &str = "kargo-shared-resources/ecr";
const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
/// What moto's `expiresAt` (always 2015-01-01) reads as.
const MOTO_EXPIRY: &str = "2015-01-01T00:00:00Z";
/// Fixture AWS keys for the moto instances that accept any signature.
const ACCESS_KEY_ID: &str = "AKIAKARGOCREDSTEST01";
const SECRET_ACCESS_KEY: &str = "kargoCredsTestSecretAccessKey/0123456789+abcdef";

const GAR_HOST: &str = "us-central1-docker.pkg.dev";
const GAR_IMAGE: &str = "us-central1-docker.pkg.dev/kargo-test/images/app";
const GAR_SECRET: &str = "gar";
const GAR_SECRET_ID: &str = "kargo-shared-resources/gar";
const GAR_USERNAME: &str = "oauth2accesstoken";
const GCP_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";
const CLIENT_EMAIL: &str = "kargo-pull@kargo-test.iam.gserviceaccount.com";

const NOT_FOUND: &str = "credentials not found in native keychain";

/// Bound for one binary run.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Running things under a deadline
// ---------------------------------------------------------------------------------------

/// Runs `program args…` in `env` with `stdin` (bounded), and checks that nothing of
/// `secrets` reaches its stderr, and that it did not panic.
fn run(env: &Env, program: &str, args: &[&str], stdin: &str, secrets: &Secrets) -> Output {
    let output = run_bounded(
        env.command(program).args(args),
        stdin.as_bytes(),
        RUN_TIMEOUT,
    );
    secrets.assert_not_in_stderr(&output);
    output
}

fn assert_quiet(output: &Output) {
    assert!(
        output.stderr.is_empty(),
        "expected nothing on stderr:\n{}",
        describe(output)
    );
}

/// The documented error shape of `kargo-creds`: exit 1 and exactly one stderr line starting
/// with `kargo-creds: `, holding each of `needles`.
fn assert_cli_error(output: &Output, needles: &[&str]) {
    assert_exit(output, 1);
    let stderr = support::stderr(output);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one stderr line:\n{}",
        describe(output)
    );
    assert!(
        lines[0].starts_with("kargo-creds: "),
        "the error line does not start with `kargo-creds: `:\n{}",
        describe(output)
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "the error line lacks {needle:?}:\n{}",
            describe(output)
        );
    }
    assert!(
        output.stdout.is_empty(),
        "an error prints nothing on stdout:\n{}",
        describe(output)
    );
}

/// The docker protocol's error shape: exit 1 and exactly one line on stdout (the protocol's
/// convention) holding each of `needles`.
fn assert_docker_error(output: &Output, needles: &[&str]) {
    assert_exit(output, 1);
    let stdout = support::stdout(output);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one stdout line:\n{}",
        describe(output)
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "the error line lacks {needle:?}:\n{}",
            describe(output)
        );
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Unix seconds as RFC 3339 UTC (`2015-01-01T00:00:00Z`), as the binaries print them.
fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn parse_json(output: &Output) -> Value {
    serde_json::from_str(&support::stdout(output))
        .unwrap_or_else(|error| panic!("stdout is not JSON ({error}):\n{}", describe(output)))
}

// ---------------------------------------------------------------------------------------
// Secrets that must never reach stderr
// ---------------------------------------------------------------------------------------

/// Fixture secrets (key material: never printed, never cached) and the tokens/passwords
/// handed out during the test (never on stderr; the cache holds them, that is its job).
#[derive(Default, Clone)]
struct Secrets {
    keys: Arc<Mutex<Vec<String>>>,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl Secrets {
    fn push(list: &Mutex<Vec<String>>, secret: &str) {
        let secret = secret.trim();
        let mut list = list.lock().unwrap();
        if secret.len() >= 8 && !list.iter().any(|known| known == secret) {
            list.push(secret.to_owned());
        }
    }

    /// Key material.
    fn add(&self, secret: &str) {
        Secrets::push(&self.keys, secret);
    }

    /// A token or password handed out.
    fn add_token(&self, token: &str) {
        Secrets::push(&self.tokens, token);
    }

    /// A PEM key: the whole text and each of its base64 lines.
    fn add_pem(&self, pem: &str) {
        self.add(pem);
        for line in pem.lines().filter(|line| !line.starts_with("-----")) {
            self.add(line);
        }
    }

    fn keys(&self) -> Vec<String> {
        self.keys.lock().unwrap().clone()
    }

    fn list(&self) -> Vec<String> {
        let mut all = self.keys();
        all.extend(self.tokens.lock().unwrap().iter().cloned());
        all
    }

    fn assert_not_in(&self, what: &str, text: &str) {
        for secret in self.list() {
            assert!(
                !text.contains(&secret),
                "{what} leaks a secret value ({secret}):\n{text}"
            );
        }
    }

    fn assert_not_in_stderr(&self, output: &Output) {
        let stderr = support::stderr(output);
        let secrets = self.list();
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        support::assert_no_secrets_in_stderr(output, &secrets);
        assert!(
            !stderr.contains("panicked"),
            "a binary panicked:\n{}",
            describe(output)
        );
    }

    /// No file of the cache folder holds key material (tokens may be there: they are the
    /// cache), nor any secret in its name.
    fn assert_not_in_folder(&self, folder: &Path) {
        let Ok(entries) = fs::read_dir(folder) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            self.assert_not_in("a cache file name", &name);
            if path.is_file() {
                let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
                for key in self.keys() {
                    assert!(
                        !text.contains(&key),
                        "cache file {} holds key material ({key}):\n{text}",
                        path.display()
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Environments and Secrets
// ---------------------------------------------------------------------------------------

/// An isolated environment with an explicit cache folder.
fn environment() -> Env {
    let env = Env::empty();
    let cache = env.home.path().join("cache");
    env.var("KARGO_CREDS_CACHE_DIR", &cache.display().to_string())
}

fn cache_dir(env: &Env) -> PathBuf {
    env.home.path().join("cache")
}

/// Writes a Secret manifest (JSON, `stringData`) into the secrets folder.
fn write_secret(env: &Env, namespace: &str, name: &str, cred_type: &str, data: &[(&str, &str)]) {
    let string_data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(key, value)| ((*key).to_owned(), Value::from(*value)))
        .collect();
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kargo.akuity.io/cred-type": cred_type},
        },
        "type": "Opaque",
        "stringData": string_data,
    });
    env.write_manifest(
        &format!("{namespace}/{name}.json"),
        &serde_json::to_string_pretty(&manifest).unwrap(),
    );
}

fn write_ecr_secret(
    env: &Env,
    name: &str,
    cred_type: &str,
    repo_url: &str,
    region: &str,
    key: (&str, &str),
) {
    write_secret(
        env,
        SHARED,
        name,
        cred_type,
        &[
            ("repoURL", repo_url),
            ("awsRegion", region),
            ("awsAccessKeyID", key.0),
            ("awsSecretAccessKey", key.1),
        ],
    );
}

fn docker_get(env: &Env, server_url: &str, secrets: &Secrets) -> Output {
    run(
        env,
        DOCKER_HELPER,
        &["get"],
        &format!("{server_url}\n"),
        secrets,
    )
}

/// A successful docker `get`: exit 0, `{"ServerURL", "Username", "Secret"}` on stdout.
/// Returns the Secret (the password).
fn assert_docker_login(output: &Output, server_url: &str, username: &str) -> String {
    assert_exit(output, 0);
    let answer = parse_json(output);
    assert_eq!(answer["ServerURL"], server_url, "{}", describe(output));
    assert_eq!(answer["Username"], username, "{}", describe(output));
    let secret = answer["Secret"].as_str().unwrap_or_default().to_owned();
    assert!(!secret.is_empty(), "no Secret:\n{}", describe(output));
    secret
}

/// `kargo-creds cache list -o json`.
fn cache_entries(env: &Env, secrets: &Secrets) -> Vec<Value> {
    let output = run(env, CLI, &["cache", "list", "-o", "json"], "", secrets);
    assert_exit(&output, 0);
    assert_quiet(&output);
    secrets.assert_not_in("cache list", &support::stdout(&output));
    parse_json(&output).as_array().cloned().unwrap_or_default()
}

/// The password moto hands out, decoded from a direct call (dummy signature): `AWS:<password>`.
/// Waits until moto has logged the call, so that later counts of its log start from here.
fn moto_password(moto: &Moto) -> String {
    let before = moto.posts();
    let (status, body) = moto.call("ecr", ECR_TARGET, "{}");
    assert!(
        support::poll_until(Duration::from_secs(10), || moto.posts() > before),
        "moto did not log the call:\n{}",
        moto.log()
    );
    assert_eq!(status, 200, "moto GetAuthorizationToken: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let token = answer["authorizationData"][0]["authorizationToken"]
        .as_str()
        .unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    let (user, password) = decoded.split_once(':').unwrap();
    assert_eq!(user, "AWS");
    password.to_owned()
}

fn ecr_secrets() -> Secrets {
    let secrets = Secrets::default();
    secrets.add(SECRET_ACCESS_KEY);
    secrets
}

// ---------------------------------------------------------------------------------------
// ECR
// ---------------------------------------------------------------------------------------

/// The docker helper signs `GetAuthorizationToken`, decodes `AWS:<password>` and hands out
/// AWS + the password; moto's token is already expired (2015), so it is handed out uncached
/// with a warning, and every `get` asks moto again.
#[test]
fn ecr_docker_helper_returns_the_decoded_password_and_never_caches_an_expired_token() {
    let moto = Moto::start(None);
    let env = environment().var("AWS_ENDPOINT_URL", &moto.url());
    write_ecr_secret(
        &env,
        ECR_SECRET,
        "image",
        ECR_IMAGE,
        "us-east-1",
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY),
    );
    let secrets = ecr_secrets();
    // Moto's password is a fixed string for the account; scanning for it needs it known.
    let expected = moto_password(&moto);
    secrets.add_token(&expected);
    let calls_before = moto.posts();

    for round in 1..=2 {
        let output = docker_get(&env, ECR_HOST, &secrets);
        let password = assert_docker_login(&output, ECR_HOST, "AWS");
        assert_eq!(password, expected, "round {round}: {}", describe(&output));
        let stderr = support::stderr(&output);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "round {round}: one warning:\n{stderr}");
        for needle in [
            "docker-credential-kargo: warning:",
            "already expired",
            "uncached",
            ECR_SECRET_ID,
            MOTO_EXPIRY,
        ] {
            assert!(
                lines[0].contains(needle),
                "round {round}: the warning lacks {needle:?}:\n{stderr}"
            );
        }
        assert!(
            support::poll_until(Duration::from_secs(10), || moto.posts()
                == calls_before + round),
            "round {round}: moto saw {} calls, expected {}:\n{}",
            moto.posts() - calls_before,
            round,
            moto.log()
        );
    }
    assert!(
        cache_entries(&env, &secrets).is_empty(),
        "an expired token was cached"
    );
    secrets.assert_not_in_folder(&cache_dir(&env));
}

/// Through the proxy (expiresAt = now + 12 h): the first `get` mints, later ones — docker
/// helper in any server-URL form, `kargo-creds get` — come from the cache (one call to
/// moto); `resolve --explain` and `cache list` show the entry; docker `erase` evicts it.
/// Also: `AWS_ENDPOINT_URL_ECR` wins over `AWS_ENDPOINT_URL`, and the request is a SigV4-
/// signed JSON 1.1 POST to `{endpoint}/`.
#[test]
fn ecr_tokens_are_cached_until_expires_at_and_minted_once() {
    let moto = Moto::start(None);
    let expires_at = unix_now() + 12 * 3600;
    let proxy = AwsProxy::start(
        moto.port,
        ProxyRules {
            expires_at: Some(expires_at as f64 + 0.25),
            ..ProxyRules::default()
        },
    );
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let env = environment()
        .var("AWS_ENDPOINT_URL_ECR", &proxy.url())
        .var("AWS_ENDPOINT_URL", &closed);
    write_ecr_secret(
        &env,
        ECR_SECRET,
        "image",
        ECR_IMAGE,
        "us-east-1",
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY),
    );
    let secrets = ecr_secrets();
    let expected = moto_password(&moto);
    secrets.add_token(&expected);
    let calls_before = moto.posts();

    // Not cached yet.
    let output = run(
        &env,
        CLI,
        &["resolve", ECR_IMAGE, "--explain"],
        "",
        &secrets,
    );
    assert_exit(&output, 0);
    let explain = support::stdout(&output);
    secrets.assert_not_in("resolve --explain", &explain);
    assert!(explain.contains("ecrAccessKey"), "{explain}");
    assert!(explain.contains(ECR_SECRET_ID), "{explain}");
    assert!(explain.contains("not cached"), "{explain}");
    assert_eq!(proxy.token_calls(), 0, "resolve must not mint");

    // First get: minted through the proxy, nothing on stderr (not expired, no warning).
    let output = docker_get(&env, ECR_HOST, &secrets);
    assert_eq!(
        assert_docker_login(&output, ECR_HOST, "AWS"),
        expected,
        "{}",
        describe(&output)
    );
    assert_quiet(&output);
    assert_eq!(proxy.token_calls(), 1);

    // What the helper sent.
    let requests = proxy.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(request.header("x-amz-target"), Some(ECR_TARGET));
    assert_eq!(request.body, b"{}");
    let authorization = request.header("authorization").unwrap_or_default();
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/"))
            && authorization.contains("/us-east-1/ecr/aws4_request")
            && authorization.contains("SignedHeaders=")
            && authorization.contains("Signature="),
        "not a SigV4 authorization for ecr in us-east-1: {authorization}"
    );
    assert!(
        request.header("x-amz-date").is_some(),
        "no x-amz-date: {request:?}"
    );
    assert!(
        !authorization.contains(SECRET_ACCESS_KEY),
        "the secret key travels in the request"
    );

    // Later gets, any server-URL form: from the cache.
    for server_url in [
        ECR_HOST,
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/",
    ] {
        let output = docker_get(&env, server_url, &secrets);
        assert_eq!(
            assert_docker_login(&output, server_url, "AWS"),
            expected,
            "{}",
            describe(&output)
        );
        assert_quiet(&output);
    }
    let output = run(&env, CLI, &["get", ECR_IMAGE, "-o", "json"], "", &secrets);
    assert_exit(&output, 0);
    assert_quiet(&output);
    assert_eq!(
        parse_json(&output),
        json!({
            "username": "AWS",
            "password": expected,
            "expires_at": rfc3339(expires_at),
            "secret": ECR_SECRET_ID,
            "provider": "ecrAccessKey",
        })
    );
    assert_eq!(proxy.token_calls(), 1, "served from the cache: one call");
    assert_eq!(moto.posts(), calls_before + 1, "moto saw one call");

    // The cache: one entry, the right expiry, no secret key anywhere.
    let entries = cache_entries(&env, &secrets);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["provider"], "ecrAccessKey");
    assert_eq!(entries[0]["secret"], ECR_SECRET_ID);
    assert_eq!(entries[0]["scope"], ECR_HOST);
    assert_eq!(entries[0]["expires_at"], expires_at);
    secrets.assert_not_in_folder(&cache_dir(&env));
    let output = run(
        &env,
        CLI,
        &["resolve", ECR_IMAGE, "--explain"],
        "",
        &secrets,
    );
    let explain = support::stdout(&output);
    assert!(
        explain.contains(&format!("cached until {}", rfc3339(expires_at))),
        "{explain}"
    );
    let output = run(
        &env,
        CLI,
        &["resolve", ECR_IMAGE, "-o", "json"],
        "",
        &secrets,
    );
    let resolved = parse_json(&output);
    assert_eq!(resolved["provider"], "ecrAccessKey");
    assert_eq!(resolved["secret"], ECR_SECRET_ID);
    assert_eq!(resolved["token_cached_until"], rfc3339(expires_at));

    // docker erase evicts: the next get mints afresh.
    let output = run(&env, DOCKER_HELPER, &["erase"], ECR_HOST, &secrets);
    assert_exit(&output, 0);
    assert!(cache_entries(&env, &secrets).is_empty());
    let output = docker_get(&env, ECR_HOST, &secrets);
    assert_docker_login(&output, ECR_HOST, "AWS");
    assert_eq!(proxy.token_calls(), 2, "minted again after erase");
}

/// `kargo-creds get` for an ECR image (moto's already-expired token: handed out with its
/// expiry and the warning), a helm `oci://` chart on ECR, the `.amazonaws.com.cn` partition;
/// and the docker helper finds the helm Secret of an OCI registry too.
#[test]
fn ecr_kargo_creds_get_for_images_helm_oci_and_the_china_partition() {
    let moto = Moto::start(None);
    let env = environment().var("AWS_ENDPOINT_URL", &moto.url());
    let helm_host = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";
    let helm_chart = "oci://210987654321.dkr.ecr.eu-west-1.amazonaws.com/charts/app";
    let china_host = "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn";
    let china_image = "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/app";
    let key = (ACCESS_KEY_ID, SECRET_ACCESS_KEY);
    write_ecr_secret(&env, ECR_SECRET, "image", ECR_IMAGE, "us-east-1", key);
    write_ecr_secret(&env, "ecr-charts", "helm", helm_chart, "eu-west-1", key);
    write_ecr_secret(&env, "ecr-china", "image", china_image, "cn-north-1", key);
    let secrets = ecr_secrets();
    let expected = moto_password(&moto);
    secrets.add_token(&expected);

    let get_json = |args: &[&str], secret_id: &str| {
        let output = run(&env, CLI, args, "", &secrets);
        assert_exit(&output, 0);
        let value = parse_json(&output);
        assert_eq!(value["username"], "AWS", "{}", describe(&output));
        assert!(
            value["password"].as_str().is_some_and(|p| !p.is_empty()),
            "{}",
            describe(&output)
        );
        assert_eq!(value["expires_at"], MOTO_EXPIRY, "{}", describe(&output));
        assert_eq!(value["secret"], secret_id, "{}", describe(&output));
        assert_eq!(value["provider"], "ecrAccessKey", "{}", describe(&output));
        let stderr = support::stderr(&output);
        assert!(
            stderr.contains("already expired") && stderr.contains(secret_id),
            "{}",
            describe(&output)
        );
        value["password"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        get_json(&["get", ECR_IMAGE, "-o", "json"], ECR_SECRET_ID),
        expected
    );
    assert_eq!(
        get_json(&["get", ECR_IMAGE], ECR_SECRET_ID),
        expected,
        "json is the default output"
    );
    get_json(
        &["get", helm_chart, "--type", "helm", "-o", "json"],
        "kargo-shared-resources/ecr-charts",
    );
    get_json(
        &["get", china_image, "-o", "json"],
        "kargo-shared-resources/ecr-china",
    );

    // `-o password` / `-o username` for `helm registry login --password-stdin`.
    let output = run(
        &env,
        CLI,
        &["get", ECR_IMAGE, "-o", "username"],
        "",
        &secrets,
    );
    assert_exit(&output, 0);
    assert_eq!(support::stdout(&output), "AWS\n");

    // The docker helper: the helm (oci) Secret and the China partition.
    for host in [helm_host, china_host] {
        let output = docker_get(&env, host, &secrets);
        assert_docker_login(&output, host, "AWS");
    }
}

/// moto verifying SigV4 (after the three IAM calls that create the key): the helper's
/// signature with the right secret is accepted.
#[test]
fn ecr_signature_is_accepted_by_moto_checking_sigv4() {
    let moto = Moto::start(Some(MOTO_BOOTSTRAP_ACTIONS));
    let (key_id, secret_key) = moto.create_access_key();
    let env = environment().var("AWS_ENDPOINT_URL", &moto.url());
    write_ecr_secret(
        &env,
        ECR_SECRET,
        "image",
        ECR_IMAGE,
        "us-east-1",
        (&key_id, &secret_key),
    );
    let secrets = Secrets::default();
    secrets.add(&secret_key);

    let output = docker_get(&env, ECR_HOST, &secrets);
    let password = assert_docker_login(&output, ECR_HOST, "AWS");
    secrets.add_token(&password);
    secrets.assert_not_in_stderr(&output);
    assert!(
        moto.log().contains("\"POST / HTTP/1.1\" 200"),
        "{}",
        moto.log()
    );

    let output = run(&env, CLI, &["get", ECR_IMAGE, "-o", "json"], "", &secrets);
    assert_exit(&output, 0);
    assert_eq!(parse_json(&output)["password"], password.as_str());
}

/// moto verifying SigV4: a wrong secret key (403 `SignatureDoesNotMatch`) and an unknown
/// access key (403 `InvalidClientTokenId`) are one-line errors naming the Secret, the
/// endpoint and the AWS error code; exit 1; the secret key never printed.
#[test]
fn ecr_rejected_keys_are_one_line_errors_with_the_aws_error_code() {
    let moto = Moto::start(Some(MOTO_BOOTSTRAP_ACTIONS));
    let (key_id, secret_key) = moto.create_access_key();
    let env = environment().var("AWS_ENDPOINT_URL", &moto.url());
    let wrong_secret = "wrongSecretKeyForKargoCredsTests/0000000000000";
    let unknown_key = "AKIAUNKNOWNKARGO0000";
    write_ecr_secret(
        &env,
        ECR_SECRET,
        "image",
        ECR_IMAGE,
        "us-east-1",
        (&key_id, wrong_secret),
    );
    let unknown_image = "123456789012.dkr.ecr.us-west-2.amazonaws.com/team/app";
    write_ecr_secret(
        &env,
        "ecr-unknown",
        "image",
        unknown_image,
        "us-west-2",
        (unknown_key, wrong_secret),
    );
    let secrets = Secrets::default();
    secrets.add(&secret_key);
    secrets.add(wrong_secret);
    let endpoint = format!("{}/", moto.url());

    for (image, host, secret_id, code) in [
        (ECR_IMAGE, ECR_HOST, ECR_SECRET_ID, "SignatureDoesNotMatch"),
        (
            unknown_image,
            "123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "kargo-shared-resources/ecr-unknown",
            "InvalidClientTokenId",
        ),
    ] {
        let before = moto.log().matches("\" 403 ").count();
        let output = run(&env, CLI, &["get", image, "-o", "json"], "", &secrets);
        assert!(
            support::poll_until(Duration::from_secs(10), || moto
                .log()
                .matches("\" 403 ")
                .count()
                > before),
            "moto did not answer 403:\n{}",
            moto.log()
        );
        secrets.assert_not_in("stdout", &support::stdout(&output));
        assert_cli_error(&output, &[secret_id, &endpoint, "403", code]);

        let output = docker_get(&env, host, &secrets);
        secrets.assert_not_in("stdout", &support::stdout(&output));
        assert_docker_error(&output, &[secret_id, &endpoint, "403", code]);
    }
    assert!(cache_entries(&env, &secrets).is_empty());
}

/// An ECR host in a made-up region, no endpoint override: the public endpoint cannot be
/// reached (no such host), a one-line error naming the Secret and the endpoint, within the
/// request timeout. The same with an endpoint override on a closed local port.
#[test]
fn ecr_unreachable_endpoints_are_prompt_one_line_errors() {
    let region = "xx-nowhere-9";
    let host = format!("123456789012.dkr.ecr.{region}.amazonaws.com");
    let image = format!("{host}/team/app");
    let env = environment()
        .var("KARGO_CREDS_REQUEST_TIMEOUT", "2")
        .var("KARGO_CREDS_CONNECT_TIMEOUT", "1");
    write_ecr_secret(
        &env,
        ECR_SECRET,
        "image",
        &image,
        region,
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY),
    );
    let secrets = ecr_secrets();
    let public = format!("https://api.ecr.{region}.amazonaws.com/");
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let env_closed = environment()
        .var("KARGO_CREDS_REQUEST_TIMEOUT", "2")
        .var("KARGO_CREDS_CONNECT_TIMEOUT", "1")
        .var("AWS_ENDPOINT_URL", &closed);
    write_ecr_secret(
        &env_closed,
        ECR_SECRET,
        "image",
        &image,
        region,
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY),
    );
    let closed_endpoint = format!("{closed}/");

    for (env, endpoint) in [(&env, public.as_str()), (&env_closed, &closed_endpoint)] {
        let started = Instant::now();
        let output = run(env, CLI, &["get", &image, "-o", "json"], "", &secrets);
        let elapsed = started.elapsed();
        assert_cli_error(&output, &[ECR_SECRET_ID, endpoint, "GetAuthorizationToken"]);
        assert!(
            elapsed < Duration::from_secs(8),
            "took {elapsed:?} with a 2 s request timeout:\n{}",
            describe(&output)
        );

        let started = Instant::now();
        let output = docker_get(env, &host, &secrets);
        let elapsed = started.elapsed();
        assert_docker_error(&output, &[ECR_SECRET_ID, endpoint]);
        assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
        secrets.assert_not_in("stdout", &support::stdout(&output));
    }
}

// ---------------------------------------------------------------------------------------
// GAR / GCR
// ---------------------------------------------------------------------------------------

/// A service-account key: an RSA key pair from `openssl genrsa` and the key JSON around it.
struct ServiceAccountKey {
    _dir: tempfile::TempDir,
    pem_path: PathBuf,
    pem: String,
    key_id: String,
}

impl ServiceAccountKey {
    fn generate() -> ServiceAccountKey {
        let dir = tempfile::tempdir().unwrap();
        let pem_path = dir.path().join("sa.pem");
        let output = run_bounded(
            Command::new("openssl").args(["genrsa", "-out", pem_path.to_str().unwrap(), "2048"]),
            b"",
            Duration::from_secs(60),
        );
        assert!(
            output.status.success(),
            "openssl genrsa: {}",
            describe(&output)
        );
        let pem = fs::read_to_string(&pem_path).unwrap();
        // 40 hex digits, unique per key (Google's key IDs look like this).
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let key_id = format!(
            "{:024x}{:08x}{:08x}",
            nanos & ((1u128 << 96) - 1),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        ServiceAccountKey {
            _dir: dir,
            pem_path,
            pem,
            key_id,
        }
    }

    /// The key JSON as Google's console downloads it.
    fn json(&self, token_uri: &str) -> String {
        serde_json::to_string_pretty(&json!({
            "type": "service_account",
            "project_id": "kargo-test",
            "private_key_id": self.key_id,
            "private_key": self.pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "109876543210987654321",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }))
        .unwrap()
    }

    /// The Secret's `gcpServiceAccountKey`: base64 of the key JSON.
    fn secret_value(&self, token_uri: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.json(token_uri))
    }

    /// Everything about the key that must never reach stderr.
    fn add_to(&self, secrets: &Secrets, token_uri: &str) {
        secrets.add_pem(&self.pem);
        let value = self.secret_value(token_uri);
        secrets.add(&value);
        // Any long run of the base64 value (a message quoting part of it).
        for chunk in value.as_bytes().chunks(64) {
            secrets.add(std::str::from_utf8(chunk).unwrap());
        }
    }

    fn fake(&self, extra: &[&str]) -> FakeGoogle {
        let mut args = vec![
            "--public-key",
            self.pem_path.to_str().unwrap(),
            "--key-id",
            &self.key_id,
            "--client-email",
            CLIENT_EMAIL,
        ];
        args.extend_from_slice(extra);
        FakeGoogle::start(&args)
    }
}

fn write_gar_secret(
    env: &Env,
    namespace: &str,
    name: &str,
    cred_type: &str,
    repo_url: &str,
    key: &str,
) {
    write_secret(
        env,
        namespace,
        name,
        cred_type,
        &[("repoURL", repo_url), ("gcpServiceAccountKey", key)],
    );
}

/// The fake's grants, each checked against what the assertion must say.
fn checked_grants(fake: &FakeGoogle, key: &ServiceAccountKey) -> Vec<Value> {
    let grants = fake.grants();
    for grant in &grants {
        assert_eq!(grant["kid"], key.key_id.as_str(), "{grant}");
        assert_eq!(grant["iss"], CLIENT_EMAIL, "{grant}");
        assert_eq!(grant["aud"], fake.token_uri().as_str(), "{grant}");
        assert_eq!(grant["scope"], GCP_SCOPE, "{grant}");
        let lifetime = grant["exp"].as_i64().unwrap() - grant["iat"].as_i64().unwrap();
        assert!((1..=3600).contains(&lifetime), "{grant}");
    }
    grants
}

/// Adds the fake's tokens to the secrets to scan for.
fn learn_tokens(fake: &FakeGoogle, secrets: &Secrets) {
    for token in fake.tokens() {
        secrets.add_token(&token);
    }
}

/// `us-central1-docker.pkg.dev`: the docker helper signs the JWT-bearer assertion the fake
/// verifies and hands out `oauth2accesstoken` + the token; the second `get` (any server-URL
/// form) and `kargo-creds get` come from the cache: one grant. The cache entry carries the
/// project (the Secret is in the project namespace) and never the key.
#[test]
fn gar_docker_helper_mints_a_verified_grant_once_and_serves_it_from_the_cache() {
    let key = ServiceAccountKey::generate();
    let fake = key.fake(&[]);
    let env = environment().var("KARGO_PROJECT", "team-a");
    let value = key.secret_value(&fake.token_uri());
    write_gar_secret(&env, "team-a", GAR_SECRET, "image", GAR_IMAGE, &value);
    let secret_id = "team-a/gar";
    let secrets = Secrets::default();
    key.add_to(&secrets, &fake.token_uri());

    let output = run(
        &env,
        CLI,
        &["resolve", GAR_IMAGE, "--explain"],
        "",
        &secrets,
    );
    assert_exit(&output, 0);
    let explain = support::stdout(&output);
    secrets.assert_not_in("resolve --explain", &explain);
    assert!(explain.contains("garServiceAccountKey"), "{explain}");
    assert!(explain.contains(secret_id), "{explain}");
    assert!(explain.contains("not cached"), "{explain}");
    assert!(fake.requests().is_empty(), "resolve must not mint");

    let output = docker_get(&env, GAR_HOST, &secrets);
    let token = assert_docker_login(&output, GAR_HOST, GAR_USERNAME);
    learn_tokens(&fake, &secrets);
    secrets.assert_not_in_stderr(&output);
    assert_quiet(&output);
    let grants = checked_grants(&fake, &key);
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert_eq!(grants[0]["access_token"], token.as_str());
    let iat = grants[0]["iat"].as_i64().unwrap();
    assert!((iat - unix_now()).abs() < 120, "iat {iat} is not now");
    assert_eq!(grants[0]["exp"].as_i64().unwrap() - iat, 3600);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        requests[0]["content_type"].as_str().unwrap_or_default(),
        "application/x-www-form-urlencoded"
    );

    for server_url in [
        GAR_HOST,
        "https://us-central1-docker.pkg.dev",
        "https://us-central1-docker.pkg.dev/v2/",
    ] {
        let output = docker_get(&env, server_url, &secrets);
        assert_eq!(
            assert_docker_login(&output, server_url, GAR_USERNAME),
            token
        );
        assert_quiet(&output);
    }
    let output = run(&env, CLI, &["get", GAR_IMAGE, "-o", "json"], "", &secrets);
    assert_exit(&output, 0);
    assert_quiet(&output);
    assert_eq!(
        parse_json(&output),
        json!({
            "username": GAR_USERNAME,
            "password": token,
            "expires_at": rfc3339(iat + 3599),
            "secret": secret_id,
            "provider": "garServiceAccountKey",
        })
    );
    assert_eq!(fake.grants().len(), 1, "one grant: the rest from the cache");

    let entries = cache_entries(&env, &secrets);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["provider"], "garServiceAccountKey");
    assert_eq!(entries[0]["secret"], secret_id);
    assert_eq!(entries[0]["scope"], GAR_HOST);
    assert_eq!(entries[0]["project"], "team-a");
    assert_eq!(entries[0]["expires_at"], iat + 3599);
    secrets.assert_not_in_folder(&cache_dir(&env));
    let output = run(
        &env,
        CLI,
        &["resolve", GAR_IMAGE, "--explain"],
        "",
        &secrets,
    );
    let explain = support::stdout(&output);
    assert!(
        explain.contains(&format!("cached until {}", rfc3339(iat + 3599))),
        "{explain}"
    );
    secrets.assert_not_in("resolve --explain", &explain);
}

/// Container Registry (`gcr.io`, `eu.gcr.io`) and a helm chart on Artifact Registry
/// (`oci://…-docker.pkg.dev`): each registry its own token (its own cache entry).
#[test]
fn gar_gcr_io_regional_gcr_and_helm_oci() {
    let key = ServiceAccountKey::generate();
    let fake = key.fake(&[]);
    let env = environment();
    let value = key.secret_value(&fake.token_uri());
    write_gar_secret(
        &env,
        SHARED,
        "gcr",
        "image",
        "gcr.io/kargo-test/app",
        &value,
    );
    write_gar_secret(
        &env,
        SHARED,
        "gcr-eu",
        "image",
        "eu.gcr.io/kargo-test/app",
        &value,
    );
    let chart = "oci://europe-docker.pkg.dev/kargo-test/charts/app";
    write_gar_secret(&env, SHARED, "gar-charts", "helm", chart, &value);
    let secrets = Secrets::default();
    key.add_to(&secrets, &fake.token_uri());

    let output = docker_get(&env, "gcr.io", &secrets);
    let gcr_token = assert_docker_login(&output, "gcr.io", GAR_USERNAME);
    learn_tokens(&fake, &secrets);
    secrets.assert_not_in_stderr(&output);
    assert_eq!(fake.grants().len(), 1);

    let output = run(
        &env,
        CLI,
        &["get", "gcr.io/kargo-test/app", "-o", "json"],
        "",
        &secrets,
    );
    assert_exit(&output, 0);
    let value = parse_json(&output);
    assert_eq!(value["username"], GAR_USERNAME);
    assert_eq!(value["password"], gcr_token.as_str(), "from the cache");
    assert_eq!(value["secret"], "kargo-shared-resources/gcr");
    assert_eq!(value["provider"], "garServiceAccountKey");
    assert!(value["expires_at"].is_string(), "{value}");
    assert_eq!(fake.grants().len(), 1);

    let output = docker_get(&env, "https://eu.gcr.io", &secrets);
    let eu_token = assert_docker_login(&output, "https://eu.gcr.io", GAR_USERNAME);
    learn_tokens(&fake, &secrets);
    secrets.assert_not_in_stderr(&output);
    assert_ne!(eu_token, gcr_token, "another registry, another token");
    assert_eq!(fake.grants().len(), 2);

    let output = run(
        &env,
        CLI,
        &["get", chart, "--type", "helm", "-o", "json"],
        "",
        &secrets,
    );
    learn_tokens(&fake, &secrets);
    secrets.assert_not_in_stderr(&output);
    assert_exit(&output, 0);
    let value = parse_json(&output);
    assert_eq!(value["username"], GAR_USERNAME);
    assert_eq!(value["secret"], "kargo-shared-resources/gar-charts");
    assert_eq!(fake.grants().len(), 3);
    let output = docker_get(&env, "europe-docker.pkg.dev", &secrets);
    assert_eq!(
        assert_docker_login(&output, "europe-docker.pkg.dev", GAR_USERNAME),
        value["password"].as_str().unwrap(),
        "the docker helper finds the helm oci Secret, from the cache"
    );
    assert_eq!(checked_grants(&fake, &key).len(), 3);

    let mut scopes: Vec<String> = cache_entries(&env, &secrets)
        .iter()
        .map(|entry| entry["scope"].as_str().unwrap().to_owned())
        .collect();
    scopes.sort();
    assert_eq!(scopes, ["eu.gcr.io", "europe-docker.pkg.dev", "gcr.io"]);
    secrets.assert_not_in_folder(&cache_dir(&env));
}

/// The expiry margin: a token that lives less than the margin is handed out but not cached
/// (no warning: it is not expired); one that arrives already expired is handed out with the
/// warning. Both mint on every `get`.
#[test]
fn gar_tokens_inside_the_margin_or_already_expired_are_not_cached() {
    let key = ServiceAccountKey::generate();
    let fake = key.fake(&[]);
    let secrets = Secrets::default();
    key.add_to(&secrets, &fake.token_uri());
    let env = environment().var("KARGO_CREDS_EXPIRY_MARGIN", "4000");
    write_gar_secret(
        &env,
        SHARED,
        GAR_SECRET,
        "image",
        GAR_IMAGE,
        &key.secret_value(&fake.token_uri()),
    );
    for round in 1..=2 {
        let output = docker_get(&env, GAR_HOST, &secrets);
        assert_docker_login(&output, GAR_HOST, GAR_USERNAME);
        learn_tokens(&fake, &secrets);
        secrets.assert_not_in_stderr(&output);
        assert_quiet(&output);
        assert_eq!(fake.grants().len(), round, "minted every time");
    }
    assert!(cache_entries(&env, &secrets).is_empty());

    let expired = key.fake(&["--expires-in", "-30"]);
    key.add_to(&secrets, &expired.token_uri());
    let env = environment();
    write_gar_secret(
        &env,
        SHARED,
        GAR_SECRET,
        "image",
        GAR_IMAGE,
        &key.secret_value(&expired.token_uri()),
    );
    for round in 1..=2 {
        let output = docker_get(&env, GAR_HOST, &secrets);
        assert_docker_login(&output, GAR_HOST, GAR_USERNAME);
        learn_tokens(&expired, &secrets);
        secrets.assert_not_in_stderr(&output);
        let stderr = support::stderr(&output);
        assert!(
            stderr.contains("already expired")
                && stderr.contains("uncached")
                && stderr.contains(GAR_SECRET_ID),
            "{}",
            describe(&output)
        );
        assert_eq!(stderr.lines().count(), 1, "{}", describe(&output));
        assert_eq!(expired.grants().len(), round);
    }
    assert!(cache_entries(&env, &secrets).is_empty());
}

/// A `gcpServiceAccountKey` that is the key JSON itself (not base64), or base64 of something
/// that is not a key: a one-line error naming the Secret, without any network call.
#[test]
fn gar_a_key_that_is_not_base64_json_is_a_one_line_error_naming_the_secret() {
    let key = ServiceAccountKey::generate();
    let fake = key.fake(&[]);
    let secrets = Secrets::default();
    key.add_to(&secrets, &fake.token_uri());
    let raw_json = key.json(&fake.token_uri());
    let not_json = base64::engine::general_purpose::STANDARD.encode("this is not a key at all");

    for (value, needle) in [
        (raw_json.as_str(), "base64"),
        (not_json.as_str(), "gcpServiceAccountKey"),
    ] {
        let env = environment();
        write_gar_secret(&env, SHARED, GAR_SECRET, "image", GAR_IMAGE, value);
        let output = run(&env, CLI, &["get", GAR_IMAGE, "-o", "json"], "", &secrets);
        assert_cli_error(&output, &[GAR_SECRET_ID, needle]);
        let output = docker_get(&env, GAR_HOST, &secrets);
        assert_docker_error(&output, &[GAR_SECRET_ID, needle]);
        secrets.assert_not_in("stdout", &support::stdout(&output));
        let output = run(
            &env,
            CLI,
            &["resolve", GAR_IMAGE, "--explain"],
            "",
            &secrets,
        );
        secrets.assert_not_in("resolve stdout", &support::stdout(&output));
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

/// A key whose `token_uri` points elsewhere: a closed port, a wrong path (404), another
/// host name for the endpoint (the fake rejects the `aud`), a non-https URL (refused before
/// any request); and a key the endpoint does not know (bad signature). Each a one-line
/// error naming the Secret and the endpoint (and the endpoint's reason).
#[test]
fn gar_a_key_with_a_wrong_token_uri_or_an_unknown_key_is_a_clear_error() {
    let key = ServiceAccountKey::generate();
    let fake = key.fake(&[]);
    let secrets = Secrets::default();
    let closed = format!("http://127.0.0.1:{}/token", support::free_port());
    let wrong_path = format!("http://127.0.0.1:{}/oauth2/v4/token", fake.port);
    let other_name = format!("http://localhost:{}/token", fake.port);
    let not_https = "http://oauth2.example.com/token".to_owned();
    let cases: Vec<(String, Vec<String>)> = vec![
        (closed.clone(), vec![closed.clone(), "connect".into()]),
        (wrong_path.clone(), vec![wrong_path.clone(), "404".into()]),
        (
            other_name.clone(),
            vec![
                other_name.clone(),
                "400".into(),
                "invalid_grant".into(),
                "aud".into(),
            ],
        ),
        (not_https.clone(), vec![not_https.clone(), "https".into()]),
    ];
    for (token_uri, needles) in &cases {
        key.add_to(&secrets, token_uri);
        let env = environment();
        write_gar_secret(
            &env,
            SHARED,
            GAR_SECRET,
            "image",
            GAR_IMAGE,
            &key.secret_value(token_uri),
        );
        let mut needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        needles.push(GAR_SECRET_ID);
        let output = run(&env, CLI, &["get", GAR_IMAGE, "-o", "json"], "", &secrets);
        assert_cli_error(&output, &needles);
        let output = docker_get(&env, GAR_HOST, &secrets);
        assert_docker_error(&output, &needles);
        secrets.assert_not_in("stdout", &support::stdout(&output));
        assert!(cache_entries(&env, &secrets).is_empty());
    }
    assert!(fake.grants().is_empty(), "{:?}", fake.grants());

    // Another key (same id and email) the endpoint does not know: the signature fails.
    let stranger = ServiceAccountKey::generate();
    let stranger = ServiceAccountKey {
        key_id: key.key_id.clone(),
        ..stranger
    };
    stranger.add_to(&secrets, &fake.token_uri());
    let env = environment();
    write_gar_secret(
        &env,
        SHARED,
        GAR_SECRET,
        "image",
        GAR_IMAGE,
        &stranger.secret_value(&fake.token_uri()),
    );
    let token_uri = fake.token_uri();
    let needles = [
        GAR_SECRET_ID,
        token_uri.as_str(),
        "400",
        "invalid_grant",
        "Signature",
    ];
    let output = run(&env, CLI, &["get", GAR_IMAGE, "-o", "json"], "", &secrets);
    assert_cli_error(&output, &needles);
    let output = docker_get(&env, GAR_HOST, &secrets);
    assert_docker_error(&output, &needles);
    assert!(fake.grants().is_empty(), "{:?}", fake.grants());
    assert!(
        fake.requests()
            .iter()
            .all(|request| request["status"] != 200),
        "{:?}",
        fake.requests()
    );
}

/// A `gcpServiceAccountKey` Secret for a registry that is not Google's (by host: a path or a
/// look-alike name does not count): no credentials, a warning naming the Secret, no grant.
#[test]
fn gar_a_key_for_a_non_google_registry_gets_no_credentials() {
    let key = ServiceAccountKey::generate();
    let fake = key.fake(&[]);
    let secrets = Secrets::default();
    key.add_to(&secrets, &fake.token_uri());
    let env = environment();
    let value = key.secret_value(&fake.token_uri());
    for (name, repo_url) in [
        ("plain", "registry.example.com/team/app"),
        ("look-alike", "gcr.io.example.com/team/app"),
        ("path", "registry.example.net/us-docker.pkg.dev/team/app"),
    ] {
        write_gar_secret(&env, SHARED, name, "image", repo_url, &value);
    }
    for (name, host, image) in [
        (
            "plain",
            "registry.example.com",
            "registry.example.com/team/app",
        ),
        (
            "look-alike",
            "gcr.io.example.com",
            "gcr.io.example.com/team/app",
        ),
        (
            "path",
            "registry.example.net",
            "registry.example.net/us-docker.pkg.dev/team/app",
        ),
    ] {
        let secret_id = format!("{SHARED}/{name}");
        let output = docker_get(&env, host, &secrets);
        assert_exit(&output, 1);
        assert_eq!(
            support::stdout(&output).trim(),
            NOT_FOUND,
            "{}",
            describe(&output)
        );
        let stderr = support::stderr(&output);
        assert!(
            stderr.contains(&secret_id) && stderr.contains("gcpServiceAccountKey"),
            "a warning names the Secret and what it holds:\n{}",
            describe(&output)
        );
        let output = run(&env, CLI, &["get", image, "-o", "json"], "", &secrets);
        assert_exit(&output, 1);
        assert!(output.stdout.is_empty(), "{}", describe(&output));
        assert!(
            support::stderr(&output).contains("no credentials"),
            "{}",
            describe(&output)
        );
    }
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

// ---------------------------------------------------------------------------------------
// docker list
// ---------------------------------------------------------------------------------------

/// `docker-credential-kargo list` shows the registries with exact Secrets (SPEC §8.2, README
/// "Wiring docker"): ECR and GAR Secrets included, with the username their tokens go with
/// (`AWS`, `oauth2accesstoken`), and nothing is minted.
#[test]
fn docker_list_names_ecr_and_gar_registries_without_minting() {
    let key = ServiceAccountKey::generate();
    let fake = key.fake(&[]);
    let closed = format!("http://127.0.0.1:{}", support::free_port());
    let env = environment().var("AWS_ENDPOINT_URL", &closed);
    let secrets = ecr_secrets();
    key.add_to(&secrets, &fake.token_uri());
    write_ecr_secret(
        &env,
        ECR_SECRET,
        "image",
        ECR_IMAGE,
        "us-east-1",
        (ACCESS_KEY_ID, SECRET_ACCESS_KEY),
    );
    write_gar_secret(
        &env,
        SHARED,
        GAR_SECRET,
        "image",
        GAR_IMAGE,
        &key.secret_value(&fake.token_uri()),
    );
    write_secret(
        &env,
        SHARED,
        "static",
        "image",
        &[
            ("repoURL", "registry.example.com/team/app"),
            ("username", "robot"),
            ("password", "static-registry-password"),
        ],
    );
    secrets.add_token("static-registry-password");
    let output = run(&env, DOCKER_HELPER, &["list"], "", &secrets);
    assert_exit(&output, 0);
    secrets.assert_not_in("list", &support::stdout(&output));
    assert_eq!(
        parse_json(&output),
        json!({
            ECR_HOST: "AWS",
            GAR_HOST: GAR_USERNAME,
            "registry.example.com": "robot",
        })
    );
    assert!(fake.requests().is_empty(), "list must not mint");
}

/// How the failing token endpoint below misbehaves.
#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    Close,
    Hang,
    Status500,
    TooManyRequests,
}

/// A token endpoint on 127.0.0.1 that misbehaves on every request; counts them.
fn misbehaving_token_endpoint(how: Misbehaviour) -> (String, Arc<AtomicU32>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/token",
        listener.local_addr().unwrap().port()
    );
    let requests = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buffer = [0u8; 4096];
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = stream.read(&mut buffer);
                let body = r#"{"error":"temporarily_unavailable","error_description":"try later"}"#;
                let answer = |status: &str, extra: &str| {
                    format!(
                        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                match how {
                    Misbehaviour::Close => {}
                    Misbehaviour::Hang => std::thread::sleep(Duration::from_secs(20)),
                    Misbehaviour::Status500 => {
                        let _ =
                            stream.write_all(answer("500 Internal Server Error", "").as_bytes());
                    }
                    Misbehaviour::TooManyRequests => {
                        let _ = stream.write_all(
                            answer("429 Too Many Requests", "Retry-After: 30\r\n").as_bytes(),
                        );
                    }
                }
            });
        }
    });
    (url, requests)
}

/// A token endpoint that closes the connection, hangs past the request timeout, answers 500
/// or 429: each a one-line error naming the Secret and the endpoint, bounded, nothing cached,
/// no key material anywhere.
#[test]
fn gar_a_failing_token_endpoint_is_a_bounded_one_line_error_naming_it() {
    let key = ServiceAccountKey::generate();
    for (how, needle) in [
        (Misbehaviour::Close, "request failed"),
        (Misbehaviour::Hang, "no answer in time"),
        (Misbehaviour::Status500, "500"),
        (Misbehaviour::TooManyRequests, "429"),
    ] {
        let (token_uri, requests) = misbehaving_token_endpoint(how);
        let secrets = Secrets::default();
        key.add_to(&secrets, &token_uri);
        let env = environment().var("KARGO_CREDS_REQUEST_TIMEOUT", "1");
        write_gar_secret(
            &env,
            SHARED,
            GAR_SECRET,
            "image",
            GAR_IMAGE,
            &key.secret_value(&token_uri),
        );
        let output = docker_get(&env, GAR_HOST, &secrets);
        assert_docker_error(&output, &[&token_uri, GAR_SECRET_ID, needle]);
        secrets.assert_not_in("stdout", &support::stdout(&output));
        assert!(cache_entries(&env, &secrets).is_empty(), "{how:?}");
        assert_eq!(requests.load(Ordering::SeqCst), 1, "{how:?}");
    }
}
