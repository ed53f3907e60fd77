//! The committed packaging files parse and say what the README promises: the RBAC example
//! grants only `get` and `list` on Secrets, only in the project and shared namespaces, to the
//! runner's ServiceAccount. (The .deb itself is built and checked by packaging/check-deb.sh
//! in CI.)

use serde::Deserialize;
use serde_norway::Value;

fn rbac_documents() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/rbac.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|document| !document.is_null())
        .collect()
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut value = value;
    for key in path {
        value = &value[*key];
    }
    value
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string in {value:?}"))
}

#[test]
fn the_rbac_example_grants_only_get_and_list_on_secrets_in_two_namespaces() {
    let documents = rbac_documents();
    let kinds: Vec<(&str, &str)> = documents
        .iter()
        .map(|d| (text(d, &["kind"]), text(d, &["metadata", "namespace"])))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ServiceAccount", "ci"),
            ("Role", "kargo-demo"),
            ("RoleBinding", "kargo-demo"),
            ("Role", "kargo-shared-resources"),
            ("RoleBinding", "kargo-shared-resources"),
        ]
    );
    for document in &documents {
        match text(document, &["kind"]) {
            "Role" => {
                let rules = document["rules"].as_sequence().unwrap();
                assert_eq!(rules.len(), 1, "{rules:?}");
                let rule: serde_json::Value =
                    serde_json::to_value(&rules[0]).expect("YAML rule as JSON");
                assert_eq!(
                    rule,
                    serde_json::json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]})
                );
            }
            "RoleBinding" => {
                assert_eq!(text(document, &["roleRef", "kind"]), "Role");
                assert_eq!(
                    text(document, &["roleRef", "name"]),
                    "kargo-creds-read-credentials"
                );
                let subjects = document["subjects"].as_sequence().unwrap();
                assert_eq!(subjects.len(), 1);
                assert_eq!(text(&subjects[0], &["kind"]), "ServiceAccount");
                assert_eq!(text(&subjects[0], &["name"]), "kargo-creds");
                assert_eq!(text(&subjects[0], &["namespace"]), "ci");
            }
            _ => {}
        }
    }
}
