//! git's credential helper protocol (`git help credential`, SPEC §8.1).
//!
//! Input is `key=value` lines up to a blank line or EOF. git 2.47 sends `capability[]`,
//! `protocol`, `host` (with `:port`), `path` (with `credential.useHttpPath`), `wwwauth[]`;
//! older gits send `protocol`, `host`, `path`. Unknown keys are ignored; NUL anywhere is an
//! error (git itself refuses it), as is more than [`MAX_INPUT`] bytes. So is a carriage
//! return inside a line, or a NUL, newline or carriage return %-escaped in a `url=`: git
//! (`credential.protectProtocol`) refuses to send them, and a value holding one could
//! smuggle a second attribute into any line-based output.

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
    #[error("line {line} contains a carriage return")]
    CarriageReturn { line: usize },
    #[error(
        "line {line}: the url's {component} contains a %-escaped newline, carriage return or NUL"
    )]
    UrlControl {
        line: usize,
        component: &'static str,
    },
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
        if line.contains(&b'\r') {
            return Err(GitProtocolError::CarriageReturn { line: line_number });
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| GitProtocolError::NotUtf8 { line: line_number })?;
        let (key, value) = line
            .split_once('=')
            .ok_or(GitProtocolError::NotKeyValue { line: line_number })?;
        request
            .apply(key, value)
            .map_err(|component| GitProtocolError::UrlControl {
                line: line_number,
                component,
            })?;
    }
    Ok(request)
}

impl GitRequest {
    /// Sets one attribute; for `url=`, the error names the component that decoded to a
    /// control character.
    fn apply(&mut self, key: &str, value: &str) -> Result<(), &'static str> {
        match key {
            "protocol" => self.protocol = Some(value.to_owned()),
            "host" => self.host = Some(value.to_owned()),
            "path" => self.path = Some(value.to_owned()),
            "username" => self.username = Some(value.to_owned()),
            "password" => self.password = Some(Sensitive::from(value)),
            "url" => return self.apply_url(value),
            _ => {}
        }
        Ok(())
    }

    /// `url=` resets the request to what the URL names (git's `credential_from_url`).
    fn apply_url(&mut self, url: &str) -> Result<(), &'static str> {
        *self = GitRequest::default();
        let Some((protocol, rest)) = url.split_once("://") else {
            return Ok(());
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
                self.username = Some(url_component(user, "username")?);
                self.password = match password {
                    Some(password) => Some(Sensitive::new(url_component(password, "password")?)),
                    None => None,
                };
                host
            }
            None => authority,
        };
        self.host = Some(url_component(host, "host")?);
        self.path = match path.filter(|path| !path.is_empty()) {
            Some(path) => Some(url_component(path, "path")?),
            None => None,
        };
        Ok(())
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

/// A %-decoded `url=` component, refused (by name) if it decodes to a NUL, newline or
/// carriage return, as git's `check_url_component` refuses them.
fn url_component(text: &str, component: &'static str) -> Result<String, &'static str> {
    let decoded = percent_decode(text);
    if decoded.contains(['\0', '\n', '\r']) {
        return Err(component);
    }
    Ok(decoded)
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

    /// Found by fuzzing: a %-escaped control character in `url=`, or a bare carriage
    /// return, used to reach the request's values.
    #[test]
    fn control_characters_in_values_are_refused() {
        assert_eq!(
            parse("protocol=https\nhost=git\rhub.com\n"),
            Err(GitProtocolError::CarriageReturn { line: 2 })
        );
        assert_eq!(
            parse("host=a\r\r\n"),
            Err(GitProtocolError::CarriageReturn { line: 1 })
        );
        for (url, component) in [
            ("https://example.com%0a/repo", "host"),
            ("https://u:p%00w@example.com/repo", "password"),
            ("https://ev%0dil@example.com/repo", "username"),
            ("https://example.com/a%0Ab", "path"),
        ] {
            assert_eq!(
                parse(&format!("protocol=https\nurl={url}\n")),
                Err(GitProtocolError::UrlControl { line: 2, component }),
                "{url}"
            );
        }
        // A CRLF line ending is still fine.
        assert!(parse("protocol=https\r\nhost=h\r\n\r\n").is_ok());
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
