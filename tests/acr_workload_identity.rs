//! Azure Workload Identity → ACR end to end (SPEC §6.5): the ambient provider through the
//! real binaries (`docker-credential-kargo`, `kargo-creds get|resolve|cache`), against
//! `tests/support/fake_azure.py` (the Entra token endpoint and the ACR token exchange on one
//! port). The fake checks every form field exactly (client id, grant type, assertion type,
//! the assertion = the federated token file's content, the scope; then grant type, service,
//! tenant and an access token it issued) and records every request without secret values.
//!
//! Every test has its own HOME, empty secrets folder, cache folder, federated token file
//! and fake (on a port the kernel picks), so the tests run in parallel. Every child process
//! runs under a deadline; every fake dies with its guard. Every binary run is checked: its
//! stderr never holds the federated token (the assertion), an Entra access token or an ACR
//! refresh token.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use support::{assert_exit, describe};
use support::{run_bounded, Env, FakeAzure, CLI, DOCKER_HELPER};

const SHARED: &str = "kargo-shared-resources";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID: &str = "5f2c0e7a-1b7e-4a43-9d3e-acr0client001";
const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";
const REGISTRY: &str = "myregistry.azurecr.io";
const IMAGE: &str = "myregistry.azurecr.io/team/app";
const NOT_FOUND: &str = "credentials not found in native keychain";
/// Bound for one binary run.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// One test's world: the environment, the federated token and the fake.
struct World {
    env: Env,
    fake: FakeAzure,
    /// The federated token (the client assertion): a secret.
    assertion: String,
    token_file: PathBuf,
}

impl World {
    /// An isolated environment (empty secrets folder, own cache folder) with Azure Workload
    /// Identity configured against a fresh fake.
    fn new() -> World {
        let env = Env::empty();
        let cache = env.home.path().join("cache");
        let token_file = env.home.path().join("azure-identity-token");
        let assertion = format!(
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a2FyZ28ifQ.fedSig{}",
            std::process::id()
        );
        std::fs::write(&token_file, &assertion).unwrap();
        let fake = FakeAzure::start(TENANT, CLIENT_ID, &token_file);
        let env = env
            .var("KARGO_CREDS_CACHE_DIR", &cache.display().to_string())
            .var("AZURE_CLIENT_ID", CLIENT_ID)
            .var("AZURE_TENANT_ID", TENANT)
            .var(
                "AZURE_FEDERATED_TOKEN_FILE",
                &token_file.display().to_string(),
            )
            .var("AZURE_AUTHORITY_HOST", &fake.authority_host())
            .var("KARGO_CREDS_ACR_ENDPOINT", &fake.acr_endpoint());
        World {
            env,
            fake,
            assertion,
            token_file,
        }
    }

    /// Every secret value that must never reach stderr.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.assertion.clone()];
        secrets.extend(self.fake.access_tokens());
        secrets.extend(self.fake.refresh_tokens());
        secrets
    }

    /// Runs `program args…` (bounded) and checks that no secret reached stderr and nothing
    /// panicked.
    fn run(&self, program: &str, args: &[&str], stdin: &str) -> Output {
        let output = run_bounded(
            command(&self.env, program).args(args),
            stdin.as_bytes(),
            RUN_TIMEOUT,
        );
        self.assert_not_in("stderr", &support::stderr(&output));
        assert!(
            !support::stderr(&output).contains("panicked"),
            "a binary panicked:\n{}",
            describe(&output)
        );
        output
    }

    fn docker_get(&self, server_url: &str) -> Output {
        self.run(DOCKER_HELPER, &["get"], &format!("{server_url}\n"))
    }

    fn assert_not_in(&self, what: &str, text: &str) {
        for secret in self.secrets() {
            assert!(
                !text.contains(&secret),
                "{what} leaks a secret value ({secret}):\n{text}"
            );
        }
    }

    /// Fails unless the fake has seen no request at all.
    fn assert_no_request(&self, why: &str) {
        let requests = self.fake.requests();
        assert!(
            requests.is_empty(),
            "{why}: no request may reach Azure, yet:\n{requests:#?}"
        );
    }

    fn write_secret(&self, name: &str, cred_type: &str, data: &[(&str, &str)]) {
        let string_data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(key, value)| ((*key).to_owned(), Value::from(*value)))
            .collect();
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": SHARED,
                "labels": {"kargo.akuity.io/cred-type": cred_type},
            },
            "type": "Opaque",
            "stringData": string_data,
        });
        self.env.write_manifest(
            &format!("{SHARED}/{name}.json"),
            &serde_json::to_string_pretty(&manifest).unwrap(),
        );
    }

    /// `kargo-creds cache list -o json`.
    fn cache_entries(&self) -> Vec<Value> {
        let output = self.run(CLI, &["cache", "list", "-o", "json"], "");
        assert_exit(&output, 0);
        self.assert_not_in("cache list", &support::stdout(&output));
        parse_json(&output).as_array().cloned().unwrap_or_default()
    }
}

/// A command for `program` in `env`, without the caller's cloud, endpoint or proxy
/// variables (unless the test set them in `env`).
fn command(env: &Env, program: &str) -> Command {
    let mut command = env.command(program);
    for (name, _) in std::env::vars() {
        let upper = name.to_ascii_uppercase();
        let ambient = [
            "AWS_",
            "GOOGLE_",
            "GCE_",
            "AZURE_",
            "CLOUDSDK_",
            "IDENTITY_",
        ]
        .iter()
        .any(|prefix| upper.starts_with(prefix))
            || upper.ends_with("_PROXY")
            || upper == "SSL_CERT_FILE";
        if ambient && !env.vars.iter().any(|(set, _)| *set == name) {
            command.env_remove(&name);
        }
    }
    command
}

fn parse_json(output: &Output) -> Value {
    serde_json::from_str(&support::stdout(output))
        .unwrap_or_else(|error| panic!("stdout is not JSON ({error}):\n{}", describe(output)))
}

/// The docker protocol's error shape: exit 1 and exactly one line on stdout holding each of
/// `needles`.
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

fn assert_docker_not_found(output: &Output, why: &str) {
    assert_exit(output, 1);
    assert_eq!(
        support::stdout(output).trim(),
        NOT_FOUND,
        "{why}:\n{}",
        describe(output)
    );
}

/// A successful docker `get` for the ACR username; returns the Secret.
fn assert_acr_login(output: &Output, server_url: &str) -> String {
    assert_exit(output, 0);
    let answer = parse_json(output);
    assert_eq!(answer["ServerURL"], server_url, "{}", describe(output));
    assert_eq!(answer["Username"], ACR_USERNAME, "{}", describe(output));
    let secret = answer["Secret"].as_str().unwrap_or_default().to_owned();
    assert!(!secret.is_empty(), "no Secret:\n{}", describe(output));
    secret
}

/// The fake saw exactly one good token request and one good exchange for `registry`.
fn assert_one_mint(world: &World, registry: &str) {
    let tokens = world.fake.requests_to("token");
    let exchanges = world.fake.requests_to("exchange");
    assert_eq!(tokens.len(), 1, "token requests: {tokens:#?}");
    assert_eq!(exchanges.len(), 1, "exchanges: {exchanges:#?}");
    let token = &tokens[0];
    assert_eq!(token["status"], 200, "{token:#}");
    assert_eq!(token["path"], format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(token["client_id"], CLIENT_ID);
    assert_eq!(token["grant_type"], "client_credentials");
    assert_eq!(
        token["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert_eq!(token["assertion_ok"], true);
    assert_eq!(
        token["scope"],
        "https://containerregistry.azure.net/.default"
    );
    let exchange = &exchanges[0];
    assert_eq!(exchange["status"], 200, "{exchange:#}");
    assert_eq!(exchange["path"], "/oauth2/exchange");
    assert_eq!(exchange["grant_type"], "access_token");
    assert_eq!(exchange["service"], registry);
    assert_eq!(exchange["tenant"], TENANT);
    assert_eq!(exchange["token_index"], token["issued_index"]);
}

// ---------------------------------------------------------------------------------------
// 1. docker-credential-kargo: mint, then the cache
// ---------------------------------------------------------------------------------------

#[test]
fn docker_get_mints_an_acr_refresh_token_once_and_then_serves_it_from_the_cache() {
    let world = World::new();
    let output = world.docker_get(REGISTRY);
    let secret = assert_acr_login(&output, REGISTRY);
    assert_eq!(
        parse_json(&output),
        json!({"ServerURL": REGISTRY, "Username": ACR_USERNAME, "Secret": secret}),
        "{}",
        describe(&output)
    );
    assert_eq!(
        world.fake.refresh_tokens(),
        vec![secret.clone()],
        "the Secret is the refresh token the exchange issued"
    );
    assert_one_mint(&world, REGISTRY);

    // Again: from the cache, nothing reaches the fake.
    let again = world.docker_get(REGISTRY);
    assert_eq!(assert_acr_login(&again, REGISTRY), secret);
    // Other spellings of the same registry share that cache entry.
    for server_url in ["https://myregistry.azurecr.io", "MyRegistry.AzureCR.io"] {
        let output = world.docker_get(server_url);
        assert_eq!(assert_acr_login(&output, server_url), secret);
    }
    assert_one_mint(&world, REGISTRY);

    // The cache entry: provider, "ambient", scope; expiry = the refresh token's exp.
    let entries = world.cache_entries();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let entry = &entries[0];
    assert_eq!(entry["provider"], "acrWorkloadIdentity", "{entry:#}");
    assert_eq!(entry["secret"], "ambient", "{entry:#}");
    assert_eq!(entry["scope"], REGISTRY, "{entry:#}");
    let exp = world.fake.requests_to("exchange")[0]["exp"]
        .as_i64()
        .unwrap();
    assert_eq!(
        entry["expires_at"].as_i64(),
        Some(exp),
        "cached until the refresh token's exp: {entry:#}"
    );

    // The text listing says the same.
    let text = world.run(CLI, &["cache", "list"], "");
    assert_exit(&text, 0);
    let stdout = support::stdout(&text);
    world.assert_not_in("cache list", &stdout);
    let row = stdout
        .lines()
        .find(|line| line.starts_with("acrWorkloadIdentity\t"))
        .unwrap_or_else(|| panic!("no acrWorkloadIdentity row:\n{}", describe(&text)));
    let columns: Vec<&str> = row.split('\t').collect();
    assert_eq!(columns[1], "ambient", "{row}");
    assert_eq!(columns[3], REGISTRY, "{row}");

    // No cache file holds the federated token or the Entra access token.
    for entry in std::fs::read_dir(world.env.home.path().join("cache")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            assert!(!text.contains(&world.assertion), "{}", path.display());
            for token in world.fake.access_tokens() {
                assert!(!text.contains(&token), "{}", path.display());
            }
        }
    }
}

#[test]
fn docker_get_sends_the_registry_host_as_the_exchange_service_for_each_registry() {
    let world = World::new();
    let first = assert_acr_login(
        &world.docker_get("https://acme-prod-01.azurecr.io"),
        "https://acme-prod-01.azurecr.io",
    );
    let second = assert_acr_login(&world.docker_get(REGISTRY), REGISTRY);
    assert_ne!(first, second, "each registry has its own refresh token");
    let services: Vec<Value> = world
        .fake
        .requests_to("exchange")
        .iter()
        .map(|request| request["service"].clone())
        .collect();
    assert_eq!(
        services,
        vec![json!("acme-prod-01.azurecr.io"), json!(REGISTRY)]
    );
    let mut scopes: Vec<String> = world
        .cache_entries()
        .iter()
        .map(|entry| entry["scope"].as_str().unwrap_or_default().to_owned())
        .collect();
    scopes.sort();
    assert_eq!(scopes, vec!["acme-prod-01.azurecr.io", REGISTRY]);
}

// ---------------------------------------------------------------------------------------
// 2. kargo-creds get / resolve --explain
// ---------------------------------------------------------------------------------------

#[test]
fn cli_get_json_says_no_secret_and_the_acr_provider_and_resolve_explains_the_ambient_identity() {
    let world = World::new();
    let output = world.run(CLI, &["get", IMAGE, "-o", "json"], "");
    assert_exit(&output, 0);
    let answer = parse_json(&output);
    let refresh = world.fake.refresh_tokens();
    assert_eq!(refresh.len(), 1, "{}", describe(&output));
    assert_eq!(answer["username"], ACR_USERNAME, "{answer:#}");
    assert_eq!(answer["password"], refresh[0].as_str(), "{answer:#}");
    assert_eq!(answer["secret"], Value::Null, "{answer:#}");
    assert!(
        answer.as_object().unwrap().contains_key("secret"),
        "`secret` is present (null): {answer:#}"
    );
    assert_eq!(answer["provider"], "acrWorkloadIdentity", "{answer:#}");
    let expires_at = answer["expires_at"].as_str().unwrap_or_default();
    assert!(!expires_at.is_empty(), "an expiry: {answer:#}");
    assert_one_mint(&world, REGISTRY);

    // -o password: the same token, from the cache.
    let password = world.run(CLI, &["get", IMAGE, "-o", "password"], "");
    assert_exit(&password, 0);
    assert_eq!(support::stdout(&password).trim(), refresh[0]);
    assert_one_mint(&world, REGISTRY);

    // resolve --explain: the ambient identity, client, tenant and exchange URL; no mint and
    // no token value.
    let exchange_url = format!("{}/oauth2/exchange", world.fake.acr_endpoint());
    for args in [
        vec!["resolve", IMAGE, "--explain"],
        vec!["resolve", REGISTRY, "--registry", "--explain"],
    ] {
        let explain = world.run(CLI, &args, "");
        assert_exit(&explain, 0);
        let stdout = support::stdout(&explain);
        world.assert_not_in("resolve --explain", &stdout);
        for needle in [
            "the machine's own identity",
            "acrWorkloadIdentity",
            "Azure Workload Identity",
            CLIENT_ID,
            TENANT,
            exchange_url.as_str(),
        ] {
            assert!(
                stdout.contains(needle),
                "`{}` lacks {needle:?}:\n{}",
                args.join(" "),
                describe(&explain)
            );
        }
    }
    // Plain resolve: the one-line summary.
    let resolve = world.run(CLI, &["resolve", IMAGE], "");
    assert_exit(&resolve, 0);
    let stdout = support::stdout(&resolve);
    world.assert_not_in("resolve", &stdout);
    assert!(
        stdout.contains("no matching Secret") && stdout.contains("the machine's own identity"),
        "{}",
        describe(&resolve)
    );
    assert_one_mint(&world, REGISTRY);
}

#[test]
fn cli_get_mints_for_helm_oci_charts_but_not_for_git_urls_on_an_acr_host() {
    let world = World::new();
    let helm = world.run(
        CLI,
        &[
            "get",
            "oci://myregistry.azurecr.io/charts/app",
            "--type",
            "helm",
            "-o",
            "json",
        ],
        "",
    );
    assert_exit(&helm, 0);
    let answer = parse_json(&helm);
    assert_eq!(answer["provider"], "acrWorkloadIdentity", "{answer:#}");
    assert_eq!(answer["username"], ACR_USERNAME, "{answer:#}");
    assert_one_mint(&world, REGISTRY);

    let git = world.run(
        CLI,
        &[
            "get",
            "https://myregistry.azurecr.io/team/repo.git",
            "--type",
            "git",
            "-o",
            "json",
        ],
        "",
    );
    assert_exit(&git, 1);
    assert!(support::stdout(&git).is_empty(), "{}", describe(&git));
    assert_one_mint(&world, REGISTRY);
}

// ---------------------------------------------------------------------------------------
// 3. Only when no Secret matched
// ---------------------------------------------------------------------------------------

#[test]
fn a_matching_image_secret_with_a_password_wins_over_the_ambient_identity() {
    let world = World::new();
    world.write_secret(
        "acr-pull",
        "image",
        &[
            ("repoURL", IMAGE),
            ("username", "acr-pull-user"),
            ("password", "acr-static-password-0001"),
        ],
    );
    let output = world.docker_get(REGISTRY);
    assert_exit(&output, 0);
    assert_eq!(
        parse_json(&output),
        json!({"ServerURL": REGISTRY, "Username": "acr-pull-user", "Secret": "acr-static-password-0001"}),
        "{}",
        describe(&output)
    );
    let cli = world.run(CLI, &["get", IMAGE, "-o", "json"], "");
    assert_exit(&cli, 0);
    let answer = parse_json(&cli);
    assert_eq!(answer["secret"], format!("{SHARED}/acr-pull"), "{answer:#}");
    assert_eq!(answer["provider"], "basic", "{answer:#}");
    assert_eq!(answer["password"], "acr-static-password-0001", "{answer:#}");
    world.assert_no_request("a Secret matched");
}

#[test]
fn a_matching_secret_with_nothing_usable_gives_no_credentials_and_no_ambient_fallback() {
    let world = World::new();
    world.write_secret("acr-empty", "image", &[("repoURL", IMAGE)]);
    let output = world.docker_get(REGISTRY);
    assert_docker_not_found(&output, "a matching Secret with only repoURL");
    let cli = world.run(CLI, &["get", IMAGE, "-o", "json"], "");
    assert_exit(&cli, 1);
    assert!(support::stdout(&cli).is_empty(), "{}", describe(&cli));
    assert!(
        support::stderr(&cli).contains("acr-empty"),
        "the error names the Secret that matched:\n{}",
        describe(&cli)
    );
    world.assert_no_request("a Secret matched (with nothing usable)");
    assert!(world.cache_entries().is_empty());
}

// ---------------------------------------------------------------------------------------
// 4. Not ACR, or not configured
// ---------------------------------------------------------------------------------------

#[test]
fn hosts_that_are_not_azurecr_io_get_no_ambient_credentials() {
    let world = World::new();
    for host in [
        "acmeprod.azurecr.cn",
        "ghcr.io",
        "azurecr.io",
        "myregistry.azurecr.io.evil.example",
    ] {
        assert_docker_not_found(&world.docker_get(host), host);
    }
    let cli = world.run(
        CLI,
        &["get", "acmeprod.azurecr.cn/team/app", "-o", "json"],
        "",
    );
    assert_exit(&cli, 1);
    assert!(support::stdout(&cli).is_empty(), "{}", describe(&cli));
    world.assert_no_request("not an azurecr.io host");
}

#[test]
fn an_acr_host_without_a_complete_azure_workload_identity_gets_nothing() {
    let world = World::new();
    let complete = world.env.vars.clone();
    for unset in [
        &[
            "AZURE_CLIENT_ID",
            "AZURE_TENANT_ID",
            "AZURE_FEDERATED_TOKEN_FILE",
        ][..],
        &["AZURE_CLIENT_ID"][..],
        &["AZURE_TENANT_ID"][..],
        &["AZURE_FEDERATED_TOKEN_FILE"][..],
    ] {
        // Unset, then set but empty (which counts as unset too).
        for empty in [false, true] {
            let mut env = Env {
                home: tempfile::tempdir().unwrap(),
                vars: complete.clone(),
            };
            env.vars.retain(|(name, _)| !unset.contains(&name.as_str()));
            if empty {
                env = env.var(unset[0], "");
            }
            let output = run_bounded(
                command(&env, DOCKER_HELPER).arg("get"),
                format!("{REGISTRY}\n").as_bytes(),
                RUN_TIMEOUT,
            );
            world.assert_not_in("stderr", &support::stderr(&output));
            assert_docker_not_found(&output, &format!("without {unset:?} (empty: {empty})"));
        }
    }
    world.assert_no_request("no complete Azure Workload Identity");
}

// ---------------------------------------------------------------------------------------
// 5. Failures
// ---------------------------------------------------------------------------------------

#[test]
fn a_failing_token_endpoint_is_a_one_line_docker_error_naming_the_token_url() {
    let world = World::new();
    world.fake.control(&json!({"token_status": 500}));
    let output = world.docker_get(REGISTRY);
    let token_url = format!("{}{TENANT}/oauth2/v2.0/token", world.fake.authority_host());
    assert_docker_error(&output, &[&token_url, "500"]);
    world.assert_not_in("the docker error", &support::stdout(&output));
    assert_eq!(world.fake.requests_to("token").len(), 1);
    assert!(world.fake.requests_to("exchange").is_empty());
    assert!(world.cache_entries().is_empty(), "a failure is not cached");

    // kargo-creds: one stderr line naming it too.
    let cli = world.run(CLI, &["get", IMAGE, "-o", "json"], "");
    assert_exit(&cli, 1);
    assert!(support::stdout(&cli).is_empty(), "{}", describe(&cli));
    assert!(
        support::stderr(&cli).contains(&token_url),
        "{}",
        describe(&cli)
    );

    // Once Entra answers again (and the failure the token cache remembers for a few
    // seconds is forgotten), the next get mints.
    world.fake.control(&json!({}));
    assert_exit(&world.run(CLI, &["cache", "clear"], ""), 0);
    assert_acr_login(&world.docker_get(REGISTRY), REGISTRY);
}

#[test]
fn a_refused_assertion_is_an_error_naming_the_token_url_and_the_entra_error() {
    let world = World::new();
    // The client reads another federated token file than the one the fake trusts.
    let other = world.env.home.path().join("other-token");
    std::fs::write(&other, "eyJotherFederatedToken.payload.sig").unwrap();
    let env = Env {
        home: tempfile::tempdir().unwrap(),
        vars: world.env.vars.clone(),
    }
    .var("AZURE_FEDERATED_TOKEN_FILE", &other.display().to_string());
    let output = run_bounded(
        command(&env, DOCKER_HELPER).arg("get"),
        format!("{REGISTRY}\n").as_bytes(),
        RUN_TIMEOUT,
    );
    let token_url = format!("{}{TENANT}/oauth2/v2.0/token", world.fake.authority_host());
    assert_docker_error(&output, &[&token_url, "400", "invalid_client"]);
    let stdout = support::stdout(&output);
    assert!(!stdout.contains("eyJotherFederatedToken"), "{stdout}");
    world.assert_not_in("the docker error", &stdout);
    world.assert_not_in("stderr", &support::stderr(&output));
    let tokens = world.fake.requests_to("token");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["assertion_ok"], false);
    assert!(world.fake.requests_to("exchange").is_empty());
}

#[test]
fn a_refused_exchange_is_a_one_line_docker_error_naming_the_exchange_url() {
    let world = World::new();
    world.fake.control(&json!({"exchange_status": 401}));
    let output = world.docker_get(REGISTRY);
    let exchange_url = format!("{}/oauth2/exchange", world.fake.acr_endpoint());
    assert_docker_error(&output, &[&exchange_url, "401"]);
    let stdout = support::stdout(&output);
    world.assert_not_in("the docker error", &stdout);
    assert!(
        !stdout.contains(&format!("{}/{TENANT}", world.fake.acr_endpoint())),
        "the exchange error names the exchange, not the token endpoint:\n{stdout}"
    );
    assert_eq!(world.fake.requests_to("token").len(), 1);
    let exchanges = world.fake.requests_to("exchange");
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0]["service"], REGISTRY);
    assert!(world.fake.refresh_tokens().is_empty());
    assert!(world.cache_entries().is_empty(), "a failure is not cached");

    world.fake.control(&json!({}));
    assert_exit(&world.run(CLI, &["cache", "clear"], ""), 0);
    assert_acr_login(&world.docker_get(REGISTRY), REGISTRY);
    assert_eq!(world.fake.requests_to("token").len(), 2);
}

#[test]
fn a_missing_federated_token_file_is_an_error_naming_the_variable_and_the_path() {
    let world = World::new();
    std::fs::remove_file(&world.token_file).unwrap();
    let path = world.token_file.display().to_string();
    let output = world.docker_get(REGISTRY);
    assert_docker_error(&output, &["AZURE_FEDERATED_TOKEN_FILE", &path]);
    world.assert_not_in("the docker error", &support::stdout(&output));
    let cli = world.run(CLI, &["get", IMAGE, "-o", "json"], "");
    assert_exit(&cli, 1);
    let stderr = support::stderr(&cli);
    assert!(
        stderr.contains("AZURE_FEDERATED_TOKEN_FILE") && stderr.contains(&path),
        "{}",
        describe(&cli)
    );
    world.assert_no_request("the federated token file is missing");
}

#[test]
fn an_unreachable_endpoint_is_an_error_not_a_hang() {
    let world = World::new();
    let closed = support::free_port();
    let env = Env {
        home: tempfile::tempdir().unwrap(),
        vars: world.env.vars.clone(),
    }
    .var(
        "AZURE_AUTHORITY_HOST",
        &format!("http://127.0.0.1:{closed}/"),
    );
    let output = run_bounded(
        command(&env, DOCKER_HELPER).arg("get"),
        format!("{REGISTRY}\n").as_bytes(),
        RUN_TIMEOUT,
    );
    assert_docker_error(
        &output,
        &[&format!(
            "http://127.0.0.1:{closed}/{TENANT}/oauth2/v2.0/token"
        )],
    );
    world.assert_not_in("the docker error", &support::stdout(&output));
    world.assert_not_in("stderr", &support::stderr(&output));
}

#[test]
fn a_refresh_token_without_a_readable_exp_is_cached_for_150_minutes() {
    let world = World::new();
    world.fake.control(&json!({"opaque_refresh": true}));
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let secret = assert_acr_login(&world.docker_get(REGISTRY), REGISTRY);
    assert!(secret.starts_with("opaqueRefresh"), "{secret}");
    let entries = world.cache_entries();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let expires_at = entries[0]["expires_at"].as_i64().unwrap();
    assert!(
        (before + 150 * 60..=before + 150 * 60 + 120).contains(&expires_at),
        "cached for 150 min from now ({before}): {:#}",
        entries[0]
    );
    assert_eq!(
        assert_acr_login(&world.docker_get(REGISTRY), REGISTRY),
        secret
    );
    assert_one_mint(&world, REGISTRY);
}
