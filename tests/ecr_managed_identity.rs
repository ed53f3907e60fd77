//! ECR through this machine's own AWS identity (SPEC §6.5; issue 5), end to end through
//! `docker-credential-kargo` and `kargo-creds`, against moto.
//!
//! A recording proxy (`support::aws_proxy`) sits between the helper and moto: it rewrites
//! moto's 2015 `expiresAt` (so caching can be seen), and answers chosen STS calls itself —
//! 403 `AccessDenied` for given role ARNs, a 500, or a closed connection — so the tests can
//! walk the order of attempts. Everything else is moto's real answer; two tests run moto
//! with SigV4 checking on. Who signed each call is read off its `Authorization` header and
//! matched against the keys moto issued, so "which identity was used" is checked, not
//! assumed. No stderr may hold the web identity token, a secret key, a session token or an
//! issued registry password.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::Value;
use support::aws_proxy::{AwsProxy, Failure, ProxyRules, SeenRequest, ECR_TARGET};
use support::describe;
use support::{run_bounded, Env, Moto, CLI, DOCKER_HELPER, MOTO_BOOTSTRAP_ACTIONS};

const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const CROSS_ACCOUNT_REGISTRY: &str = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";
const CONTROLLER_ROLE: &str = "arn:aws:iam::123456789012:role/kargo-controller";
const PROJECT: &str = "kargo-demo";
const PROJECT_ROLE: &str = "arn:aws:iam::123456789012:role/kargo-project-kargo-demo";
const CROSS_ACCOUNT_PROJECT_ROLE: &str = "arn:aws:iam::210987654321:role/kargo-project-kargo-demo";
const EXTERNAL_ID: &str = "kargo-project-kargo-demo";
const WEB_IDENTITY_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.web-identity-token-fixture-4711.sig";
const FAKE_SECRET_KEY: &str = "fixtureSecretKeyForMotoWithoutAuth/0123456789";
const NOT_FOUND: &str = "credentials not found in native keychain";
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// moto behind the proxy, and an environment whose AWS endpoint is the proxy.
struct Fixture {
    _moto: Moto,
    proxy: AwsProxy,
    env: Env,
}

impl Fixture {
    fn start(moto: Moto, rules: ProxyRules) -> Fixture {
        let proxy = AwsProxy::start(
            moto.port,
            ProxyRules {
                expires_at: Some(unix_now() + 12.0 * 3600.0),
                ..rules
            },
        );
        let env = Env::empty()
            .var("AWS_ENDPOINT_URL", &proxy.url())
            .var("AWS_REGION", "us-east-1");
        Fixture {
            _moto: moto,
            proxy,
            env,
        }
    }

    /// IRSA: a web identity token file and the controller's role.
    fn irsa(rules: ProxyRules) -> Fixture {
        let mut fixture = Fixture::start(Moto::start(None), rules);
        let token_file = fixture.env.home.path().join("web-identity-token");
        std::fs::write(&token_file, format!("{WEB_IDENTITY_TOKEN}\n")).unwrap();
        fixture.env = std::mem::replace(&mut fixture.env, Env::empty())
            .var("AWS_ROLE_ARN", CONTROLLER_ROLE)
            .var(
                "AWS_WEB_IDENTITY_TOKEN_FILE",
                &token_file.display().to_string(),
            );
        fixture
    }

    fn with(mut self, name: &str, value: &str) -> Fixture {
        self.env = std::mem::replace(&mut self.env, Env::empty()).var(name, value);
        self
    }

    fn run(&self, program: &str, args: &[&str], stdin: &str) -> Output {
        let output = run_bounded(
            self.env.command(program).args(args),
            stdin.as_bytes(),
            RUN_TIMEOUT,
        );
        self.assert_no_secrets_in_stderr(&output);
        output
    }

    fn docker_get(&self, host: &str) -> Output {
        self.run(DOCKER_HELPER, &["get"], host)
    }

    /// Every secret that went over the wire, plus the fixtures.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![WEB_IDENTITY_TOKEN.to_owned(), FAKE_SECRET_KEY.to_owned()];
        for request in self.proxy.requests() {
            let answer = String::from_utf8_lossy(&request.answer).into_owned();
            for element in ["SecretAccessKey", "SessionToken"] {
                secrets.extend(xml_element(&answer, element));
            }
            if let Ok(value) = serde_json::from_str::<Value>(&answer) {
                if let Some(token) = value["authorizationData"][0]["authorizationToken"].as_str() {
                    secrets.push(decoded_password(token));
                }
            }
        }
        secrets
    }

    fn assert_no_secrets_in_stderr(&self, output: &Output) {
        let stderr = support::stderr(output);
        assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
        for secret in self.secrets() {
            assert!(
                !stderr.contains(&secret),
                "a secret reached stderr:\n{stderr}"
            );
        }
    }

    /// The STS calls of `action` with their fields, in order.
    fn sts(&self, action: &str) -> Vec<(SeenRequest, Vec<(String, String)>)> {
        self.proxy.sts_calls(action)
    }

    fn ecr_calls(&self) -> Vec<SeenRequest> {
        self.proxy
            .requests()
            .into_iter()
            .filter(|request| request.header("x-amz-target") == Some(ECR_TARGET))
            .collect()
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn xml_element(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + text[start..].find(&format!("</{name}>"))?;
    Some(text[start..end].to_owned())
}

fn decoded_password(token: &str) -> String {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    decoded.split_once(':').unwrap().1.to_owned()
}

/// The access key ID a request was signed with (`Credential=<id>/…`).
fn signer(request: &SeenRequest) -> String {
    let authorization = request
        .header("authorization")
        .unwrap_or_else(|| panic!("{} {} is not signed", request.method, request.path));
    let credential = authorization.split("Credential=").nth(1).unwrap();
    credential.split('/').next().unwrap().to_owned()
}

/// The access key ID an STS answer issued.
fn issued_key(request: &SeenRequest) -> String {
    xml_element(&String::from_utf8_lossy(&request.answer), "AccessKeyId")
        .expect("an STS answer with credentials")
}

/// A docker login answer: `AWS` and the password moto issued in the (last) ECR answer.
fn assert_login(fixture: &Fixture, output: &Output, host: &str) {
    assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["ServerURL"], host);
    assert_eq!(answer["Username"], "AWS");
    let last_ecr = fixture.ecr_calls().pop().expect("an ECR call");
    let issued: Value = serde_json::from_slice(&last_ecr.answer).unwrap();
    let token = issued["authorizationData"][0]["authorizationToken"]
        .as_str()
        .unwrap();
    assert_eq!(answer["Secret"], decoded_password(token));
}

/// The docker helper's error: exit 1 and one line on stdout (the protocol's channel) naming
/// each of `needles` and holding no secret.
fn assert_docker_error(fixture: &Fixture, output: &Output, needles: &[&str]) {
    assert_eq!(output.status.code(), Some(1), "{}", describe(output));
    let stdout = support::stdout(output);
    assert_eq!(stdout.trim_end().lines().count(), 1, "{}", describe(output));
    for needle in needles {
        assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
    }
    for secret in fixture.secrets() {
        assert!(
            !stdout.contains(&secret),
            "a secret in the error:\n{stdout}"
        );
    }
    // The proxy's error messages carry a newline and an escape sequence.
    assert!(
        !stdout.contains('\u{1b}'),
        "a server's control characters reached the terminal:\n{stdout}"
    );
}

#[test]
fn irsa_logs_in_with_the_web_identity_role_and_caches_the_login() {
    let fixture = Fixture::irsa(ProxyRules::default());
    let output = fixture.docker_get(REGISTRY);
    assert_login(&fixture, &output, REGISTRY);

    let web = fixture.sts("AssumeRoleWithWebIdentity");
    assert_eq!(web.len(), 1);
    let (request, fields) = &web[0];
    assert_eq!(
        request.header("authorization"),
        None,
        "AssumeRoleWithWebIdentity is unsigned"
    );
    assert_eq!(field(fields, "RoleArn"), Some(CONTROLLER_ROLE));
    assert_eq!(field(fields, "WebIdentityToken"), Some(WEB_IDENTITY_TOKEN));
    assert_eq!(field(fields, "RoleSessionName"), Some("kargo-controller"));
    assert!(fixture.sts("AssumeRole").is_empty(), "no project, no role");
    let ecr = fixture.ecr_calls();
    assert_eq!(ecr.len(), 1);
    assert_eq!(signer(&ecr[0]), issued_key(request));
    assert_eq!(
        ecr[0].header("x-amz-security-token").map(str::to_owned),
        xml_element(&String::from_utf8_lossy(&request.answer), "SessionToken")
    );

    let calls = fixture.proxy.requests().len();
    let again = fixture.docker_get(REGISTRY);
    assert_eq!(again.stdout, output.stdout);
    assert_eq!(
        fixture.proxy.requests().len(),
        calls,
        "served from the cache"
    );
}

#[test]
fn the_project_role_in_the_registry_account_is_used_when_allowed() {
    let fixture = Fixture::irsa(ProxyRules::default()).with("KARGO_PROJECT", PROJECT);
    let output = fixture.docker_get(REGISTRY);
    assert_login(&fixture, &output, REGISTRY);

    let (web, _) = fixture.sts("AssumeRoleWithWebIdentity").remove(0);
    let roles = fixture.sts("AssumeRole");
    assert_eq!(roles.len(), 1);
    let (request, fields) = &roles[0];
    assert_eq!(field(fields, "RoleArn"), Some(PROJECT_ROLE));
    assert_eq!(field(fields, "ExternalId"), Some(EXTERNAL_ID));
    assert_eq!(field(fields, "RoleSessionName"), Some("kargo-controller"));
    assert_eq!(
        signer(request),
        issued_key(&web),
        "signed by the base identity"
    );
    assert_eq!(signer(&fixture.ecr_calls()[0]), issued_key(request));
    assert!(fixture.sts("GetCallerIdentity").is_empty());
}

#[test]
fn a_denied_project_role_in_the_callers_own_account_falls_back_to_the_base_identity() {
    let fixture = Fixture::irsa(ProxyRules {
        deny_roles: vec![PROJECT_ROLE.to_owned()],
        ..ProxyRules::default()
    })
    .with("KARGO_PROJECT", PROJECT);
    let output = fixture.docker_get(REGISTRY);
    assert_login(&fixture, &output, REGISTRY);

    let (web, _) = fixture.sts("AssumeRoleWithWebIdentity").remove(0);
    let roles: Vec<String> = fixture
        .sts("AssumeRole")
        .iter()
        .map(|(_, fields)| field(fields, "RoleArn").unwrap().to_owned())
        .collect();
    assert_eq!(roles, [PROJECT_ROLE], "the same account is not tried twice");
    assert_eq!(signer(&fixture.ecr_calls()[0]), issued_key(&web));
}

#[test]
fn a_cross_account_registry_tries_its_account_then_the_callers_with_the_shard_session() {
    let fixture = Fixture::irsa(ProxyRules {
        deny_roles: vec![CROSS_ACCOUNT_PROJECT_ROLE.to_owned()],
        ..ProxyRules::default()
    })
    .with("KARGO_PROJECT", PROJECT)
    .with("SHARD_NAME", "shard-1");
    let output = fixture.docker_get(CROSS_ACCOUNT_REGISTRY);
    assert_login(&fixture, &output, CROSS_ACCOUNT_REGISTRY);

    let roles = fixture.sts("AssumeRole");
    let arns: Vec<&str> = roles
        .iter()
        .map(|(_, fields)| field(fields, "RoleArn").unwrap())
        .collect();
    assert_eq!(arns, [CROSS_ACCOUNT_PROJECT_ROLE, PROJECT_ROLE]);
    for (_, fields) in &roles {
        assert_eq!(field(fields, "ExternalId"), Some(EXTERNAL_ID));
        assert_eq!(
            field(fields, "RoleSessionName"),
            Some("kargo-controller-shard-1")
        );
    }
    let ecr = &fixture.ecr_calls()[0];
    assert_eq!(signer(ecr), issued_key(&roles[1].0));
    let authorization = ecr.header("authorization").unwrap();
    assert!(
        authorization.contains("/eu-west-1/ecr/"),
        "ECR is called in the registry's region: {authorization}"
    );
    // IRSA's role ARN names the caller's account: no GetCallerIdentity needed.
    assert!(fixture.sts("GetCallerIdentity").is_empty());
}

#[test]
fn environment_keys_ask_sts_who_the_caller_is_only_when_a_role_was_denied() {
    let fixture = Fixture::start(
        Moto::start(None),
        ProxyRules {
            deny_roles: vec![CROSS_ACCOUNT_PROJECT_ROLE.to_owned()],
            ..ProxyRules::default()
        },
    )
    .with("AWS_ACCESS_KEY_ID", "AKIAKARGOCREDSAMBIENT")
    .with("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_KEY)
    .with("KARGO_PROJECT", PROJECT);
    let output = fixture.docker_get(CROSS_ACCOUNT_REGISTRY);
    assert_login(&fixture, &output, CROSS_ACCOUNT_REGISTRY);
    let caller = fixture.sts("GetCallerIdentity");
    assert_eq!(caller.len(), 1);
    assert_eq!(signer(&caller[0].0), "AKIAKARGOCREDSAMBIENT");
    let arns: Vec<String> = fixture
        .sts("AssumeRole")
        .iter()
        .map(|(_, fields)| field(fields, "RoleArn").unwrap().to_owned())
        .collect();
    // moto's caller account is 123456789012, which differs from the registry's.
    assert_eq!(arns, [CROSS_ACCOUNT_PROJECT_ROLE, PROJECT_ROLE]);
}

#[test]
fn a_failed_role_assumption_is_an_error_never_a_fall_back_to_a_weaker_identity() {
    for failure in [Failure::Close, Failure::Status(500)] {
        let fixture = Fixture::irsa(ProxyRules {
            fail_actions: vec![("AssumeRole".to_owned(), failure)],
            ..ProxyRules::default()
        })
        .with("KARGO_PROJECT", PROJECT);
        let output = fixture.docker_get(REGISTRY);
        let endpoint = format!("{}/", fixture.proxy.url());
        assert_docker_error(&fixture, &output, &["AssumeRole", &endpoint]);
        assert!(
            fixture.ecr_calls().is_empty(),
            "{failure:?}: no login with the base identity after a failure"
        );
    }
}

#[test]
fn a_redirecting_sts_is_an_error_and_the_web_identity_token_is_not_resent() {
    let fixture = Fixture::irsa(ProxyRules {
        fail_actions: vec![("AssumeRoleWithWebIdentity".to_owned(), Failure::Status(307))],
        ..ProxyRules::default()
    });
    let output = fixture.docker_get(REGISTRY);
    assert_docker_error(&fixture, &output, &["AssumeRoleWithWebIdentity", "307"]);
    let paths: Vec<String> = fixture
        .proxy
        .requests()
        .iter()
        .map(|request| request.path.clone())
        .collect();
    assert_eq!(paths, ["/"], "the redirect was followed");
}

#[test]
fn every_identity_denied_is_one_error_listing_each_denial() {
    let fixture = Fixture::irsa(ProxyRules {
        deny_roles: vec![PROJECT_ROLE.to_owned()],
        fail_actions: vec![("GetAuthorizationToken".to_owned(), Failure::Status(403))],
        ..ProxyRules::default()
    })
    .with("KARGO_PROJECT", PROJECT);
    let output = fixture.docker_get(REGISTRY);
    assert_docker_error(
        &fixture,
        &output,
        &[
            "denied every identity",
            REGISTRY,
            PROJECT_ROLE,
            CONTROLLER_ROLE,
        ],
    );
    // No token was cached. The failure is remembered for a few seconds: the next get
    // reports it again without asking; once it is forgotten, the next get asks again.
    let calls = fixture.proxy.requests().len();
    let again = fixture.docker_get(REGISTRY);
    assert_docker_error(
        &fixture,
        &again,
        &["denied every identity", "not asking again"],
    );
    assert_eq!(fixture.proxy.requests().len(), calls);
    let cleared = fixture.run(CLI, &["cache", "clear"], "");
    assert_eq!(
        cleared.status.code(),
        Some(0),
        "{}",
        support::describe(&cleared)
    );
    let _ = fixture.docker_get(REGISTRY);
    assert!(fixture.proxy.requests().len() > calls);
}

/// A fake EKS Pod Identity agent: answers moto-issued keys only to the bearer of the
/// authorization token; records each Authorization header it saw.
fn pod_identity_agent(token: &str, keys: (String, String)) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/v1/credentials",
        listener.local_addr().unwrap().port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (token, recorded) = (token.to_owned(), Arc::clone(&seen));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut authorization = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        authorization = value.trim().to_owned();
                    }
                }
            }
            recorded.lock().unwrap().push(authorization.clone());
            let (status, body) = if authorization == token {
                let expiration = "2099-01-01T00:00:00Z";
                (
                    "200 OK",
                    serde_json::json!({
                        "AccessKeyId": keys.0, "SecretAccessKey": keys.1,
                        "Token": null, "Expiration": expiration,
                    })
                    .to_string(),
                )
            } else {
                ("401 Unauthorized", "{}".to_owned())
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[test]
fn pod_identity_keys_sign_the_login_and_moto_verifies_the_signature() {
    let moto = Moto::start(Some(MOTO_BOOTSTRAP_ACTIONS));
    let keys = moto.create_access_key();
    let agent_token = "pod-identity-agent-token-fixture-99";
    let (uri, seen) = pod_identity_agent(agent_token, keys.clone());
    let fixture = Fixture::start(moto, ProxyRules::default());
    let token_file = fixture.env.home.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, agent_token).unwrap();
    let fixture = fixture
        .with("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri)
        .with(
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            &token_file.display().to_string(),
        );
    let output = fixture.docker_get(REGISTRY);
    let stderr = support::stderr(&output);
    assert!(!stderr.contains(&keys.1) && !stderr.contains(agent_token));
    assert_login(&fixture, &output, REGISTRY);
    assert_eq!(*seen.lock().unwrap(), [agent_token]);
    assert_eq!(signer(&fixture.ecr_calls()[0]), keys.0);

    // The agent refusing the token is an error naming the agent, not a fall-back.
    std::fs::write(&token_file, "a-wrong-token").unwrap();
    let output = fixture.run(
        DOCKER_HELPER,
        &["get"],
        "999999999999.dkr.ecr.us-east-1.amazonaws.com",
    );
    assert_docker_error(&fixture, &output, &[&uri, "401"]);
}

#[test]
fn a_plain_http_agent_off_loopback_is_refused_without_a_request() {
    let fixture = Fixture::start(Moto::start(None), ProxyRules::default())
        .with(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://192.0.2.10/creds",
        )
        .with("AWS_CONTAINER_AUTHORIZATION_TOKEN", "agent-token-fixture");
    let output = fixture.docker_get(REGISTRY);
    assert_docker_error(
        &fixture,
        &output,
        &["refusing container credentials", "192.0.2.10"],
    );
    assert!(fixture.proxy.requests().is_empty());
}

#[test]
fn a_matching_secret_wins_and_without_an_identity_nothing_is_asked() {
    let fixture = Fixture::irsa(ProxyRules::default());
    fixture.env.write_manifest(
        "ecr-basic.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ecr-basic\n  namespace: kargo-shared-resources\n  labels:\n    kargo.akuity.io/cred-type: image\nstringData:\n  repoURL: {REGISTRY}/app\n  username: robot\n  password: basic-password-fixture\n"
        ),
    );
    let output = fixture.docker_get(REGISTRY);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["Username"], "robot");
    assert!(fixture.proxy.requests().is_empty());

    let bare = Fixture::start(Moto::start(None), ProxyRules::default());
    let output = bare.docker_get(REGISTRY);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(support::stdout(&output).contains(NOT_FOUND));
    assert!(bare.proxy.requests().is_empty());
}

#[test]
fn resolve_explains_the_identity_and_its_order_without_a_request() {
    let fixture = Fixture::irsa(ProxyRules::default())
        .with("KARGO_PROJECT", PROJECT)
        .with("SHARD_NAME", "shard-1");
    let image = format!("{CROSS_ACCOUNT_REGISTRY}/team/app");
    let output = fixture.run(
        CLI,
        &["resolve", &image, "--type", "image", "--explain"],
        "",
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = support::stdout(&output);
    for needle in [
        "ecrManagedIdentity",
        &format!("web identity role {CONTROLLER_ROLE}"),
        &format!("{CROSS_ACCOUNT_PROJECT_ROLE}, {PROJECT_ROLE}, controller-own-identity"),
        "not cached",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    let output = fixture.run(
        CLI,
        &["resolve", &image, "--type", "image", "-o", "json"],
        "",
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["provider"], "ecrManagedIdentity");
    assert_eq!(json["secret"], Value::Null);
    assert!(fixture.proxy.requests().is_empty(), "resolve never mints");

    // `kargo-creds get` mints through the same path.
    let output = fixture.run(CLI, &["get", &image, "--type", "image"], "");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["username"], "AWS");
    assert_eq!(json["provider"], "ecrManagedIdentity");
    assert!(json["expires_at"].is_string());
}
