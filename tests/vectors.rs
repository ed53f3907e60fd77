//! Replays `../shared/testdata/kargo-resolve.json` (read at run time, never copied) twice:
//! through the pure resolver and providers, and through the `dir` source after writing
//! each scenario's Secrets as manifests.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use kargo_creds::config::{Flags, Settings};
use kargo_creds::lookup::{Answer, Lookup, LookupError, Report};
use kargo_creds::provider::{self, MintPlan, ProviderRequest, Selection};
use kargo_creds::resolve::{self, NamespaceSecrets, Target, Thoroughness};
use kargo_creds::secret::{CredType, Secret};
use kargo_creds::sensitive::Sensitive;
use serde_json::Value;

/// Providers that later work delivers: cases expecting them are skipped and listed.
const NOT_YET: &[&str] = &[];

fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/kargo-resolve.json"
    );
    let text = std::fs::read_to_string(path).expect("the shared test vectors beside the project");
    let json: Value = serde_json::from_str(&text).expect("valid JSON");
    json["cases"].as_array().expect("cases").clone()
}

fn skipped(case: &Value) -> bool {
    let provider = case["expected"]["provider"].as_str().unwrap_or("");
    NOT_YET.contains(&provider)
}

fn secrets_of(case: &Value) -> Vec<Secret> {
    case["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Secret {
            namespace: s["namespace"].as_str().unwrap().into(),
            name: s["name"].as_str().unwrap().into(),
            labels: string_map(&s["labels"]),
            annotations: string_map(&s["annotations"]),
            data: s["data"].as_object().map(|data| {
                data.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            Sensitive::new(v.as_str().unwrap().as_bytes().to_vec()),
                        )
                    })
                    .collect()
            }),
            ..Secret::default()
        })
        .collect()
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// What a scenario decided, in the vectors' terms.
#[derive(Debug, PartialEq)]
struct Decision {
    secret: Option<String>,
    provider: Option<String>,
    outcome: String,
    username: Option<String>,
    password: Option<String>,
    ssh_private_key: Option<String>,
    /// What a minting provider would ask for, in the vectors' terms.
    token_request: Option<Value>,
}

fn decision_of(answer: &Answer) -> Decision {
    if let Answer::Ambient { selection } = answer {
        let mut decision = decision_of(&Answer::NoMatch);
        if let Selection::Mint { provider, plan } = selection {
            decision.provider = Some(provider.as_str().to_owned());
            decision.outcome = "token".into();
            decision.username = Some(plan.username().to_owned());
            decision.token_request = Some(token_request(plan));
        }
        return decision;
    }
    let mut decision = Decision {
        secret: None,
        provider: None,
        outcome: "none".into(),
        username: None,
        password: None,
        ssh_private_key: None,
        token_request: None,
    };
    if let Answer::Matched { secret, selection } = answer {
        decision.secret = Some(secret.id());
        decision.provider = selection.provider().map(|p| p.as_str().to_owned());
        match selection {
            Selection::Static { credentials, .. } => {
                decision.outcome = "credentials".into();
                decision.username = Some(credentials.username.clone());
                decision.password = Some(credentials.password.expose().clone());
            }
            Selection::SshKey { key } => {
                decision.outcome = "credentials".into();
                decision.ssh_private_key = Some(key.expose().clone());
            }
            Selection::Mint { plan, .. } => {
                decision.outcome = "token".into();
                decision.username = Some(plan.username().to_owned());
                decision.token_request = Some(token_request(plan));
            }
            Selection::Declined { .. } | Selection::Unsupported { .. } => {}
        }
    }
    decision
}

fn token_request(plan: &MintPlan) -> Value {
    match plan {
        MintPlan::Gke(gke) => serde_json::json!({
            "kind": "gcp-impersonation",
            "service_account": gke.identity.project.as_deref().and_then(|p| gke.service_account(p)).map(|a| format!("projects/-/serviceAccounts/{a}")),
            "scope": kargo_creds::provider::ambient::CLOUD_PLATFORM_SCOPE,
            "fallback": "controller-own-identity",
        }),
        MintPlan::Acr(acr) => serde_json::json!({
            "kind": "acr-refresh-token-exchange",
            "registry": kargo_creds::provider::ambient::acr_name(&acr.registry),
            "service": acr.registry,
            "aad_scope": kargo_creds::provider::ambient::ACR_SCOPE,
        }),
        MintPlan::Ecr(ecr) => serde_json::json!({
            "kind": "ecr-get-authorization-token",
            "region": ecr.region,
            "access_key_id": ecr.keys.access_key_id,
        }),
        MintPlan::EcrIdentity(plan) => serde_json::json!({
            "kind": "ecr-get-authorization-token",
            "region": plan.registry.region,
            "registry_account_id": plan.registry.account,
            "identities_in_order": plan.identities_in_order(),
            "external_id": plan.external_id(),
            "role_session_name": plan.identity.session_name,
        }),
        MintPlan::Gar(_) => serde_json::json!({
            "kind": "gcp-service-account-jwt",
            "scope": kargo_creds::provider::gar::SCOPE,
        }),
        MintPlan::GithubApp(app) => serde_json::json!({
            "kind": "github-app-installation-token",
            "app_or_client_id": app.issuer,
            "installation_id": app.installation_id,
            "repositories": [app.repository],
            "mint_url": app.mint_url(),
            "private_key_input": app.key_input.as_str(),
            "validation_url": app.validation_url(),
        }),
    }
}

fn expected_decision(case: &Value) -> Decision {
    let e = &case["expected"];
    let text = |key: &str| e[key].as_str().map(str::to_owned);
    Decision {
        secret: text("secret"),
        provider: text("provider"),
        outcome: text("outcome").unwrap(),
        username: text("username"),
        password: text("password"),
        ssh_private_key: text("ssh_private_key"),
        token_request: e.get("token_request").cloned(),
    }
}

/// The pure path: resolve + provider selection, as `lookup` wires them.
fn decide_pure(case: &Value) -> Result<Decision, String> {
    let cred_type: CredType = case["type"].as_str().unwrap().parse().unwrap();
    let url = case["url"].as_str().unwrap();
    let allow_http = case["allow_credentials_over_http"]
        .as_bool()
        .unwrap_or(false);
    if resolve::is_plain_http(url) && !allow_http {
        return Ok(decision_of(&Answer::RefusedPlainHttp));
    }
    let project = case["project"].as_str().unwrap();
    let shared = case["shared_namespace"].as_str().unwrap();
    let all = secrets_of(case);
    let namespaces: Vec<NamespaceSecrets<Secret>> = [project, shared]
        .iter()
        .map(|ns| NamespaceSecrets {
            namespace: ns.to_string(),
            secrets: all
                .iter()
                .filter(|s| {
                    s.namespace == *ns
                        && s.labels
                            .get("kargo.akuity.io/cred-type")
                            .map(String::as_str)
                            == Some(cred_type.as_str())
                })
                .cloned()
                .collect(),
        })
        .collect();
    let target = Target::url(cred_type, url);
    for thoroughness in [Thoroughness::FirstMatch, Thoroughness::Explain] {
        let resolution = resolve::resolve(&target, &namespaces, thoroughness);
        let Some(winner) = resolution.winner else {
            if thoroughness == Thoroughness::Explain {
                let registry = registry_of(cred_type, target.normalized());
                let ambient = kargo_creds::provider::ambient::select(
                    cred_type,
                    registry,
                    Some(project),
                    &ambient_env(case),
                );
                return Ok(decision_of(&match ambient {
                    Some(selection) => Answer::Ambient { selection },
                    None => Answer::NoMatch,
                }));
            }
            continue;
        };
        if thoroughness == Thoroughness::FirstMatch {
            continue; // both modes must agree; the explain pass decides below
        }
        let request = ProviderRequest {
            cred_type,
            normalized_url: target.normalized(),
            project: Some(project),
            github_api_url: None,
            registry: registry_of(cred_type, target.normalized()),
        };
        let selection = provider::select(winner, &request).map_err(|e| e.to_string())?;
        return Ok(decision_of(&Answer::Matched {
            secret: Box::new(winner.clone()),
            selection,
        }));
    }
    unreachable!()
}

/// The registry host of an image or helm request, as the lookup computes it.
fn registry_of(cred_type: CredType, normalized: &str) -> Option<&str> {
    match cred_type {
        CredType::Image | CredType::Helm if !resolve::is_chart_repository_url(normalized) => Some(
            kargo_creds::url::registry_host_of_normalized_image(normalized),
        ),
        _ => None,
    }
}

/// The environment variables that give a scenario's ambient identities.
fn ambient_vars(case: &Value) -> Vec<(&'static str, String)> {
    let mut vars = Vec::new();
    if let Some(project) = case["ambient"]["gcp_project_id"].as_str() {
        vars.push(("GCE_METADATA_HOST", "metadata.google.internal".to_owned()));
        vars.push(("GOOGLE_CLOUD_PROJECT", project.to_owned()));
    }
    if let Some(account) = case["ambient"]["aws_controller_account_id"].as_str() {
        // IRSA, whose role ARN names the controller's account.
        vars.push((
            "AWS_ROLE_ARN",
            format!("arn:aws:iam::{account}:role/kargo-controller"),
        ));
        vars.push((
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "/var/run/secrets/eks.amazonaws.com/serviceaccount/token".to_owned(),
        ));
        if let Some(shard) = case["ambient"]["shard_name"].as_str() {
            vars.push(("SHARD_NAME", shard.to_owned()));
        }
    }
    if case["ambient"]["azure_workload_identity"].as_bool() == Some(true) {
        vars.push(("AZURE_CLIENT_ID", "client".to_owned()));
        vars.push(("AZURE_TENANT_ID", "tenant".to_owned()));
        vars.push((
            "AZURE_FEDERATED_TOKEN_FILE",
            "/var/run/secrets/azure/tokens/azure-identity-token".to_owned(),
        ));
    }
    vars
}

fn ambient_env(case: &Value) -> kargo_creds::provider::ambient::AmbientEnv {
    let vars = ambient_vars(case);
    kargo_creds::provider::ambient::AmbientEnv::detect(&|name: &str| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
}

/// A vector says only what it checks: fields it leaves out are not compared.
fn agrees(actual: &Decision, expected: &Decision) -> bool {
    let token_request_agrees =
        expected.token_request.is_none() || actual.token_request == expected.token_request;
    let username_agrees = (expected.outcome == "token" && expected.username.is_none())
        || actual.username == expected.username;
    token_request_agrees
        && username_agrees
        && actual.secret == expected.secret
        && actual.provider == expected.provider
        && actual.outcome == expected.outcome
        && actual.password == expected.password
        && actual.ssh_private_key == expected.ssh_private_key
}

fn check(case: &Value, actual: Result<Decision, String>) -> Option<String> {
    let name = case["name"].as_str().unwrap();
    let expected = expected_decision(case);
    match actual {
        Err(message) if expected.outcome == "error" => {
            let fragment = case["expected"]["error_contains"].as_str().unwrap_or("");
            let secret = expected.secret.clone().unwrap_or_default();
            (!message.contains(&secret) || !message.contains(fragment)).then(|| {
                format!("{name}: error {message:?} should name {secret} and say {fragment:?}")
            })
        }
        Err(message) => Some(format!("{name}: unexpected error {message}")),
        Ok(decision) if !agrees(&decision, &expected) => Some(format!(
            "{name}:\n  expected {expected:?}\n  actual   {decision:?}"
        )),
        Ok(_) => None,
    }
}

#[test]
fn every_vector_through_the_pure_resolver() {
    let mut failures = Vec::new();
    let mut skips = Vec::new();
    let cases = cases();
    for case in &cases {
        if skipped(case) {
            skips.push(case["name"].as_str().unwrap().to_owned());
            continue;
        }
        if let Some(failure) = check(case, decide_pure(case)) {
            failures.push(failure);
        }
    }
    eprintln!(
        "{} cases, {} skipped (need providers delivered later): {skips:#?}",
        cases.len(),
        skips.len()
    );
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Writes the scenario's Secrets as manifests: even ones with base64 `data`, odd ones
/// with `stringData`, every other one without metadata.namespace (in its sub-folder).
fn write_manifests(root: &Path, secrets: &[Value]) {
    for (index, s) in secrets.iter().enumerate() {
        let namespace = s["namespace"].as_str().unwrap();
        let mut metadata = serde_json::json!({
            "name": s["name"],
            "labels": s["labels"],
            "annotations": s["annotations"],
        });
        if index % 2 == 0 {
            metadata["namespace"] = namespace.into();
        }
        let mut manifest =
            serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata});
        if let Some(data) = s["data"].as_object() {
            if index % 2 == 0 {
                let encoded: serde_json::Map<String, Value> = data
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            base64::engine::general_purpose::STANDARD
                                .encode(v.as_str().unwrap())
                                .into(),
                        )
                    })
                    .collect();
                manifest["data"] = encoded.into();
            } else {
                manifest["stringData"] = data.clone().into();
            }
        }
        let folder = root.join(namespace);
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join(format!("{index}.json"));
        std::fs::write(&path, manifest.to_string()).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
    }
}

fn decide_through_dir_source(case: &Value) -> Result<Decision, String> {
    let root = tempfile::tempdir().unwrap();
    write_manifests(root.path(), case["secrets"].as_array().unwrap());
    let mut vars: BTreeMap<&str, String> = BTreeMap::from([
        ("HOME", root.path().display().to_string()),
        ("KARGO_CREDS_SECRETS_DIR", root.path().display().to_string()),
        (
            "KARGO_CREDS_ALLOW_HTTP",
            case["allow_credentials_over_http"]
                .as_bool()
                .unwrap_or(false)
                .to_string(),
        ),
        (
            "KARGO_PROJECT",
            case["project"].as_str().unwrap().to_owned(),
        ),
        (
            "KARGO_CREDS_SHARED_NAMESPACE",
            case["shared_namespace"].as_str().unwrap().to_owned(),
        ),
    ]);
    vars.extend(ambient_vars(case));
    let settings = Settings::load(&Flags::default(), &|name: &str| vars.get(name).cloned())
        .map_err(|e| e.to_string())?;
    let lookup = Lookup::new(&settings);
    let cred_type: CredType = case["type"].as_str().unwrap().parse().unwrap();
    let report: Report = lookup
        .find(
            cred_type,
            case["url"].as_str().unwrap(),
            Thoroughness::FirstMatch,
        )
        .map_err(|e: LookupError| e.to_string())?;
    Ok(decision_of(&report.answer))
}

#[test]
fn every_vector_through_the_dir_source() {
    let mut failures = Vec::new();
    for case in cases().iter().filter(|case| !skipped(case)) {
        if let Some(failure) = check(case, decide_through_dir_source(case)) {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
