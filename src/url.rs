//! Repository URL normalization, per credential type (SPEC §5.1).
//!
//! Pure functions only: no I/O, no configuration. Two URLs of one type name the same
//! repository exactly when their normalized forms are equal. The reference is
//! `../shared/testdata/kargo-normalize.json`; the tests below replay every case in it.

/// Removes every character Go's `unicode.IsPrint` rejects (controls, format characters such
/// as U+FEFF and U+200B, every space but U+0020), then trims surrounding whitespace.
pub fn sanitize(input: &str) -> String {
    // Fast path (nearly every URL): printable ASCII only, so there is nothing to remove.
    if input.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return input.trim_matches(' ').to_owned();
    }
    let printable: String = input.chars().filter(|&c| is_go_printable(c)).collect();
    printable.trim().to_owned()
}

/// Normalizes a git repository URL (https, ssh or scp-style).
pub fn normalize_git_url(input: &str) -> String {
    try_normalize_git(input).unwrap_or_else(|| input.to_owned())
}

/// Normalizes a container image repository reference.
pub fn normalize_image_url(input: &str) -> String {
    try_normalize_image(input).unwrap_or_else(|| input.to_owned())
}

/// Normalizes a Helm chart repository URL (`oci://` or classic `https://`).
pub fn normalize_helm_url(input: &str) -> String {
    try_normalize_helm(input).unwrap_or_else(|| input.to_owned())
}

/// The registry host of a normalized image reference: `docker.io` for Docker Hub names.
pub fn registry_host_of_normalized_image(normalized: &str) -> &str {
    match normalized.split_once('/') {
        Some((first, _)) if names_registry(first) => first,
        _ => DOCKER_HUB,
    }
}

/// Reduces a docker-credential-helpers server URL (`https://index.docker.io/v1/`,
/// `ghcr.io`, `127.0.0.1:5000`, `https://host:5000/v2/`) to a registry host.
///
/// Sanitized and lower-cased as image references are (SPEC §5.1), so that the host
/// compares equal to the registry of a Secret's normalized `repoURL` and carries no
/// control character into messages or the cache.
pub fn registry_host_of_server_url(server_url: &str) -> String {
    let clean = sanitize_and_lowercase(server_url);
    let without_scheme = clean
        .strip_prefix("https://")
        .or_else(|| clean.strip_prefix("http://"))
        .unwrap_or(&clean);
    let host = before_first(without_scheme, &['/']).trim();
    if is_docker_hub_registry(host) {
        DOCKER_HUB.to_owned()
    } else {
        host.to_owned()
    }
}

/// The host (with port) of a normalized `http(s)://` or `ssh://` URL, if it has one.
pub fn host_of_url(normalized: &str) -> Option<&str> {
    let rest = ["http://", "https://", "ssh://"]
        .iter()
        .find_map(|scheme| strip_prefix_ignore_case(normalized, scheme))?;
    let authority = before_first(rest, &['/', '?', '#']);
    let host = authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..]);
    (!host.is_empty()).then_some(host)
}

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_INDEX: &str = "index.docker.io";
const DOCKER_HUB_REGISTRY_1: &str = "registry-1.docker.io";

fn is_docker_hub_registry(host: &str) -> bool {
    matches!(host, DOCKER_HUB | DOCKER_HUB_INDEX | DOCKER_HUB_REGISTRY_1)
}

/// go-containerregistry's rule: a first path segment names a registry only if it looks like
/// a host (has a dot or a port) or is `localhost`.
fn names_registry(segment: &str) -> bool {
    segment.contains(['.', ':']) || segment == "localhost"
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn before_first<'a>(s: &'a str, delimiters: &[char]) -> &'a str {
    s.find(delimiters).map_or(s, |end| &s[..end])
}

// ---------------------------------------------------------------------------------------------
// Sanitizing: Go's unicode.IsPrint keeps letters, marks, numbers, punctuation, symbols and
// U+0020; it rejects the categories Cc, Cf, Co, Cs, Cn and every Z but U+0020.

/// Format characters (Unicode 15 category Cf, as in Go's tables), plus U+2065 (unassigned).
const FORMAT_RANGES: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

const PRIVATE_USE_RANGES: &[(u32, u32)] = &[
    (0xE000, 0xF8FF),
    (0xF_0000, 0xF_FFFD),
    (0x10_0000, 0x10_FFFD),
];

fn is_go_printable(c: char) -> bool {
    !(c.is_control()
        || (c != ' ' && c.is_whitespace())
        || in_ranges(c, FORMAT_RANGES)
        || in_ranges(c, PRIVATE_USE_RANGES)
        || is_noncharacter(c))
}

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let code = u32::from(c);
    ranges
        .iter()
        .any(|&(low, high)| (low..=high).contains(&code))
}

/// Noncharacters are the only unassigned (Cn) code points we can name without Unicode
/// tables; other unassigned code points are kept.
fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

/// Go's `strings.ToLower`: simple (one-to-one) case mapping, rune by rune.
fn go_lowercase(s: &str) -> String {
    s.chars().map(simple_lowercase).collect()
}

fn simple_lowercase(c: char) -> char {
    // U+0130 is the one character whose full lower-case mapping has two characters; its
    // simple mapping, which Go uses, is plain 'i'.
    if c == '\u{130}' {
        return 'i';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

fn sanitize_and_lowercase(input: &str) -> String {
    let mut sanitized = sanitize(input);
    if sanitized.is_ascii() {
        sanitized.make_ascii_lowercase();
        return sanitized;
    }
    go_lowercase(&sanitized)
}

// ---------------------------------------------------------------------------------------------
// git

fn try_normalize_git(input: &str) -> Option<String> {
    let url = sanitize_and_lowercase(input);
    if url.starts_with("http://") || url.starts_with("https://") {
        normalize_hierarchical_git(&url, true)
    } else if url.starts_with("ssh://") {
        normalize_hierarchical_git(&url, false)
    } else {
        normalize_scp_git(&url)
    }
}

fn normalize_hierarchical_git(url: &str, drop_userinfo: bool) -> Option<String> {
    if let Some(simple) = normalize_simple_hierarchical_git(url, drop_userinfo) {
        return Some(simple);
    }
    let mut parsed = go_url::parse(url)?;
    if parsed.has_query_values() {
        return None;
    }
    if drop_userinfo {
        parsed.user = None;
    }
    trim_git_path(&mut parsed.path);
    Some(parsed.to_go_string())
}

/// The common case without Go's URL machinery: only unreserved characters, `/`, `:` and
/// `@`, and a host with at most a numeric port. For such URLs Go's parse and re-serialize
/// change nothing, so normalizing is dropping userinfo and trimming the path. Anything
/// else returns `None` and takes the full path (the tests compare both on every vector).
fn normalize_simple_hierarchical_git(url: &str, drop_userinfo: bool) -> Option<String> {
    let simple = |b: u8| b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b);
    if !url.bytes().all(simple) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let (userinfo, host) = match authority.rsplit_once('@') {
        // Go escapes an '@', or a second ':', in userinfo it keeps.
        Some((userinfo, _))
            if !drop_userinfo && (userinfo.contains('@') || userinfo.matches(':').count() > 1) =>
        {
            return None
        }
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, authority),
    };
    match host.split_once(':') {
        Some((name, port))
            if name.is_empty()
                || port.contains(':')
                || !port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            return None
        }
        _ if host.is_empty() => return None,
        _ => {}
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut normalized = String::with_capacity(url.len());
    normalized.push_str(scheme);
    normalized.push_str("://");
    if let Some(userinfo) = userinfo.filter(|_| !drop_userinfo) {
        normalized.push_str(userinfo);
        normalized.push('@');
    }
    normalized.push_str(host);
    normalized.push_str(path);
    Some(normalized)
}

fn trim_git_path(path: &mut Vec<u8>) {
    if path.ends_with(b"/") {
        path.pop();
    }
    if path.ends_with(b".git") {
        path.truncate(path.len() - b".git".len());
    }
}

/// `[user@]host[:path]` becomes `ssh://[user@]host[/path]`; the path is parsed as a Go
/// relative URL reference, as Kargo does.
fn normalize_scp_git(url: &str) -> Option<String> {
    let (user_host, path) = match_scp(url)?;
    let mut parsed = go_url::parse(path.unwrap_or(""))?;
    trim_git_path(&mut parsed.path);
    if parsed.path.is_empty() {
        return Some(format!("ssh://{user_host}"));
    }
    Some(format!("ssh://{user_host}/{}", parsed.to_go_string()))
}

/// A hand-written matcher for `^((?:[\w-]+@)?[\w-]+(?:\.[\w-]+)*)(?::(.*))?$`, returning
/// the two groups. Group 1 cannot hold a ':', so it is everything before the first ':'.
fn match_scp(url: &str) -> Option<(&str, Option<&str>)> {
    let (user_host, path) = match url.split_once(':') {
        Some((user_host, path)) => (user_host, Some(path)),
        None => (url, None),
    };
    let host = match user_host.split_once('@') {
        Some((user, host)) if is_scp_word(user) => host,
        Some(_) => return None,
        None => user_host,
    };
    host.split('.')
        .all(is_scp_word)
        .then_some((user_host, path))
}

fn is_scp_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// ---------------------------------------------------------------------------------------------
// image: go-containerregistry's `name.ParseReference(s, name.WeakValidation)`

const LIBRARY_PREFIX: &str = "library/";

fn try_normalize_image(input: &str) -> Option<String> {
    parse_image_repository(&sanitize_and_lowercase(input))
}

/// Parses a lower-cased reference and renders its repository the way Kargo compares them.
fn parse_image_repository(reference: &str) -> Option<String> {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return None;
    }
    let name = strip_digest(reference)?;
    let name = strip_tag(name)?;
    let (registry, repository) = split_registry(name)?;
    Some(render_repository(registry, repository))
}

fn strip_digest(reference: &str) -> Option<&str> {
    match reference.split_once('@') {
        None => Some(reference),
        Some((name, digest)) => is_sha256_digest(digest).then_some(name),
    }
}

fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A tag is whatever follows the last ':' when no '/' follows it (else the ':' is a port).
fn strip_tag(name: &str) -> Option<&str> {
    match name.rfind(':') {
        Some(colon) if !name[colon + 1..].contains('/') => {
            is_valid_tag(&name[colon + 1..]).then_some(&name[..colon])
        }
        _ => Some(name),
    }
}

fn is_valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Splits `name` into a resolved registry (`index.docker.io` for Docker Hub) and repository.
fn split_registry(name: &str) -> Option<(&str, &str)> {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if names_registry(first) => (first, rest),
        _ => ("", name),
    };
    if !is_valid_repository(repository) {
        return None;
    }
    if !registry.is_empty() && !go_url::is_bare_authority(registry) {
        return None;
    }
    let registry = match registry {
        "" | DOCKER_HUB => DOCKER_HUB_INDEX,
        other => other,
    };
    // Docker Hub's implicit `library/` must itself fit the repository length limit.
    if registry == DOCKER_HUB_INDEX
        && !repository.contains('/')
        && repository.len() + LIBRARY_PREFIX.len() > 255
    {
        return None;
    }
    Some((registry, repository))
}

fn is_valid_repository(repository: &str) -> bool {
    (2..=255).contains(&repository.len())
        && repository
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'/' | b'-'))
}

fn render_repository(registry: &str, repository: &str) -> String {
    if registry == DOCKER_HUB_INDEX || registry == DOCKER_HUB_REGISTRY_1 {
        repository
            .strip_prefix(LIBRARY_PREFIX)
            .unwrap_or(repository)
            .to_owned()
    } else {
        format!("{registry}/{repository}")
    }
}

// ---------------------------------------------------------------------------------------------
// helm

fn try_normalize_helm(input: &str) -> Option<String> {
    let sanitized = sanitize(input);
    go_url::parse(&sanitized)?;
    let lowered = go_lowercase(&sanitized);
    let chart = lowered.strip_prefix("oci://").unwrap_or(&lowered);
    if chart.starts_with("http://") || chart.starts_with("https://") {
        // Classic chart repositories: Kargo keeps a trailing '/' and then fails to match the
        // same repository written without it (SPEC §5.1 deliberate difference).
        return Some(chart.strip_suffix('/').unwrap_or(chart).to_owned());
    }
    Some(parse_image_repository(chart).unwrap_or_else(|| chart.to_owned()))
}

// ---------------------------------------------------------------------------------------------

/// The parts of Go's `net/url` that Kargo's normalization depends on: `url.Parse` (which
/// inputs it rejects, how it splits and unescapes them) and `URL.String` (how it re-escapes).
/// Decoded components are bytes because a %-escape may decode to invalid UTF-8.
mod go_url {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Path,
        UserPassword,
        Host,
        Zone,
        Fragment,
        QueryComponent,
    }

    pub(super) struct Userinfo {
        username: Vec<u8>,
        password: Option<Vec<u8>>,
    }

    #[derive(Default)]
    pub(super) struct Url {
        scheme: String,
        opaque: String,
        pub(super) user: Option<Userinfo>,
        host: Vec<u8>,
        omit_host: bool,
        pub(super) path: Vec<u8>,
        raw_path: String,
        force_query: bool,
        raw_query: String,
        fragment: Vec<u8>,
        raw_fragment: String,
    }

    /// Go's `url.Parse`: `None` wherever it returns an error.
    pub(super) fn parse(raw: &str) -> Option<Url> {
        let (without_fragment, fragment) = raw.split_once('#').unwrap_or((raw, ""));
        let mut url = parse_without_fragment(without_fragment)?;
        if !fragment.is_empty() {
            url.set_fragment(fragment)?;
        }
        Some(url)
    }

    /// go-containerregistry's registry check: `//name` parses and its host is `name` itself.
    pub(super) fn is_bare_authority(name: &str) -> bool {
        parse(&format!("//{name}")).is_some_and(|url| url.host == name.as_bytes())
    }

    fn parse_without_fragment(raw: &str) -> Option<Url> {
        if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return None;
        }
        let (scheme, rest) = split_scheme(raw)?;
        let mut url = Url {
            scheme: scheme.to_ascii_lowercase(),
            ..Url::default()
        };
        let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
            url.force_query = true;
            &rest[..rest.len() - 1]
        } else if let Some((before, query)) = rest.split_once('?') {
            url.raw_query = query.to_owned();
            before
        } else {
            rest
        };

        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                url.opaque = rest.to_owned();
                return Some(url);
            }
            // A relative reference whose first segment holds a ':' looks like a bad scheme.
            if super::before_first(rest, &['/']).contains(':') {
                return None;
            }
        }

        let mut path = rest;
        if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let after_slashes = &rest[2..];
            let authority = super::before_first(after_slashes, &['/']);
            path = &after_slashes[authority.len()..];
            let (user, host) = parse_authority(authority)?;
            url.user = user;
            url.host = host;
        } else if !url.scheme.is_empty() && rest.starts_with('/') {
            url.omit_host = true;
        }
        url.set_path(path)?;
        Some(url)
    }

    /// `None` only for a leading ':' ("missing protocol scheme"); an invalid character
    /// simply means there is no scheme.
    fn split_scheme(raw: &str) -> Option<(&str, &str)> {
        for (i, b) in raw.bytes().enumerate() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' => {}
                b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
                b':' if i == 0 => return None,
                b':' => return Some((&raw[..i], &raw[i + 1..])),
                _ => return Some(("", raw)),
            }
        }
        Some(("", raw))
    }

    type Authority = (Option<Userinfo>, Vec<u8>);

    fn parse_authority(authority: &str) -> Option<Authority> {
        let Some(at) = authority.rfind('@') else {
            return Some((None, parse_host(authority)?));
        };
        let host = parse_host(&authority[at + 1..])?;
        let userinfo = &authority[..at];
        if !is_valid_userinfo(userinfo) {
            return None;
        }
        let user = match userinfo.split_once(':') {
            None => Userinfo {
                username: unescape(userinfo, Mode::UserPassword)?,
                password: None,
            },
            Some((username, password)) => Userinfo {
                username: unescape(username, Mode::UserPassword)?,
                password: Some(unescape(password, Mode::UserPassword)?),
            },
        };
        Some((Some(user), host))
    }

    fn is_valid_userinfo(userinfo: &str) -> bool {
        userinfo.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b':'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b'%'
                        | b'@'
                )
        })
    }

    fn parse_host(host: &str) -> Option<Vec<u8>> {
        if host.starts_with('[') {
            return parse_ip_literal_host(host);
        }
        if let Some(colon) = host.find(':') {
            // Go 1.26 rejects a second ':' outside brackets (`localhost:80:80`).
            if host.rfind(':') != Some(colon) || !is_valid_optional_port(&host[colon..]) {
                return None;
            }
        }
        unescape(host, Mode::Host)
    }

    fn parse_ip_literal_host(host: &str) -> Option<Vec<u8>> {
        let close = host.rfind(']')?;
        if !is_valid_optional_port(&host[close + 1..]) {
            return None;
        }
        match host[..close].find("%25") {
            Some(zone) => {
                let mut decoded = unescape(&host[..zone], Mode::Host)?;
                decoded.extend(unescape(&host[zone..close], Mode::Zone)?);
                decoded.extend(unescape(&host[close..], Mode::Host)?);
                Some(decoded)
            }
            None => {
                host[1..close].parse::<std::net::Ipv6Addr>().ok()?;
                unescape(host, Mode::Host)
            }
        }
    }

    fn is_valid_optional_port(port: &str) -> bool {
        port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
    }

    impl Url {
        fn set_path(&mut self, raw: &str) -> Option<()> {
            self.path = unescape(raw, Mode::Path)?;
            self.raw_path = raw_if_needed(raw, &self.path, Mode::Path);
            Some(())
        }

        fn set_fragment(&mut self, raw: &str) -> Option<()> {
            self.fragment = unescape(raw, Mode::Fragment)?;
            self.raw_fragment = raw_if_needed(raw, &self.fragment, Mode::Fragment);
            Some(())
        }

        /// Go's `len(u.Query()) > 0`.
        pub(super) fn has_query_values(&self) -> bool {
            self.raw_query.split('&').any(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !pair.is_empty()
                    && !pair.contains(';')
                    && unescape(key, Mode::QueryComponent).is_some()
                    && unescape(value, Mode::QueryComponent).is_some()
            })
        }

        fn escaped_path(&self) -> String {
            if let Some(raw) = preferred_raw(&self.raw_path, &self.path, Mode::Path) {
                return raw.to_owned();
            }
            if self.path == b"*" {
                return "*".to_owned();
            }
            escape(&self.path, Mode::Path)
        }

        fn escaped_fragment(&self) -> String {
            preferred_raw(&self.raw_fragment, &self.fragment, Mode::Fragment)
                .map_or_else(|| escape(&self.fragment, Mode::Fragment), str::to_owned)
        }

        /// Go's `URL.String`.
        pub(super) fn to_go_string(&self) -> String {
            let mut out = String::new();
            if !self.scheme.is_empty() {
                out.push_str(&self.scheme);
                out.push(':');
            }
            if !self.opaque.is_empty() {
                out.push_str(&self.opaque);
            } else {
                self.write_authority(&mut out);
                let path = self.escaped_path();
                if !path.is_empty() && !path.starts_with('/') && !self.host.is_empty() {
                    out.push('/');
                }
                if out.is_empty() && super::before_first(&path, &['/']).contains(':') {
                    out.push_str("./");
                }
                out.push_str(&path);
            }
            if self.force_query || !self.raw_query.is_empty() {
                out.push('?');
                out.push_str(&self.raw_query);
            }
            if !self.fragment.is_empty() {
                out.push('#');
                out.push_str(&self.escaped_fragment());
            }
            out
        }

        fn write_authority(&self, out: &mut String) {
            let has_authority =
                !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some();
            let omitted = self.omit_host && self.host.is_empty() && self.user.is_none();
            if !has_authority || omitted {
                return;
            }
            if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                out.push_str("//");
            }
            if let Some(user) = &self.user {
                out.push_str(&escape(&user.username, Mode::UserPassword));
                if let Some(password) = &user.password {
                    out.push(':');
                    out.push_str(&escape(password, Mode::UserPassword));
                }
                out.push('@');
            }
            out.push_str(&escape(&self.host, Mode::Host));
        }
    }

    /// Go keeps the raw form only when default escaping would not reproduce it.
    fn raw_if_needed(raw: &str, decoded: &[u8], mode: Mode) -> String {
        if escape(decoded, mode) == raw {
            String::new()
        } else {
            raw.to_owned()
        }
    }

    /// The raw form, when it is still a valid encoding of the (possibly edited) value.
    fn preferred_raw<'a>(raw: &'a str, decoded: &[u8], mode: Mode) -> Option<&'a str> {
        let usable = !raw.is_empty()
            && is_valid_encoded(raw, mode)
            && unescape(raw, mode).is_some_and(|value| value == decoded);
        usable.then_some(raw)
    }

    fn is_valid_encoded(s: &str, mode: Mode) -> bool {
        s.bytes().all(|b| {
            matches!(
                b,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'['
                    | b']'
                    | b'%'
            ) || !should_escape(b, mode)
        })
    }

    fn should_escape(b: u8, mode: Mode) -> bool {
        if b.is_ascii_alphanumeric() {
            return false;
        }
        if matches!(mode, Mode::Host | Mode::Zone)
            && matches!(
                b,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'['
                    | b']'
                    | b'<'
                    | b'>'
                    | b'"'
            )
        {
            return false;
        }
        match b {
            b'-' | b'_' | b'.' | b'~' => return false,
            b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
                Mode::Path => return b == b'?',
                Mode::UserPassword => return matches!(b, b'@' | b'/' | b'?' | b':'),
                Mode::QueryComponent => return true,
                Mode::Fragment => return false,
                Mode::Host | Mode::Zone => {}
            },
            _ => {}
        }
        !(mode == Mode::Fragment && matches!(b, b'!' | b'(' | b')' | b'*'))
    }

    fn unescape(s: &str, mode: Mode) -> Option<Vec<u8>> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let (high, low) = match (bytes.get(i + 1), bytes.get(i + 2)) {
                        (Some(&h), Some(&l)) => (hex_value(h)?, hex_value(l)?),
                        _ => return None,
                    };
                    let value = high << 4 | low;
                    let is_escaped_percent = &bytes[i..i + 3] == b"%25";
                    // In a host, %-escapes may only encode non-ASCII bytes.
                    if mode == Mode::Host && high < 8 && !is_escaped_percent {
                        return None;
                    }
                    if mode == Mode::Zone
                        && !is_escaped_percent
                        && value != b' '
                        && should_escape(value, Mode::Host)
                    {
                        return None;
                    }
                    out.push(value);
                    i += 3;
                }
                b'+' if mode == Mode::QueryComponent => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    if matches!(mode, Mode::Host | Mode::Zone) && b < 0x80 && should_escape(b, mode)
                    {
                        return None;
                    }
                    out.push(b);
                    i += 1;
                }
            }
        }
        Some(out)
    }

    fn hex_value(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }

    fn escape(bytes: &[u8], mode: Mode) -> String {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut out = String::with_capacity(bytes.len());
        for &b in bytes {
            if !should_escape(b, mode) {
                // Only ASCII is ever left unescaped.
                out.push(char::from(b));
            } else if b == b' ' && mode == Mode::QueryComponent {
                out.push('+');
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0F)]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/kargo-normalize.json"
    );

    #[derive(Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        #[serde(rename = "type")]
        kind: String,
        input: String,
        expected: String,
    }

    fn load_cases() -> Vec<Case> {
        let text = std::fs::read_to_string(VECTORS)
            .unwrap_or_else(|e| panic!("cannot read {VECTORS}: {e}"));
        let vectors: Vectors =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {VECTORS}: {e}"));
        assert!(!vectors.cases.is_empty(), "{VECTORS} holds no cases");
        vectors.cases
    }

    fn normalizer(kind: &str) -> fn(&str) -> String {
        match kind {
            "sanitize" => sanitize,
            "git" => normalize_git_url,
            "image" => normalize_image_url,
            "helm" => normalize_helm_url,
            other => panic!("unknown case type {other:?} in {VECTORS}"),
        }
    }

    /// Whether the input normalizes (rather than being handed back as given).
    fn normalizes(kind: &str, input: &str) -> bool {
        match kind {
            "sanitize" => true,
            "git" => try_normalize_git(input).is_some(),
            "image" => try_normalize_image(input).is_some(),
            "helm" => try_normalize_helm(input).is_some(),
            other => panic!("unknown case type {other:?} in {VECTORS}"),
        }
    }

    #[test]
    fn every_reference_vector_matches() {
        let cases = load_cases();
        let failures: Vec<String> = cases
            .iter()
            .filter_map(|case| {
                let got = normalizer(&case.kind)(&case.input);
                (got != case.expected).then(|| {
                    format!(
                        "  {} {:?}: expected {:?}, got {:?}",
                        case.kind, case.input, case.expected, got
                    )
                })
            })
            .collect();
        assert!(
            failures.is_empty(),
            "{} of {} vectors mismatch:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    /// Kargo trims ONE trailing '/', ONE '.git' and ONE `library/` (vector
    /// `https://gitlab.example.org/platform/infra//` keeps a '/'), so a result that still ends
    /// (or, for Docker Hub, starts) with one is trimmed again by a second pass, by design.
    fn trims_again(kind: &str, normalized: &str) -> bool {
        let before_fragment = before_first(normalized, &['#', '?']);
        let ends_trimmable = before_fragment.ends_with('/') || before_fragment.ends_with(".git");
        match kind {
            "git" => ends_trimmable,
            "image" => normalized.starts_with(LIBRARY_PREFIX),
            "helm" => ends_trimmable || normalized.starts_with(LIBRARY_PREFIX),
            _ => false,
        }
    }

    #[test]
    fn normalizing_is_idempotent_for_every_vector_that_normalizes() {
        let failures: Vec<String> = load_cases()
            .iter()
            .filter(|case| normalizes(&case.kind, &case.input))
            .filter(|case| !trims_again(&case.kind, &normalizer(&case.kind)(&case.input)))
            .filter_map(|case| {
                let normalize = normalizer(&case.kind);
                let once = normalize(&case.input);
                let twice = normalize(&once);
                (once != twice).then(|| {
                    format!(
                        "  {} {:?}: once {once:?}, twice {twice:?}",
                        case.kind, case.input
                    )
                })
            })
            .collect();
        assert!(
            failures.is_empty(),
            "not idempotent:\n{}",
            failures.join("\n")
        );
    }

    fn check_table(name: &str, f: impl Fn(&str) -> String, table: &[(&str, &str)]) {
        let failures: Vec<String> = table
            .iter()
            .filter_map(|&(input, expected)| {
                let got = f(input);
                (got != expected)
                    .then(|| format!("  {input:?}: expected {expected:?}, got {got:?}"))
            })
            .collect();
        assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
    }

    #[test]
    fn server_urls_reduce_to_registry_hosts() {
        check_table(
            "registry_host_of_server_url",
            registry_host_of_server_url,
            &[
                ("https://index.docker.io/v1/", "docker.io"),
                ("https://registry-1.docker.io/v2/", "docker.io"),
                ("docker.io", "docker.io"),
                ("index.docker.io", "docker.io"),
                ("ghcr.io", "ghcr.io"),
                ("127.0.0.1:5000", "127.0.0.1:5000"),
                ("https://myreg:5000/v2/", "myreg:5000"),
                ("http://localhost:5000", "localhost:5000"),
                ("  HTTPS://GHCR.IO/v2/  \n", "ghcr.io"),
                ("Quay.IO", "quay.io"),
                ("", ""),
                // Found by fuzzing: these reached the lookup, messages and cache unsanitized.
                ("\u{feff}ghcr.io\u{200b}", "ghcr.io"),
                ("ghcr.io\0evil\n", "ghcr.ioevil"),
                ("https:// ghcr.io/v2/", "ghcr.io"),
                ("\u{feff} https://Index.Docker.IO/v1/", "docker.io"),
            ],
        );
    }

    #[test]
    fn normalized_images_name_their_registry_host() {
        check_table(
            "registry_host_of_normalized_image",
            |s| registry_host_of_normalized_image(s).to_owned(),
            &[
                ("busybox", "docker.io"),
                ("example/repo", "docker.io"),
                ("foo/bar/something", "docker.io"),
                ("ghcr.io/example/repo", "ghcr.io"),
                (
                    "registry.acme.test:5000/team/app",
                    "registry.acme.test:5000",
                ),
                ("localhost/app", "localhost"),
                ("localhost:5000/app", "localhost:5000"),
                (
                    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/charts/api",
                    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
                ),
                ("ghcr.io", "docker.io"),
                ("", "docker.io"),
            ],
        );
    }

    #[test]
    fn urls_name_their_host() {
        let table: &[(&str, Option<&str>)] = &[
            ("https://github.com/example/repo", Some("github.com")),
            ("http://github.com", Some("github.com")),
            (
                "https://localhost:8443/example/repo",
                Some("localhost:8443"),
            ),
            ("https://github.com#v2", Some("github.com")),
            ("https://github.com?x=1", Some("github.com")),
            ("https://user:pass@github.com/x", Some("github.com")),
            ("ssh://git@github.com/example/repo", Some("github.com")),
            ("ssh://git@localhost:2222", Some("localhost:2222")),
            ("HTTPS://GitHub.com/x", Some("GitHub.com")),
            ("https://", None),
            ("https:///path", None),
            ("ghcr.io/example/repo", None),
            ("git@github.com:example/repo", None),
            ("oci://ghcr.io/x", None),
            ("", None),
        ];
        for &(input, expected) in table {
            assert_eq!(host_of_url(input), expected, "host_of_url({input:?})");
        }
    }

    #[test]
    fn helm_https_repositories_drop_one_trailing_slash() {
        check_table(
            "normalize_helm_url",
            normalize_helm_url,
            &[
                ("https://charts.acme.test/", "https://charts.acme.test"),
                ("https://charts.acme.test", "https://charts.acme.test"),
                (
                    "HTTPS://Charts.Acme.Test/Stable/",
                    "https://charts.acme.test/stable",
                ),
                (
                    "http://charts.acme.test/stable/",
                    "http://charts.acme.test/stable",
                ),
                ("https://charts.acme.test//", "https://charts.acme.test/"),
                (
                    " https://charts.acme.test/\u{200b} ",
                    "https://charts.acme.test",
                ),
                (
                    "oci://https://charts.acme.test/",
                    "https://charts.acme.test",
                ),
            ],
        );
    }

    #[test]
    fn git_follows_go_url_parsing() {
        check_table(
            "normalize_git_url",
            normalize_git_url,
            &[
                (
                    "https://github.com/my repo.git",
                    "https://github.com/my%20repo",
                ),
                ("https://github.com/a(b)", "https://github.com/a(b)"),
                ("https://github.com/repo.git?", "https://github.com/repo?"),
                ("https://localhost:80:80/x", "https://localhost:80:80/x"),
                ("https://host:abc/x", "https://host:abc/x"),
                ("https://host/%zz", "https://host/%zz"),
                ("https://[::1]:8443/x.git", "https://[::1]:8443/x"),
                ("https://[zz]/x", "https://[zz]/x"),
                ("ssh://git:secret@host/x.git", "ssh://git:secret@host/x"),
                ("host:2222/x", "ssh://host/2222/x"),
                ("git@host:x/", "ssh://git@host/x"),
                ("git@@host:x", "git@@host:x"),
                ("host..example:x", "host..example:x"),
                ("", ""),
            ],
        );
    }

    #[test]
    fn images_follow_go_containerregistry_weak_validation() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let with_digest = format!("ghcr.io/acme/app@{digest}");
        let with_bad_digest = "ghcr.io/acme/app@sha256:abc";
        let with_two_digests = format!("ghcr.io/acme/app@{digest}@{digest}");
        check_table(
            "normalize_image_url",
            normalize_image_url,
            &[
                ("localhost:5000/a/b:1.0", "localhost:5000/a/b"),
                ("localhost/ab", "localhost/ab"),
                ("registry-1.docker.io/library/busybox", "busybox"),
                ("docker.io/library/busybox:latest", "busybox"),
                (&with_digest, "ghcr.io/acme/app"),
                (with_bad_digest, with_bad_digest),
                (&with_two_digests, &with_two_digests),
                ("a", "a"),
                ("busybox:", "busybox:"),
                ("busybox:.hidden", "busybox:.hidden"),
                ("busybox:-x", "busybox:-x"),
                ("Busybox:V1.2_rc-3", "busybox"),
                ("my_reg.io:port/app", "my_reg.io:port/app"),
                ("https://ghcr.io/acme/app", "https://ghcr.io/acme/app"),
                ("oci://ghcr.io/acme/app", "oci://ghcr.io/acme/app"),
                ("ghcr.io/acme/app/", "ghcr.io/acme/app/"),
            ],
        );
    }

    #[test]
    fn sanitize_removes_what_go_does_not_print() {
        check_table(
            "sanitize",
            sanitize,
            &[
                ("a\u{a0}b\u{3000}c\u{2028}d\u{2029}e", "abcde"),
                ("a\u{ad}b\u{61c}c\u{180e}d\u{2066}e\u{fff9}f", "abcdef"),
                (
                    "a\u{e000}b\u{f0000}c\u{10fffd}d\u{fdd0}e\u{ffff}f",
                    "abcdef",
                ),
                ("a\u{85}b\u{7f}c\u{0}d", "abcd"),
                ("\u{e0001}tagged\u{e007f}", "tagged"),
                ("Ünïcödé 日本 ok", "Ünïcödé 日本 ok"),
            ],
        );
    }

    #[test]
    fn nothing_panics_on_odd_input() {
        let long = |s: &str| s.repeat(10 * 1024 / s.len().max(1));
        let mut inputs: Vec<String> = [
            "",
            "@",
            ":",
            "://",
            "%",
            "%%",
            "%2",
            "%zz",
            "[",
            "]",
            "[::1",
            "#",
            "?",
            "/",
            "*",
            "a@",
            "@b",
            "a:",
            ":b",
            "https://",
            "http://",
            "ssh://",
            "oci://",
            "oci://@",
            "https://@",
            "https://:",
            "https://[",
            "https://[]",
            "https://[::1%25en0]:80/x",
            "https://u@h@h/x",
            "ssh://:@/",
            "git@:",
            "@:",
            "a@b@c:d",
            "x:y:z",
            "é",
            "ß:ẞ",
            "\u{130}",
            "🦀:🦀@🦀",
            "\u{feff}\u{200b}",
            "日本語/レポ:タグ",
            "ghcr.io/é/x",
            "https://bücher.de/é.git",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        for unit in [
            "a", "@", ":", "/", "%", "é", "🦀", ".git/", "https://", "\u{200b}",
        ] {
            inputs.push(long(unit));
            inputs.push(format!("https://{}", long(unit)));
            inputs.push(format!("oci://{}", long(unit)));
        }
        for input in &inputs {
            let _ = sanitize(input);
            let _ = normalize_git_url(input);
            let _ = normalize_image_url(input);
            let _ = normalize_helm_url(input);
            let _ = registry_host_of_normalized_image(input);
            let _ = registry_host_of_server_url(input);
            let _ = host_of_url(input);
        }
    }
}

/// A URL fit for a message: sanitized, and any password in its userinfo replaced by
/// `[redacted]` (`https://bob:hunter2@host/x` → `https://bob:[redacted]@host/x`).
pub fn for_display(url: &str) -> String {
    let clean = sanitize(url);
    let Some(scheme_end) = clean.find("://") else {
        return clean;
    };
    let authority_start = scheme_end + 3;
    let authority_end = clean[authority_start..]
        .find(['/', '?', '#'])
        .map_or(clean.len(), |end| authority_start + end);
    let authority = &clean[authority_start..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!(
                "{}{user}:[redacted]@{host}{}",
                &clean[..authority_start],
                &clean[authority_end..]
            )
        }
        _ => clean,
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// The fast path must agree with Go's URL machinery wherever it answers.
    #[test]
    fn simple_git_urls_agree_with_the_full_parser() {
        let mut inputs: Vec<String> = vec![
            "https://github.com/example/repo.git".into(),
            "https://github.com".into(),
            "https://github.com/".into(),
            "https://foo:bar@github.com/x/".into(),
            "https://a@b@github.com/x".into(),
            "ssh://a:b:c@host/x".into(),
            "ssh://a:b@host/x".into(),
            "https://github.com:443/x.git/".into(),
            "https://github.com:/x".into(),
            "https://:80/x".into(),
            "https://h:1:2/x".into(),
            "https://h:port/x".into(),
            "ssh://git@github.com:2222/x.git".into(),
            "ssh://user:pw@host/x//".into(),
            "https://h/x.git.git".into(),
            "https:///x".into(),
            "https://h/~user/r_e-p.o".into(),
        ];
        let vectors: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/testdata/kargo-normalize.json"
            ))
            .unwrap(),
        )
        .unwrap();
        inputs.extend(
            vectors["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["input"].as_str().unwrap().to_ascii_lowercase()),
        );
        for input in inputs {
            for drop_userinfo in [true, false] {
                let Some(fast) = normalize_simple_hierarchical_git(&input, drop_userinfo) else {
                    continue;
                };
                let full =
                    go_url::parse(&input)
                        .filter(|p| !p.has_query_values())
                        .map(|mut parsed| {
                            if drop_userinfo {
                                parsed.user = None;
                            }
                            trim_git_path(&mut parsed.path);
                            parsed.to_go_string()
                        });
                assert_eq!(
                    Some(fast),
                    full,
                    "{input:?} (drop userinfo: {drop_userinfo})"
                );
            }
        }
    }
}

#[cfg(test)]
mod display_tests {
    use super::for_display;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            for_display("https://bob:hunter2@host/x"),
            "https://bob:[redacted]@host/x"
        );
        assert_eq!(
            for_display("https://a:b:c@host"),
            "https://a:[redacted]@host"
        );
        assert_eq!(for_display("https://bob@host/x"), "https://bob@host/x");
        assert_eq!(for_display(" ghcr.io/a/b\n"), "ghcr.io/a/b");
        assert_eq!(
            for_display("https://host/x?u=a@b:c"),
            "https://host/x?u=a@b:c"
        );
    }
}
