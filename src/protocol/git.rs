//! git's credential helper protocol (`git help credential`, SPEC §8.1).
//!
//! Input is `key=value` lines up to a blank line or EOF. git 2.47 sends `capability[]`,
//! `protocol`, `host` (with `:port`), `path` (with `credential.useHttpPath`), `wwwauth[]`;
//! older gits send `protocol`, `host`, `path`. Unknown keys are ignored; NUL anywhere is an
//! error (git itself refuses it), as is more than [`MAX_INPUT`] bytes.

use std::io::BufRead;

use crate::sensitive::Sensitive;

/// The most input a helper accepts.
pub const MAX_INPUT: usize = 64 * 1024;

/// What git asks about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GitRequest {
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub path: Option<String>,
    pub username: Option<String>,
    pub password: Option<Sensitive<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitProtocolError {
    #[error("input is larger than {} KiB", MAX_INPUT / 1024)]
    TooLarge,
    #[error("line {line} contains a NUL byte")]
    Nul { line: usize },
    #[error("line {line} is not key=value")]
    NotKeyValue { line: usize },
    #[error("line {line} is not UTF-8")]
    NotUtf8 { line: usize },
    #[error("reading input: {0}")]
    Io(String),
}

/// Reads a request from git, stopping at a blank line or EOF.
pub fn read_request(reader: impl BufRead) -> Result<GitRequest, GitProtocolError> {
    let mut request = GitRequest::default();
    let mut total = 0usize;
    let mut limited = reader.take(MAX_INPUT as u64 + 1);
    let mut buffer = Vec::new();
    let mut line_number = 0;
    loop {
        buffer.clear();
        let read = limited
            .read_until(b'\n', &mut buffer)
            .map_err(|error| GitProtocolError::Io(error.to_string()))?;
        if read == 0 {
            break;
        }
        total += read;
        if total > MAX_INPUT {
            return Err(GitProtocolError::TooLarge);
        }
        line_number += 1;
        let line = buffer.strip_suffix(b"\n").unwrap_or(&buffer);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.contains(&0) {
            return Err(GitProtocolError::Nul { line: line_number });
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| GitProtocolError::NotUtf8 { line: line_number })?;
        let (key, value) = line
            .split_once('=')
            .ok_or(GitProtocolError::NotKeyValue { line: line_number })?;
        request.apply(key, value);
    }
    Ok(request)
}

impl GitRequest {
    fn apply(&mut self, key: &str, value: &str) {
        match key {
            "protocol" => self.protocol = Some(value.to_owned()),
            "host" => self.host = Some(value.to_owned()),
            "path" => self.path = Some(value.to_owned()),
            "username" => self.username = Some(value.to_owned()),
            "password" => self.password = Some(Sensitive::from(value)),
            "url" => self.apply_url(value),
            _ => {}
        }
    }

    /// `url=` resets the request to what the URL names (git's `credential_from_url`).
    fn apply_url(&mut self, url: &str) {
        *self = GitRequest::default();
        let Some((protocol, rest)) = url.split_once("://") else {
            return;
        };
        self.protocol = Some(protocol.to_owned());
        let (authority, path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, Some(path)),
            None => (rest, None),
        };
        let host = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (userinfo, None),
                };
                self.username = Some(percent_decode(user));
                self.password = password.map(|password| Sensitive::new(percent_decode(password)));
                host
            }
            None => authority,
        };
        self.host = Some(percent_decode(host));
        self.path = path.filter(|path| !path.is_empty()).map(percent_decode);
    }

    /// The repository URL git is asking about: `protocol://host[/path]`. `None` without
    /// protocol and host.
    pub fn repository_url(&self) -> Option<String> {
        let protocol = self.protocol.as_deref().filter(|p| !p.is_empty())?;
        let host = self.host.as_deref().filter(|h| !h.is_empty())?;
        Some(
            match self.path.as_deref().map(|p| p.trim_start_matches('/')) {
                Some(path) if !path.is_empty() => format!("{protocol}://{host}/{path}"),
                _ => format!("{protocol}://{host}"),
            },
        )
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(high), Some(low)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                out.push(high << 4 | low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// The answer to `get`: `username`, `password` and, for minted tokens, when it expires.
pub fn format_credentials(
    username: &str,
    password: &Sensitive<String>,
    expires_at: Option<i64>,
) -> String {
    let mut out = format!("username={username}\npassword={}\n", password.expose());
    if let Some(expiry) = expires_at {
        out.push_str(&format!("password_expiry_utc={expiry}\n"));
    }
    out
}

/// Tells git to stop asking: a Secret matched but produced nothing, and a prompt would
/// hang a CI job.
pub const QUIT: &str = "quit=1\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<GitRequest, GitProtocolError> {
        read_request(input.as_bytes())
    }

    #[test]
    fn git_2_47_get_with_capabilities_and_no_blank_line() {
        let request = parse(
            "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=127.0.0.1:8443\npath=org/repo.git\nwwwauth[]=Basic realm=\"git\"\n",
        )
        .unwrap();
        assert_eq!(
            request.repository_url().unwrap(),
            "https://127.0.0.1:8443/org/repo.git"
        );
    }

    #[test]
    fn stops_at_blank_line_and_ignores_unknown_keys() {
        let request = parse("protocol=https\nhost=github.com\nfuture=1\n\nhost=ignored\n").unwrap();
        assert_eq!(request.repository_url().unwrap(), "https://github.com");
    }

    #[test]
    fn url_key_sets_every_part() {
        let request = parse("url=https://bob:s%3Dcret@example.com:8080/a/b.git\n").unwrap();
        assert_eq!(
            request.repository_url().unwrap(),
            "https://example.com:8080/a/b.git"
        );
        assert_eq!(request.username.as_deref(), Some("bob"));
        assert_eq!(request.password.unwrap().expose(), "s=cret");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            parse("protocol=https\nhost\n"),
            Err(GitProtocolError::NotKeyValue { line: 2 })
        );
        assert_eq!(parse("host=a\0b\n"), Err(GitProtocolError::Nul { line: 1 }));
        let big = format!("protocol=https\nhost={}\n", "a".repeat(MAX_INPUT));
        assert_eq!(parse(&big), Err(GitProtocolError::TooLarge));
        assert!(read_request(&b"host=\xff\n"[..]).is_err());
    }

    #[test]
    fn no_host_means_no_url() {
        assert_eq!(parse("protocol=https\n").unwrap().repository_url(), None);
        assert_eq!(parse("").unwrap().repository_url(), None);
    }

    #[test]
    fn formats_credentials() {
        let password = Sensitive::from("p");
        assert_eq!(
            format_credentials("u", &password, None),
            "username=u\npassword=p\n"
        );
        assert_eq!(
            format_credentials("u", &password, Some(1700000000)),
            "username=u\npassword=p\npassword_expiry_utc=1700000000\n"
        );
    }
}
