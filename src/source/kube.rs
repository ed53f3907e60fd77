//! The `kubernetes` source: Kargo's real Secrets, through the `kube` client (SPEC §3).
//!
//! Configuration as kubectl finds it (`KUBECONFIG`, `~/.kube/config`, `--kube-context`), or
//! the in-cluster service account. The project and shared namespaces are listed at the same
//! time, with the label selector `kargo.akuity.io/cred-type=<type>` (never all Secrets),
//! following `continue` pages. Every request is bounded: connecting by the connect timeout,
//! the whole request by the request timeout. A namespace the credentials may not read (403)
//! is skipped with one warning; anything else that fails is an error naming the API server
//! and the namespace.
//!
//! Lists are read as raw JSON, not typed Secrets, so that one Secret with corrupt base64 or
//! odd labels is skipped with a warning instead of failing the whole list.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::config::KubeConfigOptions;
use kube::core::Request;
use serde_json::Value;

use super::manifest::{self, Format};
use super::{Listed, Listing, Source, SourceError};
use crate::config::Settings;
use crate::secret::{CredType, Data, Secret, ServerFields, CRED_TYPE_LABEL};
use crate::sensitive::Sensitive;

/// Secrets per LIST page.
const PAGE_SIZE: u32 = 500;

pub struct KubeSource {
    context: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    connection: OnceCell<Connection>,
    /// Namespaces already reported as unreadable: one warning each, however many types
    /// are listed.
    warned: RefCell<HashSet<String>>,
}

struct Connection {
    client: kube::Client,
    /// The API server's URL, for messages.
    server: String,
}

/// What one namespace's listing came to.
enum NamespaceOutcome {
    Secrets(Vec<Secret>),
    Forbidden(String),
}

impl KubeSource {
    pub fn new(settings: &Settings) -> KubeSource {
        KubeSource {
            context: settings.kube_context.clone(),
            connect_timeout: settings.connect_timeout,
            request_timeout: settings.request_timeout,
            connection: OnceCell::new(),
            warned: RefCell::new(HashSet::new()),
        }
    }

    fn connection(&self) -> Result<&Connection, SourceError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection);
        }
        let connection = self.connect()?;
        Ok(self.connection.get_or_init(|| connection))
    }

    fn connect(&self) -> Result<Connection, SourceError> {
        let config_error = |reason: String| SourceError::KubeConfig { reason };
        let mut config = block_on(async {
            match &self.context {
                Some(context) => {
                    let options = KubeConfigOptions {
                        context: Some(context.clone()),
                        ..KubeConfigOptions::default()
                    };
                    kube::Config::from_kubeconfig(&options)
                        .await
                        .map_err(|e| e.to_string())
                }
                None => kube::Config::infer().await.map_err(|e| e.to_string()),
            }
        })?
        .map_err(config_error)?;
        config.connect_timeout = Some(self.connect_timeout);
        config.read_timeout = Some(self.request_timeout);
        config.write_timeout = Some(self.request_timeout);
        let server = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        // Building a client needs a runtime context (it sets up connection pooling).
        let client = block_on(async { kube::Client::try_from(config) })?.map_err(|error| {
            config_error(format!(
                "building a client for {server}: {}",
                describe(&error)
            ))
        })?;
        Ok(Connection { client, server })
    }

    /// Runs one API request with the request timeout.
    async fn call(&self, request: http::Request<Vec<u8>>) -> Result<Value, CallError> {
        let connection = self
            .connection
            .get()
            .ok_or(CallError::Other("not connected".into()))?;
        self.bounded(connection.client.request::<Value>(request))
            .await
    }

    /// Awaits a client call within the request timeout.
    async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, CallError> {
        match tokio::time::timeout(self.request_timeout, call).await {
            Err(_) => Err(CallError::Other(format!(
                "no answer within {:.1} s (KARGO_CREDS_REQUEST_TIMEOUT)",
                self.request_timeout.as_secs_f64()
            ))),
            Ok(Err(kube::Error::Api(status))) => Err(CallError::Status {
                code: status.code,
                message: status.message.clone(),
            }),
            Ok(Err(error)) => Err(CallError::Other(describe(&error))),
            Ok(Ok(value)) => Ok(value),
        }
    }

    async fn list_namespace(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<NamespaceOutcome, CallError> {
        let request = Request::new(format!("/api/v1/namespaces/{namespace}/secrets"));
        let mut params = ListParams::default().labels(selector).limit(PAGE_SIZE);
        let mut secrets = Vec::new();
        loop {
            let http_request = request
                .list(&params)
                .map_err(|e| CallError::Other(e.to_string()))?;
            let page = match self.call(http_request).await {
                Err(CallError::Status { code: 403, message }) => {
                    return Ok(NamespaceOutcome::Forbidden(message))
                }
                other => other?,
            };
            for item in page["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                match secret_from_json(item, namespace) {
                    Ok(secret) => secrets.push(secret),
                    Err(warning) => crate::warn!("{warning}"),
                }
            }
            match page["metadata"]["continue"]
                .as_str()
                .filter(|token| !token.is_empty())
            {
                Some(token) => params = params.continue_token(token),
                None => return Ok(NamespaceOutcome::Secrets(secrets)),
            }
        }
    }

    fn error(&self, action: &str, namespace: &str, error: CallError) -> SourceError {
        let server = self
            .connection
            .get()
            .map(|c| c.server.clone())
            .unwrap_or_default();
        SourceError::Kube {
            action: action.to_owned(),
            namespace: namespace.to_owned(),
            server,
            reason: error.describe(),
        }
    }

    fn secrets_path(namespace: &str) -> Result<Request, SourceError> {
        check_name("namespace", namespace)?;
        Ok(Request::new(format!(
            "/api/v1/namespaces/{namespace}/secrets"
        )))
    }

    /// Creates a Secret.
    fn create_secret(&self, secret: &Secret) -> Result<(), SourceError> {
        self.connection()?;
        check_name("Secret name", &secret.name)?;
        let body = manifest::render(secret, Format::Json).into_bytes();
        let request = Self::secrets_path(&secret.namespace)?
            .create(&PostParams::default(), body)
            .map_err(|e| SourceError::Other(e.to_string()))?;
        match block_on(self.call(request))? {
            Ok(_) => Ok(()),
            Err(CallError::Status { code: 409, .. }) => {
                Err(SourceError::AlreadyExists { id: secret.id() })
            }
            Err(error) => Err(self.error(
                &format!("creating Secret {}", secret.name),
                &secret.namespace,
                error,
            )),
        }
    }

    /// Replaces a Secret's labels, annotations and data, and nothing else: the object as the
    /// server has it is read, those fields edited, and written back at the version read —
    /// so owner references, finalizers, its type and fields this tool does not know survive,
    /// and a concurrent change is a conflict, never lost.
    fn replace_secret(&self, secret: &Secret) -> Result<(), SourceError> {
        self.connection()?;
        check_name("Secret name", &secret.name)?;
        let path = Self::secrets_path(&secret.namespace)?;
        let get = path
            .get(&secret.name, &Default::default())
            .map_err(|e| SourceError::Other(e.to_string()))?;
        let mut object = match block_on(self.call(get))? {
            Ok(object) => object,
            Err(CallError::Status { code: 404, .. }) => {
                return Err(SourceError::NotFound { id: secret.id() })
            }
            Err(error) => {
                return Err(self.error(
                    &format!("reading Secret {}", secret.name),
                    &secret.namespace,
                    error,
                ))
            }
        };
        let read_version = object["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_owned);
        if secret.server.resource_version.is_some()
            && read_version != secret.server.resource_version
        {
            return Err(conflict(secret));
        }
        let rendered: Value = serde_json::from_str(&manifest::render(secret, Format::Json))
            .map_err(|e| SourceError::Other(e.to_string()))?;
        object["metadata"]["labels"] = rendered["metadata"]["labels"].clone();
        object["metadata"]["annotations"] = rendered["metadata"]["annotations"].clone();
        object["data"] = rendered["data"].clone();
        let body = serde_json::to_vec(&object).map_err(|e| SourceError::Other(e.to_string()))?;
        let put = path
            .replace(&secret.name, &PostParams::default(), body)
            .map_err(|e| SourceError::Other(e.to_string()))?;
        match block_on(self.call(put))? {
            Ok(_) => Ok(()),
            Err(CallError::Status { code: 404, .. }) => {
                Err(SourceError::NotFound { id: secret.id() })
            }
            Err(CallError::Status { code: 409, .. }) => Err(conflict(secret)),
            Err(error) => Err(self.error(
                &format!("replacing Secret {}", secret.name),
                &secret.namespace,
                error,
            )),
        }
    }
}

/// What `kargo-creds doctor` learns from the API server: that it answers, its clock, and
/// whether these credentials may list Secrets in each namespace.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The API server's URL.
    pub server: String,
    /// Its `gitVersion`, when `/version` said.
    pub version: Option<String>,
    /// Its clock: the `Date` header of the `/version` answer, in Unix seconds.
    pub server_date: Option<i64>,
    /// The local clock when that answer arrived, in Unix seconds.
    pub local_date: i64,
    /// One per namespace asked about, in the order given.
    pub access: Vec<(String, Access)>,
}

/// Whether a SelfSubjectAccessReview allows `list secrets` in a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Allowed,
    Denied {
        reason: String,
    },
    /// The review itself failed (not answered, or an error status).
    Unknown {
        error: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Config(#[from] SourceError),
    #[error("API server {server} is unreachable: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("API server {server} answered GET /version with {status}: {message}")]
    Refused {
        server: String,
        status: u16,
        message: String,
    },
}

impl KubeSource {
    /// Asks the API server for `/version` (is it there? what time is it?) and, for each
    /// namespace, a SelfSubjectAccessReview for `list secrets`: one request each, every one
    /// bounded by the connect and request timeouts. Reads no Secret.
    pub fn probe(&self, namespaces: &[&str]) -> Result<Probe, ProbeError> {
        let connection = self.connection()?;
        let server = connection.server.clone();
        let runtime = crate::net::runtime().map_err(SourceError::Other)?;
        let unreachable = |reason: String| ProbeError::Unreachable {
            server: server.clone(),
            reason,
        };
        let request = http::Request::get("/version")
            .body(kube::client::Body::empty())
            .map_err(|error| unreachable(error.to_string()))?;
        let (status, server_date, body) = runtime
            .block_on(async {
                let response = self.bounded(connection.client.send(request)).await?;
                let status = response.status().as_u16();
                let server_date = response
                    .headers()
                    .get(http::header::DATE)
                    .and_then(|value| value.to_str().ok())
                    .and_then(crate::timefmt::parse_http_date);
                let body = self.bounded(response.into_body().collect_bytes()).await?;
                Ok::<_, CallError>((status, server_date, body))
            })
            .map_err(|error| unreachable(error.describe()))?;
        let local_date = crate::lookup::unix_now();
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(ProbeError::Refused {
                server,
                status,
                message: answer["message"]
                    .as_str()
                    .unwrap_or("(no message)")
                    .trim()
                    .to_owned(),
            });
        }
        let access = namespaces
            .iter()
            .map(|namespace| {
                let access = match check_name("namespace", namespace) {
                    Ok(()) => runtime.block_on(self.may_list_secrets(namespace)),
                    Err(error) => Access::Unknown {
                        error: error.to_string(),
                    },
                };
                ((*namespace).to_owned(), access)
            })
            .collect();
        Ok(Probe {
            server,
            version: answer["gitVersion"].as_str().map(str::to_owned),
            server_date,
            local_date,
            access,
        })
    }

    /// A SelfSubjectAccessReview: may these credentials `list` `secrets` in `namespace`?
    async fn may_list_secrets(&self, namespace: &str) -> Access {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
        };
        let Some(connection) = self.connection.get() else {
            return Access::Unknown {
                error: "not connected".into(),
            };
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_owned()),
                    verb: Some("list".into()),
                    resource: Some("secrets".into()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let api = kube::Api::<SelfSubjectAccessReview>::all(connection.client.clone());
        match self
            .bounded(api.create(&PostParams::default(), &review))
            .await
        {
            Err(error) => Access::Unknown {
                error: error.describe(),
            },
            Ok(answer) => match answer.status {
                Some(status) if status.allowed => Access::Allowed,
                Some(status) => Access::Denied {
                    reason: status
                        .reason
                        .or(status.evaluation_error)
                        .unwrap_or_else(|| "no RBAC rule allows it".into()),
                },
                None => Access::Unknown {
                    error: "the review came back without a status".into(),
                },
            },
        }
    }
}

fn conflict(secret: &Secret) -> SourceError {
    SourceError::Other(format!(
        "secret {} changed while being updated; run the command again",
        secret.id()
    ))
}

enum CallError {
    Status { code: u16, message: String },
    Other(String),
}

impl CallError {
    /// One line: the status code and the server's message, or what went wrong.
    fn describe(self) -> String {
        match self {
            CallError::Status { code, message } => format!("{code} {}", message.trim()),
            CallError::Other(reason) => reason,
        }
    }
}

impl Source for KubeSource {
    fn describe(&self) -> String {
        match self.connection.get() {
            Some(connection) => format!("kubernetes ({})", connection.server),
            None => match &self.context {
                Some(context) => format!("kubernetes (context {context})"),
                None => "kubernetes (kubeconfig or in-cluster)".into(),
            },
        }
    }

    fn list(
        &self,
        namespaces: &[&str],
        cred_type: CredType,
    ) -> Result<Vec<Listing<'_>>, SourceError> {
        self.connection()?;
        for namespace in namespaces {
            check_name("namespace", namespace)?;
        }
        let selector = format!("{CRED_TYPE_LABEL}={}", cred_type.as_str());
        // Both namespaces are in flight at once: a lookup costs one round trip, not two.
        let outcomes = block_on(async {
            let lists = namespaces
                .iter()
                .map(|namespace| self.list_namespace(namespace, &selector));
            join_all(lists.collect()).await
        })?;
        let mut listings = Vec::with_capacity(namespaces.len());
        for (namespace, outcome) in namespaces.iter().zip(outcomes) {
            let (secrets, forbidden) = match outcome {
                Ok(NamespaceOutcome::Secrets(secrets)) => (secrets, None),
                Ok(NamespaceOutcome::Forbidden(message)) => {
                    if self.warned.borrow_mut().insert((*namespace).to_owned()) {
                        crate::warn!(
                            "skipping namespace {namespace}: Secrets there are not readable ({})",
                            message.trim()
                        );
                    }
                    (Vec::new(), Some(message.trim().to_owned()))
                }
                Err(error) => return Err(self.error("listing Secrets", namespace, error)),
            };
            listings.push(Listing {
                namespace: (*namespace).to_owned(),
                secrets: secrets
                    .into_iter()
                    .map(|secret| Listed::Whole(Box::new(secret)))
                    .collect(),
                forbidden,
            });
        }
        Ok(listings)
    }

    fn get(&self, namespace: &str, name: &str) -> Result<Option<Secret>, SourceError> {
        self.connection()?;
        check_name("Secret name", name)?;
        let request = Self::secrets_path(namespace)?
            .get(name, &Default::default())
            .map_err(|e| SourceError::Other(e.to_string()))?;
        match block_on(self.call(request))? {
            Ok(item) => secret_from_json(&item, namespace)
                .map(Some)
                .map_err(SourceError::Other),
            Err(CallError::Status { code: 404, .. }) => Ok(None),
            Err(error) => Err(self.error(&format!("reading Secret {name}"), namespace, error)),
        }
    }

    fn complete(&self, listed: &Listed<'_>) -> Result<Secret, SourceError> {
        match listed {
            Listed::Whole(secret) => Ok(secret.as_ref().clone()),
            Listed::Summary(summary) => Err(SourceError::Other(format!(
                "secret {}/{} was not listed by this source",
                summary.namespace, summary.name
            ))),
        }
    }

    fn create(&self, secret: &Secret) -> Result<(), SourceError> {
        self.create_secret(secret)
    }

    fn replace(&self, secret: &Secret) -> Result<(), SourceError> {
        self.replace_secret(secret)
    }

    fn delete(&self, namespace: &str, name: &str) -> Result<(), SourceError> {
        self.connection()?;
        check_name("Secret name", name)?;
        let request = Self::secrets_path(namespace)?
            .delete(name, &DeleteParams::default())
            .map_err(|e| SourceError::Other(e.to_string()))?;
        match block_on(self.call(request))? {
            Ok(_) => Ok(()),
            Err(CallError::Status { code: 404, .. }) => Err(SourceError::NotFound {
                id: format!("{namespace}/{name}"),
            }),
            Err(error) => Err(self.error(&format!("deleting Secret {name}"), namespace, error)),
        }
    }
}

/// Runs a future on the shared runtime.
fn block_on<F: Future>(future: F) -> Result<F::Output, SourceError> {
    let runtime = crate::net::runtime().map_err(SourceError::Other)?;
    Ok(runtime.block_on(future))
}

/// Awaits futures concurrently, keeping their order (a tiny `join_all`).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Refuses names that are not DNS labels/subdomains before they reach a URL path.
fn check_name(what: &str, name: &str) -> Result<(), SourceError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err(SourceError::Other(format!(
            "{what} {name:?} is not a valid Kubernetes name"
        )))
    }
}

/// The innermost causes of a client error, which say what actually happened
/// ("tcp connect error: Connection refused").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut messages = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        messages.push(cause.to_string());
        source = cause.source();
    }
    let innermost: Vec<&String> = messages.iter().rev().take(2).collect();
    innermost
        .into_iter()
        .rev()
        .cloned()
        .collect::<Vec<_>>()
        .join(": ")
}

/// A Secret from the API's JSON. The error (a warning to print) names the Secret.
pub fn secret_from_json(item: &Value, namespace: &str) -> Result<Secret, String> {
    let metadata = &item["metadata"];
    let name = metadata["name"].as_str().unwrap_or_default().to_owned();
    let namespace = metadata["namespace"]
        .as_str()
        .unwrap_or(namespace)
        .to_owned();
    let id = format!("{namespace}/{name}");
    let labels = string_map(&metadata["labels"])
        .map_err(|key| format!("skipping secret {id}: label {key:?} is not a string"))?;
    let annotations = string_map(&metadata["annotations"])
        .map_err(|key| format!("skipping secret {id}: annotation {key:?} is not a string"))?;
    let data = match &item["data"] {
        Value::Null => None,
        Value::Object(entries) => {
            let mut data = Data::new();
            for (key, value) in entries {
                let decoded = value
                    .as_str()
                    .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok())
                    .ok_or_else(|| {
                        format!("skipping secret {id}: data key {key:?} is not valid base64")
                    })?;
                data.insert(key.clone(), Sensitive::new(decoded));
            }
            Some(data)
        }
        _ => return Err(format!("skipping secret {id}: data is not a map")),
    };
    Ok(Secret {
        namespace,
        name,
        labels,
        annotations,
        data,
        secret_type: item["type"].as_str().map(str::to_owned),
        server: ServerFields {
            created_at: metadata["creationTimestamp"]
                .as_str()
                .and_then(crate::timefmt::parse_rfc3339),
            resource_version: metadata["resourceVersion"].as_str().map(str::to_owned),
            uid: metadata["uid"].as_str().map(str::to_owned),
        },
    })
}

fn string_map(value: &Value) -> Result<BTreeMap<String, String>, String> {
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(entries) => entries
            .iter()
            .map(|(key, value)| {
                value
                    .as_str()
                    .map(|text| (key.clone(), text.to_owned()))
                    .ok_or_else(|| key.clone())
            })
            .collect(),
        _ => Err("(not a map)".into()),
    }
}
