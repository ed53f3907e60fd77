//! Kubernetes Secret manifests, as a GitOps repository or `kubectl get -o yaml|json` holds
//! them: YAML (several documents per file) or JSON, `kind: List` included. Pure: text in,
//! Secrets out.
//!
//! `data` is base64 and `stringData` plain, merged as `kubectl apply` would (`stringData`
//! wins). Documents that are not Secrets are ignored. A Secret that cannot be used (no
//! namespace, corrupt base64) is skipped with a warning naming it; a file that is not valid
//! YAML/JSON is an error carrying the line.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_norway::Value;

use crate::secret::{Data, Secret};
use crate::sensitive::Sensitive;

/// The syntax of a manifest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// A file that could not be parsed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|line| format!("line {line}: ")).unwrap_or_default())]
pub struct ManifestError {
    pub line: Option<usize>,
    pub message: String,
}

/// The Secrets of one file, and what was wrong with the ones skipped.
#[derive(Debug, Default)]
pub struct Parsed {
    pub secrets: Vec<Secret>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    kind: Option<Value>,
    #[serde(rename = "type")]
    secret_type: Option<Value>,
    metadata: Option<Metadata>,
    data: Option<Value>,
    string_data: Option<Value>,
    items: Option<Vec<Option<Document>>>,
}

#[derive(Debug, Default, Deserialize)]
struct Metadata {
    name: Option<Value>,
    namespace: Option<Value>,
    labels: Option<Value>,
    annotations: Option<Value>,
}

/// Parses one file's text. `folder_namespace` is the name of the sub-folder directly under
/// the secrets root that holds the file, used when a Secret names no namespace.
pub fn parse(
    text: &str,
    format: Format,
    folder_namespace: Option<&str>,
) -> Result<Parsed, ManifestError> {
    let documents = match format {
        Format::Json => vec![
            serde_json::from_str::<Option<Document>>(text).map_err(|error| ManifestError {
                line: Some(error.line()),
                message: strip_location(&error.to_string()),
            })?,
        ],
        Format::Yaml => parse_yaml_documents(text)?,
    };
    let mut parsed = Parsed::default();
    for document in documents.into_iter().flatten() {
        collect(document, folder_namespace, &mut parsed);
    }
    Ok(parsed)
}

/// Splits a YAML stream at its document markers (`---` or `...` at the start of a line,
/// which YAML forbids inside any scalar), without parsing it. Returns each document's byte
/// range and the number of lines before it.
pub fn split_yaml_documents(text: &str) -> Vec<(usize, usize, usize)> {
    let mut documents = Vec::new();
    let (mut start, mut start_line, mut offset) = (0, 0, 0);
    for (line_number, line) in text.split_inclusive('\n').enumerate() {
        let content = line.trim_end_matches(['\n', '\r']);
        let is_marker = ["---", "..."].iter().any(|marker| {
            content
                .strip_prefix(marker)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        });
        if is_marker {
            if offset > start {
                documents.push((start, offset, start_line));
            }
            // The marker line itself stays with the next document (`--- |` may open it).
            start = offset;
            start_line = line_number;
        }
        offset += line.len();
    }
    if text.len() > start {
        documents.push((start, text.len(), start_line));
    }
    documents
}

fn parse_yaml_documents(text: &str) -> Result<Vec<Option<Document>>, ManifestError> {
    let mut documents = Vec::new();
    for deserializer in serde_norway::Deserializer::from_str(text) {
        let document =
            Option::<Document>::deserialize(deserializer).map_err(|error| ManifestError {
                line: error.location().map(|location| location.line()),
                message: strip_location(&error.to_string()),
            })?;
        documents.push(document);
    }
    Ok(documents)
}

/// A Secret as a manifest, in the order people write them (`apiVersion`, `kind`,
/// `metadata`, `type`, `data`), values base64 in `data`. The API server takes the same JSON.
pub fn render(secret: &Secret, format: Format) -> String {
    #[derive(serde::Serialize)]
    struct Manifest<'a> {
        #[serde(rename = "apiVersion")]
        api_version: &'static str,
        kind: &'static str,
        metadata: Metadata<'a>,
        #[serde(rename = "type")]
        secret_type: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<BTreeMap<&'a str, String>>,
    }
    #[derive(serde::Serialize)]
    struct Metadata<'a> {
        name: &'a str,
        namespace: &'a str,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        labels: &'a BTreeMap<String, String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        annotations: &'a BTreeMap<String, String>,
        #[serde(rename = "resourceVersion", skip_serializing_if = "Option::is_none")]
        resource_version: Option<&'a str>,
    }
    let manifest = Manifest {
        api_version: "v1",
        kind: "Secret",
        metadata: Metadata {
            name: &secret.name,
            namespace: &secret.namespace,
            labels: &secret.labels,
            annotations: &secret.annotations,
            resource_version: secret.server.resource_version.as_deref(),
        },
        secret_type: secret.secret_type.as_deref().unwrap_or("Opaque"),
        data: secret.data.as_ref().map(|data| {
            data.iter()
                .map(|(key, value)| {
                    (
                        key,
                        base64::engine::general_purpose::STANDARD.encode(value.expose()),
                    )
                })
                .collect()
        }),
    };
    // Serializing strings and maps of strings cannot fail.
    match format {
        Format::Json => serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n",
        Format::Yaml => serde_norway::to_string(&manifest).unwrap_or_default(),
    }
}

/// Parser messages end with " at line X column Y"; the line is reported separately.
/// A parser's message without its location, and without any quoted value: serde quotes
/// the value it did not expect (`invalid type: string "…"`), which may be a secret (a
/// password at the wrong indentation), so everything between the first and the last `"`
/// is dropped.
fn strip_location(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(index) => &message[..index],
        None => message,
    };
    match (message.find('"'), message.rfind('"')) {
        (Some(first), Some(last)) if first < last => {
            format!("{}\"…\"{}", &message[..first], &message[last + 1..])
        }
        (Some(first), _) => format!("{}…", &message[..first]),
        _ => message.to_owned(),
    }
}

fn collect(document: Document, folder_namespace: Option<&str>, parsed: &mut Parsed) {
    let kind = document.kind.as_ref().and_then(scalar_text);
    match kind.as_deref() {
        Some("Secret") => {
            if let Some(secret) = to_secret(document, folder_namespace, &mut parsed.warnings) {
                parsed.secrets.push(secret);
            }
        }
        Some("List") | Some("SecretList") => {
            for item in document.items.into_iter().flatten().flatten() {
                collect(item, folder_namespace, parsed);
            }
        }
        _ => {}
    }
}

fn to_secret(
    document: Document,
    folder_namespace: Option<&str>,
    warnings: &mut Vec<String>,
) -> Option<Secret> {
    let metadata = document.metadata.unwrap_or_default();
    let Some(name) = metadata
        .name
        .as_ref()
        .and_then(scalar_text)
        .filter(|name| !name.is_empty())
    else {
        warnings.push("a Secret without metadata.name was skipped".into());
        return None;
    };
    let namespace = metadata
        .namespace
        .as_ref()
        .and_then(scalar_text)
        .filter(|namespace| !namespace.is_empty())
        .or_else(|| folder_namespace.map(str::to_owned));
    let Some(namespace) = namespace else {
        warnings.push(format!(
            "secret {name} was skipped: it has no metadata.namespace and is not in a namespace sub-folder"
        ));
        return None;
    };
    let id = format!("{namespace}/{name}");
    let labels = match string_map(metadata.labels.as_ref()) {
        Ok(labels) => labels,
        Err(key) => {
            warnings.push(format!(
                "secret {id} was skipped: label {key:?} is not a string"
            ));
            return None;
        }
    };
    let annotations = match string_map(metadata.annotations.as_ref()) {
        Ok(annotations) => annotations,
        Err(key) => {
            warnings.push(format!(
                "secret {id} was skipped: annotation {key:?} is not a string"
            ));
            return None;
        }
    };
    let data = match merge_data(document.data.as_ref(), document.string_data.as_ref()) {
        Ok(data) => data,
        Err(reason) => {
            warnings.push(format!("secret {id} was skipped: {reason}"));
            return None;
        }
    };
    Some(Secret {
        namespace,
        name,
        labels,
        annotations,
        data,
        secret_type: document.secret_type.as_ref().and_then(scalar_text),
        server: Default::default(),
    })
}

/// `data` decoded from base64, then `stringData` on top. `None` when neither is present.
fn merge_data(data: Option<&Value>, string_data: Option<&Value>) -> Result<Option<Data>, String> {
    if is_absent(data) && is_absent(string_data) {
        return Ok(None);
    }
    let mut merged = Data::new();
    for (key, value) in entries(data, "data")? {
        let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| {
                format!("data key {key:?} is not valid base64 (use stringData for plain text)")
            })?;
        merged.insert(key, Sensitive::new(decoded));
    }
    for (key, value) in entries(string_data, "stringData")? {
        merged.insert(key, Sensitive::new(value.into_bytes()));
    }
    Ok(Some(merged))
}

fn is_absent(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Null))
}

fn entries(value: Option<&Value>, field: &str) -> Result<Vec<(String, String)>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Mapping(mapping) => mapping
            .iter()
            .map(|(key, value)| {
                let key = scalar_text(key)
                    .ok_or_else(|| format!("{field} has a key that is not a string"))?;
                let value = match value {
                    Value::Null => String::new(),
                    other => scalar_text(other)
                        .ok_or_else(|| format!("{field} key {key:?} is not a string"))?,
                };
                Ok((key, value))
            })
            .collect(),
        _ => Err(format!("{field} is not a map")),
    }
}

/// A label or annotation map; the error names the first key whose value is not a scalar.
fn string_map(value: Option<&Value>) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(mapping)) => {
            for (key, value) in mapping {
                let key = scalar_text(key).unwrap_or_else(|| "?".into());
                let value = scalar_text(value).ok_or_else(|| key.clone())?;
                map.insert(key, value);
            }
        }
        Some(_) => return Err("(not a map)".into()),
    }
    Ok(map)
}

/// Strings as they are; numbers and booleans as YAML wrote them (kubectl would refuse
/// them, but the intent is plain).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_never_quote_a_value() {
        for (text, format) in [
            ("\"hunter2-secret\"\n", Format::Yaml),
            ("kind: Secret\nmetadata: hunter2-secret\n", Format::Yaml),
            ("\"hunter2-secret\"", Format::Json),
            (
                "{\"kind\": \"Secret\", \"metadata\": \"hunter2-secret\"}",
                Format::Json,
            ),
        ] {
            let error = parse(text, format, None).expect_err(text).to_string();
            assert!(!error.contains("hunter2"), "{error}");
            assert!(error.contains("invalid type"), "{error}");
        }
        assert_eq!(
            strip_location("invalid type: string \"a\\\"b\", expected x at line 1 column 2"),
            "invalid type: string \"…\", expected x"
        );
    }

    fn text(secret: &Secret, key: &str) -> String {
        secret.text(key).unwrap().unwrap().to_owned()
    }

    #[test]
    fn yaml_documents_data_and_string_data() {
        let yaml = r#"
---
apiVersion: v1
kind: Secret
metadata:
  name: a
  namespace: kargo-demo
  labels:
    kargo.akuity.io/cred-type: git
data:
  repoURL: aHR0cHM6Ly9naXRodWIuY29tL2V4YW1wbGUvYXBw
  password: b2xk
stringData:
  password: new
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ignored}
spec: {replicas: 1}
---
kind: Secret
metadata: {name: b}
"#;
        let parsed = parse(yaml, Format::Yaml, Some("folder-ns")).unwrap();
        assert_eq!(parsed.secrets.len(), 2, "{:?}", parsed.warnings);
        let a = &parsed.secrets[0];
        assert_eq!(a.id(), "kargo-demo/a");
        assert_eq!(text(a, "repoURL"), "https://github.com/example/app");
        assert_eq!(text(a, "password"), "new", "stringData wins over data");
        assert_eq!(a.labels["kargo.akuity.io/cred-type"], "git");
        let b = &parsed.secrets[1];
        assert_eq!(b.id(), "folder-ns/b");
        assert_eq!(b.data, None);
    }

    #[test]
    fn json_object_and_list() {
        let json = r#"{"apiVersion":"v1","kind":"List","items":[
            {"kind":"Secret","metadata":{"name":"x","namespace":"n"},"data":{"k":"dg=="}},
            {"kind":"ConfigMap","metadata":{"name":"y","namespace":"n"},"data":{"k":"v"}}]}"#;
        let parsed = parse(json, Format::Json, None).unwrap();
        assert_eq!(parsed.secrets.len(), 1);
        assert_eq!(text(&parsed.secrets[0], "k"), "v");
    }

    #[test]
    fn unusable_secrets_are_skipped_with_a_warning_naming_them() {
        let yaml = "kind: Secret\nmetadata: {name: nons}\n---\nkind: Secret\nmetadata: {name: bad, namespace: n}\ndata: {password: '!!notbase64'}\n";
        let parsed = parse(yaml, Format::Yaml, None).unwrap();
        assert!(parsed.secrets.is_empty());
        assert_eq!(parsed.warnings.len(), 2);
        assert!(parsed.warnings[0].contains("nons"));
        assert!(parsed.warnings[1].contains("n/bad") && parsed.warnings[1].contains("password"));
        assert!(!parsed.warnings[1].contains("notbase64"));
    }

    #[test]
    fn malformed_yaml_reports_the_line() {
        let yaml = "kind: Secret\nmetadata:\n  name: x\n  labels: [unclosed\n";
        let error = parse(yaml, Format::Yaml, None).unwrap_err();
        assert!(error.line.is_some(), "{error}");
        let error = parse("{\n\"kind\": }", Format::Json, None).unwrap_err();
        assert_eq!(error.line, Some(2));
    }

    #[test]
    fn splits_documents_at_markers_only() {
        let text = "a: 1\n---\nb: |\n  ---not a marker\n---  # comment\nc: 3\n...\n";
        let parts: Vec<&str> = split_yaml_documents(text)
            .iter()
            .map(|&(s, e, _)| &text[s..e])
            .collect();
        assert_eq!(
            parts,
            vec![
                "a: 1\n",
                "---\nb: |\n  ---not a marker\n",
                "---  # comment\nc: 3\n",
                "...\n"
            ]
        );
        let lines: Vec<usize> = split_yaml_documents(text)
            .iter()
            .map(|&(_, _, l)| l)
            .collect();
        assert_eq!(lines, vec![0, 1, 4, 6]);
    }

    #[test]
    fn rendered_manifests_parse_back_to_the_same_secret() {
        let yaml = "kind: Secret\ntype: Opaque\nmetadata:\n  name: a\n  namespace: n\n  labels: {kargo.akuity.io/cred-type: git}\n  annotations: {kargo.akuity.io/description: d}\nstringData: {repoURL: 'https://x/y', password: \"p\\nq\"}\n";
        let secret = parse(yaml, Format::Yaml, None).unwrap().secrets.remove(0);
        for format in [Format::Yaml, Format::Json] {
            let text = render(&secret, format);
            assert!(!text.contains("p\nq"), "values are base64: {text}");
            let back = parse(&text, format, None).unwrap().secrets.remove(0);
            assert_eq!(back, secret, "{text}");
        }
    }

    #[test]
    fn empty_documents_are_fine() {
        assert!(parse("", Format::Yaml, None).unwrap().secrets.is_empty());
        assert!(parse("---\n---\n", Format::Yaml, None)
            .unwrap()
            .secrets
            .is_empty());
        assert!(parse("# only a comment\n", Format::Yaml, None)
            .unwrap()
            .secrets
            .is_empty());
    }
}
