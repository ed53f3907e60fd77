//! Kargo's documented precedence, as a pure function of the Secrets of two namespaces.
//!
//! Project namespace, then shared namespace; the first namespace with a match wins. Within a
//! namespace: exact `repoURL`s (normalized, compared for equality) in byte-wise name order,
//! then patterns (`repoURLIsRegex: "true"`) in name order, each tried as an unanchored
//! search against the URL as given and its normalized form. The first match wins.
//!
//! [`resolve`] also records why each candidate was or was not chosen: that trace is what
//! `kargo-creds resolve --explain` prints. Nothing here does I/O, and no regex is compiled
//! unless its Secret is reached.

use regex::{Regex, RegexBuilder};

use crate::secret::{keys, CredType, Secret, ValueError};
use crate::url;

/// Patterns larger than this when compiled are refused (a regex bomb in a Secret).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What is being looked up.
#[derive(Debug, Clone)]
pub enum Target {
    /// A repository URL of one credential type.
    Url {
        cred_type: CredType,
        raw: String,
        normalized: String,
    },
    /// A registry host: the docker protocol carries nothing more (SPEC §8.2).
    RegistryHost { cred_type: CredType, host: String },
}

impl Target {
    pub fn url(cred_type: CredType, raw: &str) -> Target {
        Target::Url {
            cred_type,
            raw: raw.to_owned(),
            normalized: normalize(cred_type, raw),
        }
    }

    pub fn registry_host(cred_type: CredType, host: &str) -> Target {
        Target::RegistryHost {
            cred_type,
            host: host.to_owned(),
        }
    }

    pub fn cred_type(&self) -> CredType {
        match self {
            Target::Url { cred_type, .. } | Target::RegistryHost { cred_type, .. } => *cred_type,
        }
    }

    /// The form exact `repoURL`s are compared with.
    pub fn normalized(&self) -> &str {
        match self {
            Target::Url { normalized, .. } => normalized,
            Target::RegistryHost { host, .. } => host,
        }
    }
}

/// Normalizes a URL for its credential type.
pub fn normalize(cred_type: CredType, raw: &str) -> String {
    match cred_type {
        CredType::Git => url::normalize_git_url(raw),
        CredType::Image => url::normalize_image_url(raw),
        CredType::Helm => url::normalize_helm_url(raw),
        CredType::Generic => url::sanitize(raw),
    }
}

/// Whether a URL is plain `http://`, tested after sanitizing and ignoring case (SPEC §5 step 1).
pub fn is_plain_http(raw: &str) -> bool {
    let sanitized = url::sanitize(raw);
    // `get`, not `[..7]`: the 7th byte may fall inside a multi-byte character.
    sanitized
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

/// What resolution needs to know of a Secret. A [`Secret`] is one; a source may also hand
/// out lighter summaries and read the whole Secret only for the winner.
pub trait Candidate {
    fn namespace(&self) -> &str;
    fn name(&self) -> &str;
    /// Whether `repoURLIsRegex` is exactly `"true"`.
    fn is_regex(&self) -> bool;
    /// `repoURL` with one trailing newline trimmed; `None` without one.
    fn repo_url(&self) -> Result<Option<&str>, ValueError>;
    /// The `repoURL` already normalized for `cred_type`, when the source has it at hand.
    fn known_normalized(&self, cred_type: CredType) -> Option<&str> {
        let _ = cred_type;
        None
    }

    fn id(&self) -> String {
        format!("{}/{}", self.namespace(), self.name())
    }
}

impl Candidate for Secret {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn is_regex(&self) -> bool {
        Secret::is_regex(self)
    }

    fn repo_url(&self) -> Result<Option<&str>, ValueError> {
        self.trimmed_text(keys::REPO_URL)
    }
}

/// The Secrets of one namespace, already filtered by the credential-type label.
#[derive(Debug, Clone)]
pub struct NamespaceSecrets<C> {
    pub namespace: String,
    pub secrets: Vec<C>,
}

/// How a candidate `repoURL` is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMode {
    Exact,
    Regex,
}

/// Why a candidate was or was not chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    ExactMatch,
    /// Its normalized `repoURL` differs from the request's.
    ExactDiffers {
        normalized: String,
    },
    RegexMatchedRaw,
    RegexMatchedNormalized,
    RegexNoMatch,
    SkippedNoRepoUrl,
    SkippedInvalidRegex {
        reason: String,
    },
    SkippedBadValue {
        reason: String,
    },
    /// A helm Secret for a classic `https://` chart repository: not a registry.
    SkippedNotRegistry,
    /// An earlier candidate already matched; only evaluated with `explain`.
    NotReached,
}

impl Verdict {
    pub fn is_match(&self) -> bool {
        matches!(
            self,
            Verdict::ExactMatch | Verdict::RegexMatchedRaw | Verdict::RegexMatchedNormalized
        )
    }

    /// One line for `--explain`.
    pub fn describe(&self) -> String {
        match self {
            Verdict::ExactMatch => "exact match".into(),
            Verdict::ExactDiffers { normalized } => {
                format!("no: normalized repoURL is {normalized}")
            }
            Verdict::RegexMatchedRaw => "pattern matches the URL as given".into(),
            Verdict::RegexMatchedNormalized => "pattern matches the normalized URL".into(),
            Verdict::RegexNoMatch => "no: pattern matches neither form".into(),
            Verdict::SkippedNoRepoUrl => "skipped: no repoURL".into(),
            Verdict::SkippedInvalidRegex { reason } => {
                format!("skipped: invalid pattern: {reason}")
            }
            Verdict::SkippedBadValue { reason } => format!("skipped: {reason}"),
            Verdict::SkippedNotRegistry => {
                "skipped: an https:// chart repository is not a registry".into()
            }
            Verdict::NotReached => "not reached".into(),
        }
    }
}

/// One candidate Secret, in the order it was considered.
#[derive(Debug, Clone)]
pub struct CandidateTrace {
    pub name: String,
    pub mode: MatchMode,
    /// The Secret's `repoURL` (not secret: the seed shows it in clear).
    pub repo_url: Option<String>,
    pub verdict: Verdict,
    /// With `explain`: whether it would have matched had it been reached.
    pub would_match: bool,
}

#[derive(Debug, Clone)]
pub struct NamespaceTrace {
    pub namespace: String,
    pub candidates: Vec<CandidateTrace>,
}

/// The decision and how it was reached.
#[derive(Debug, Clone)]
pub struct Resolution<'s, C> {
    pub namespaces: Vec<NamespaceTrace>,
    pub winner: Option<&'s C>,
    /// With `explain`, when Kargo's code (one pass in name order over both kinds) would
    /// pick a different Secret: that Secret's `namespace/name`.
    pub kargo_code_pick: Option<String>,
    /// Warnings about Secrets that were skipped (invalid patterns, unusable values).
    pub warnings: Vec<String>,
}

/// How much work to do: stop at the first match (the trace then holds only the winner),
/// or evaluate and record every candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thoroughness {
    FirstMatch,
    Explain,
}

/// Applies Kargo's precedence. `namespaces` are in search order (project, then shared),
/// each holding only the Secrets labelled with the target's credential type.
pub fn resolve<'s, C: Candidate>(
    target: &Target,
    namespaces: &'s [NamespaceSecrets<C>],
    thoroughness: Thoroughness,
) -> Resolution<'s, C> {
    let mut resolution = Resolution {
        namespaces: Vec::new(),
        winner: None,
        kargo_code_pick: None,
        warnings: Vec::new(),
    };
    let mut kargo_pick: Option<&C> = None;
    for namespace in namespaces {
        if resolution.winner.is_some() && thoroughness == Thoroughness::FirstMatch {
            break;
        }
        let ordered = documented_order(&namespace.secrets);

        let mut trace = NamespaceTrace {
            namespace: namespace.namespace.clone(),
            candidates: Vec::with_capacity(ordered.len()),
        };
        // Kargo's code walks all Secrets once in name order; remember the first that
        // matches so that --explain can point out where the documented order differs.
        let mut kargo_pick_here: Option<(&str, &C)> = None;
        for (secret, mode) in ordered {
            let reached = resolution.winner.is_none();
            if !reached && thoroughness == Thoroughness::FirstMatch {
                break;
            }
            let verdict = judge(target, secret, mode, thoroughness, &mut resolution.warnings);
            let matched = verdict.is_match();
            if matched {
                let better = kargo_pick_here.is_none_or(|(name, _)| secret.name() < name);
                if better {
                    kargo_pick_here = Some((secret.name(), secret));
                }
            }
            let shown = if reached {
                verdict
            } else {
                Verdict::NotReached
            };
            if reached && matched {
                resolution.winner = Some(secret);
            }
            // Without `explain` the trace keeps only the winner: a helper's lookup over
            // thousands of Secrets should not hold a record of each.
            if thoroughness == Thoroughness::FirstMatch && !matched {
                continue;
            }
            trace.candidates.push(CandidateTrace {
                name: secret.name().to_owned(),
                mode,
                repo_url: secret.repo_url().ok().flatten().map(str::to_owned),
                verdict: shown,
                would_match: matched,
            });
        }
        if kargo_pick.is_none() {
            kargo_pick = kargo_pick_here.map(|(_, secret)| secret);
        }
        resolution.namespaces.push(trace);
    }
    if thoroughness == Thoroughness::Explain {
        let differs = match (kargo_pick, resolution.winner) {
            (Some(kargo), Some(ours)) => kargo.id() != ours.id(),
            (Some(_), None) | (None, Some(_)) => true,
            (None, None) => false,
        };
        if differs {
            resolution.kargo_code_pick = kargo_pick.map(Candidate::id);
        }
    }
    resolution
}

fn mode_of<C: Candidate>(secret: &C) -> MatchMode {
    if secret.is_regex() {
        MatchMode::Regex
    } else {
        MatchMode::Exact
    }
}

/// Exact before regex, each byte-wise by name (a stable order: equal names keep the
/// source's order). Split first, then sorted: each part keeps the order the source listed it
/// in, which is usually by name already, and a stable sort finishes a sorted run in one pass
/// — sorting on (kind, name) at once would see the kinds interleaved and sort in full.
fn documented_order<C: Candidate>(secrets: &[C]) -> Vec<(&C, MatchMode)> {
    let (mut ordered, mut patterns): (Vec<_>, Vec<_>) = secrets
        .iter()
        .map(|secret| (secret, mode_of(secret)))
        .partition(|(_, mode)| *mode == MatchMode::Exact);
    let by_name =
        |a: &(&C, MatchMode), b: &(&C, MatchMode)| a.0.name().as_bytes().cmp(b.0.name().as_bytes());
    ordered.sort_by(by_name);
    patterns.sort_by(by_name);
    ordered.append(&mut patterns);
    ordered
}

fn judge<C: Candidate>(
    target: &Target,
    secret: &C,
    mode: MatchMode,
    thoroughness: Thoroughness,
    warnings: &mut Vec<String>,
) -> Verdict {
    let repo_url = match secret.repo_url() {
        Ok(Some(repo_url)) => repo_url,
        Ok(None) => return Verdict::SkippedNoRepoUrl,
        Err(error) => {
            warnings.push(error.to_string());
            return Verdict::SkippedBadValue {
                reason: error.to_string(),
            };
        }
    };
    match mode {
        MatchMode::Exact => judge_exact(target, secret, repo_url, thoroughness),
        MatchMode::Regex => judge_pattern(target, secret, repo_url, warnings),
    }
}

fn judge_exact<C: Candidate>(
    target: &Target,
    secret: &C,
    repo_url: &str,
    thoroughness: Thoroughness,
) -> Verdict {
    let cred_type = target.cred_type();
    if let Target::RegistryHost { .. } = target {
        if cred_type == CredType::Helm && is_chart_repository_url(repo_url) {
            return Verdict::SkippedNotRegistry;
        }
    }
    let computed;
    let normalized = match secret.known_normalized(cred_type) {
        Some(known) => known,
        None => {
            computed = normalize(cred_type, repo_url);
            computed.as_str()
        }
    };
    let compared = match target {
        Target::Url { .. } => normalized,
        Target::RegistryHost { .. } => url::registry_host_of_normalized_image(normalized),
    };
    if compared == target.normalized() {
        Verdict::ExactMatch
    } else {
        Verdict::ExactDiffers {
            // Only an explanation shows it; a helper's lookup does not pay for the copy.
            normalized: match thoroughness {
                Thoroughness::Explain => compared.to_owned(),
                Thoroughness::FirstMatch => String::new(),
            },
        }
    }
}

fn judge_pattern<C: Candidate>(
    target: &Target,
    secret: &C,
    pattern: &str,
    warnings: &mut Vec<String>,
) -> Verdict {
    let pattern = match Pattern::new(pattern) {
        Ok(pattern) => pattern,
        Err(reason) => {
            warnings.push(format!(
                "secret {}: repoURL is not a valid pattern, skipping it: {reason}",
                secret.id()
            ));
            return Verdict::SkippedInvalidRegex { reason };
        }
    };
    match target {
        Target::Url {
            raw, normalized, ..
        } => {
            if pattern.is_match(raw) {
                Verdict::RegexMatchedRaw
            } else if pattern.is_match(normalized) {
                Verdict::RegexMatchedNormalized
            } else {
                Verdict::RegexNoMatch
            }
        }
        Target::RegistryHost { host, .. } => {
            if pattern.is_match(host) || pattern.is_match(&format!("{host}/")) {
                Verdict::RegexMatchedRaw
            } else {
                Verdict::RegexNoMatch
            }
        }
    }
}

/// A Secret's `repoURL` pattern. Most are literal text with anchors
/// (`^https://github\.com/example/`, optionally ending in `.*`): those are matched as text,
/// because compiling thousands of regexes would dominate a helper's start-up. Everything
/// else is compiled with the size limit.
pub enum Pattern {
    Literal {
        text: String,
        anchored_start: bool,
        anchored_end: bool,
    },
    Regex(Regex),
}

impl Pattern {
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        match literal_pattern(pattern) {
            Some(literal) => Ok(literal),
            None => compile_pattern(pattern).map(Pattern::Regex),
        }
    }

    /// An unanchored search, as Go's `MatchString` does.
    pub fn is_match(&self, haystack: &str) -> bool {
        match self {
            Pattern::Regex(regex) => regex.is_match(haystack),
            Pattern::Literal {
                text,
                anchored_start,
                anchored_end,
            } => match (anchored_start, anchored_end) {
                (true, true) => haystack == text,
                (true, false) => haystack.starts_with(text.as_str()),
                (false, true) => haystack.ends_with(text.as_str()),
                (false, false) => haystack.contains(text.as_str()),
            },
        }
    }
}

/// Recognizes `[^][.*]literal[.*][$]`, where the literal has only ordinary characters and
/// backslash-escaped punctuation. `None` for anything a regex engine must decide.
fn literal_pattern(pattern: &str) -> Option<Pattern> {
    let (anchored_start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let mut anchored_start = anchored_start;
    let rest = match rest.strip_prefix(".*") {
        Some(rest) => {
            anchored_start = false;
            rest
        }
        None => rest,
    };
    let mut text = String::with_capacity(rest.len());
    let mut chars = rest.chars().peekable();
    let mut anchored_end = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                // \< and \> are word boundaries in Rust's regex syntax, not literals.
                Some(escaped)
                    if escaped.is_ascii_punctuation() && !matches!(escaped, '<' | '>') =>
                {
                    text.push(escaped)
                }
                _ => return None,
            },
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                // `.*` can only end the pattern (a `.*$` tail would forbid a newline
                // after the literal; URLs have none, but leave that to the engine).
                if chars.peek().is_some() {
                    return None;
                }
                if text.is_empty() {
                    return None;
                }
                return Some(Pattern::Literal {
                    text,
                    anchored_start,
                    anchored_end: false,
                });
            }
            '$' if chars.peek().is_none() => anchored_end = true,
            '.' | '[' | ']' | '(' | ')' | '{' | '}' | '*' | '+' | '?' | '|' | '^' | '$' => {
                return None
            }
            c if c.is_control() => return None,
            c => text.push(c),
        }
    }
    Some(Pattern::Literal {
        text,
        anchored_start,
        anchored_end,
    })
}

/// Compiles a Secret's pattern with a size limit. The error is one line.
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|error| match error {
            regex::Error::CompiledTooBig(limit) => {
                format!("pattern compiles to more than {limit} bytes")
            }
            other => {
                let detail = other.to_string();
                let last = detail.lines().last().unwrap_or("").trim();
                last.strip_prefix("error: ").unwrap_or(last).to_owned()
            }
        })
}

/// A classic helm repository (`https://…`), as opposed to an OCI registry.
pub fn is_chart_repository_url(repo_url: &str) -> bool {
    let lower = url::sanitize(repo_url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal fast path must agree with the regex engine on every pattern it accepts.
    #[test]
    fn literal_patterns_agree_with_the_regex_engine() {
        let patterns = [
            r"^https://github\.com/example/",
            r"^https://github\.com/example/.*",
            r"github\.com/example",
            r"^ghcr\.io/",
            r"^nginx$",
            r"app$",
            r"",
            r"^",
            r"^.*gitlab\.example\.org/",
            r"^https://host:8443/a\-b/c_d",
            r"^https://github.com/",
            r"^https://(github|gitlab)\.com/",
            r"^https://github\.com/[a-z]+/",
            r"\d+",
            r"^oci://foo/bar",
        ];
        let haystacks = [
            "https://github.com/example/app",
            "https://github.com/example/",
            "https://gitlab.com/x",
            "https://githubXcom/example/app",
            "ghcr.io/example/api",
            "ghcr.io",
            "nginx",
            "my/nginx",
            "my/app",
            "https://host:8443/a-b/c_d/x",
            "oci://foo/bar/something",
            "foo/bar/something",
            "",
        ];
        for pattern in patterns {
            let regex = compile_pattern(pattern).unwrap();
            let ours = Pattern::new(pattern).unwrap();
            for haystack in haystacks {
                assert_eq!(
                    ours.is_match(haystack),
                    regex.is_match(haystack),
                    "pattern {pattern:?} on {haystack:?}"
                );
            }
        }
    }

    #[test]
    fn only_plain_text_takes_the_literal_path() {
        assert!(matches!(
            Pattern::new(r"^https://github\.com/").unwrap(),
            Pattern::Literal { .. }
        ));
        assert!(matches!(
            Pattern::new(r"^https://github.com/").unwrap(),
            Pattern::Regex(_)
        ));
        assert!(matches!(Pattern::new(r"^a\db").unwrap(), Pattern::Regex(_)));
        assert!(Pattern::new(r"^https://github\.com/(example").is_err());
    }

    /// Found by fuzzing: slicing at byte 7 panicked inside a multi-byte character.
    #[test]
    fn plain_http_test_takes_any_text() {
        for (raw, plain) in [
            ("http://h/x", true),
            (" HTTP://h/x", true),
            ("\u{feff}http://h", true),
            ("https://h/x", false),
            ("🦀:🦀@🦀", false),
            ("httpé://", false),
            ("http:/", false),
            ("", false),
        ] {
            assert_eq!(is_plain_http(raw), plain, "{raw:?}");
        }
    }

    #[test]
    fn a_regex_bomb_is_refused_not_compiled() {
        let bomb = "(a{1000}){1000}";
        let error = Pattern::new(bomb).err().expect("refused");
        assert!(error.contains("bytes") || error.contains("size"), "{error}");
    }
}
