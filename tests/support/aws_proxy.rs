//! A recording HTTP/1.1 proxy in front of moto, for the ECR and STS tests. It records every
//! request, can rewrite moto's `expiresAt` (always 2015-01-01, which a correct cache never
//! keeps), and can answer chosen STS calls itself — 403 `AccessDenied` for given role ARNs,
//! a 500, or a closed connection — so that the tests can steer an identity's order of
//! attempts while moto still answers (and, with auth on, verifies) everything else.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

pub const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// What the proxy does besides forwarding.
#[derive(Debug, Clone, Default)]
pub struct ProxyRules {
    /// Sets every `authorizationData[].expiresAt` of a successful answer.
    pub expires_at: Option<f64>,
    /// `AssumeRole` of these role ARNs is answered 403 `AccessDenied`.
    pub deny_roles: Vec<String>,
    /// Actions (STS `Action=`, or a JSON API's `X-Amz-Target` operation) answered with this
    /// failure instead of being forwarded.
    pub fail_actions: Vec<(String, Failure)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The connection is closed without an answer.
    Close,
    /// An XML error answer with this status (a 3xx also says `Location: <proxy>/stolen`).
    Status(u16),
}

/// One request as the proxy received it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body of the answer the client got (empty when the proxy refused or closed).
    pub answer: Vec<u8>,
}

impl SeenRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A one-connection-at-a-time HTTP/1.1 proxy in front of moto, acting on [`ProxyRules`].
pub struct AwsProxy {
    port: u16,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl AwsProxy {
    pub fn start(upstream: u16, rules: ProxyRules) -> AwsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Err(error) = proxy_one(stream, upstream, &rules, &seen) {
                        eprintln!("expiry proxy: {error}");
                    }
                }
            })
        };
        AwsProxy {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// The form-encoded calls of this STS action, with their fields.
    pub fn sts_calls(&self, action: &str) -> Vec<(SeenRequest, Vec<(String, String)>)> {
        self.requests()
            .into_iter()
            .map(|request| {
                let fields = form_fields(&request.body);
                (request, fields)
            })
            .filter(|(_, fields)| fields.iter().any(|(k, v)| k == "Action" && v == action))
            .collect()
    }

    /// The `GetAuthorizationToken` calls that went through.
    pub fn token_calls(&self) -> usize {
        self.requests()
            .iter()
            .filter(|request| request.header("x-amz-target") == Some(ECR_TARGET))
            .count()
    }
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn proxy_one(
    mut client: TcpStream,
    upstream: u16,
    rules: &ProxyRules,
    seen: &Mutex<Vec<SeenRequest>>,
) -> std::io::Result<()> {
    let timeout = Some(Duration::from_secs(20));
    client.set_read_timeout(timeout)?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(()); // the wake-up connection of Drop
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let index = {
        let mut seen = seen.lock().unwrap();
        seen.push(SeenRequest {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            body: body.clone(),
            answer: Vec::new(),
        });
        seen.len() - 1
    };
    let target = headers
        .iter()
        .find(|(name, _)| name == "x-amz-target")
        .map(|(_, value)| value.clone());
    if let Some(failure) = chosen_failure(rules, &body, target.as_deref()) {
        return match failure {
            Failure::Close => {
                let _ = client.shutdown(std::net::Shutdown::Both);
                Ok(())
            }
            Failure::Status(status) => {
                let code = if status == 403 {
                    "AccessDenied"
                } else {
                    "InternalFailure"
                };
                let text = format!(
                    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>refused by the test proxy\n\u{1b}[31mand a forged second line</Message></Error><RequestId>test</RequestId></ErrorResponse>"
                );
                // A redirect points back at this proxy, where `/stolen` records what follows it.
                let host = headers
                    .iter()
                    .find(|(name, _)| name == "host")
                    .map(|(_, value)| value.as_str())
                    .unwrap_or_default();
                let location = if (300..400).contains(&status) {
                    format!("Location: http://{host}/stolen\r\n")
                } else {
                    String::new()
                };
                write!(
                    client,
                    "HTTP/1.1 {status} Refused\r\n{location}Content-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                )?;
                client.flush()?;
                let _ = client.shutdown(std::net::Shutdown::Both);
                Ok(())
            }
        };
    }

    let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
    server.set_read_timeout(timeout)?;
    let mut forward = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in &headers {
        if !matches!(
            name.as_str(),
            "connection" | "keep-alive" | "content-length"
        ) {
            forward.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    forward.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    server.write_all(forward.as_bytes())?;
    server.write_all(&body)?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;

    let split = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of headers in moto's answer"))?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut answer_body = answer[split + 4..].to_vec();
    let mut head_lines = head.split("\r\n");
    let status_line = head_lines.next().unwrap_or_default().to_owned();
    let answer_headers: Vec<(String, String)> = head_lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    if answer_headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked")
    }) {
        answer_body = dechunk(&answer_body);
    }
    if let (Some(expires_at), Some("200")) =
        (rules.expires_at, status_line.split_whitespace().nth(1))
    {
        if let Ok(mut value) = serde_json::from_slice::<Value>(&answer_body) {
            if let Some(items) = value["authorizationData"].as_array_mut() {
                for item in items {
                    item["expiresAt"] = json!(expires_at);
                }
                answer_body = serde_json::to_vec(&value).unwrap();
            }
        }
    }
    seen.lock().unwrap()[index].answer = answer_body.clone();
    let mut reply = format!("{status_line}\r\n");
    for (name, value) in &answer_headers {
        let lower = name.to_ascii_lowercase();
        if !matches!(
            lower.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            reply.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    reply.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        answer_body.len()
    ));
    client.write_all(reply.as_bytes())?;
    client.write_all(&answer_body)?;
    client.flush()?;
    let _ = client.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// The failure the rules choose for a call, if any: the action is a form's `Action`
/// (STS) or what follows the `.` of `X-Amz-Target` (JSON APIs such as ECR).
fn chosen_failure(rules: &ProxyRules, body: &[u8], target: Option<&str>) -> Option<Failure> {
    let form = form_fields(body);
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let action = field("Action").or_else(|| target?.rsplit('.').next())?;
    if let Some((_, failure)) = rules.fail_actions.iter().find(|(a, _)| a == action) {
        return Some(*failure);
    }
    let denied = action == "AssumeRole"
        && field("RoleArn").is_some_and(|role| rules.deny_roles.iter().any(|d| d == role));
    denied.then_some(Failure::Status(403))
}

/// The fields of an `application/x-www-form-urlencoded` body, decoded.
pub fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 2;
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (decode(key), decode(value)))
        .collect()
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = data.windows(2).position(|window| window == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        body.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    body
}
