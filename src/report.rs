//! How `kargo-creds resolve` shows a [`Report`]: a short answer, the `--explain` trace, or
//! JSON. Never a secret value: only names, `repoURL`s, usernames and verdicts.

use serde_json::{json, Value};

use crate::config::Settings;
use crate::lookup::{Answer, Report};
use crate::provider::{MintPlan, Selection};
use crate::resolve::{MatchMode, Target, Verdict};
use crate::url;

/// One line: which Secret and provider, or why none.
pub fn summary(report: &Report) -> String {
    match &report.answer {
        Answer::RefusedPlainHttp => {
            "no credentials: plain http URLs are refused (KARGO_CREDS_ALLOW_HTTP=true allows them)"
                .into()
        }
        Answer::NoMatch => "no matching Secret".into(),
        Answer::Ambient { selection } => format!(
            "no matching Secret; the machine's own identity: {}",
            describe_selection(selection)
        ),
        Answer::Matched { secret, selection } => {
            format!("{} ({})", secret.id(), describe_selection(selection))
        }
    }
}

fn describe_selection(selection: &Selection) -> String {
    match selection {
        Selection::Static {
            provider,
            credentials,
        } => {
            format!("{provider} provider, username {}", credentials.username)
        }
        Selection::SshKey { .. } => {
            "ssh provider: an SSH private key (git credential helpers cannot use it)".into()
        }
        Selection::Declined { provider, reason } => {
            format!("{provider} provider gives no credentials: {reason}")
        }
        Selection::Unsupported { lacks } => format!("no provider can use it: {lacks}"),
                        Selection::Mint { provider, plan } => match plan.as_ref() {
                        MintPlan::Gke(gke) => format!(
                "{provider} provider: a token for {} from GKE Workload Identity (metadata server {}){}",
                gke.registry,
                gke.identity.metadata_base,
                match &gke.kargo_project {
                    Some(project) => format!(", impersonating kargo-project-{project}@<gcp project> when allowed"),
                    None => String::new(),
                }
            ),
            MintPlan::Acr(acr) => format!(
                "{provider} provider: an ACR refresh token for {} from Azure Workload Identity (client {}, tenant {}) via {}",
                acr.registry,
                acr.identity.client_id,
                acr.identity.tenant_id,
                acr.exchange_url()
            ),
            MintPlan::Ecr(ecr) => format!(
                "{provider} provider: an ECR login for {} from access key {} (GetAuthorizationToken in {})",
                ecr.registry.host, ecr.keys.access_key_id, ecr.region
            ),
            MintPlan::EcrIdentity(plan) => format!(
                "{provider} provider: an ECR login for {} from this machine's AWS identity ({}), trying in order: {}",
                plan.registry.host,
                plan.identity.base.describe(),
                plan.identities_in_order().join(", ")
            ),
            MintPlan::Gar(gar) => format!(
                "{provider} provider: a token for {} as {} from {}",
                gar.registry,
                gar.client_email.as_deref().unwrap_or("(no client_email)"),
                gar.token_uri
            ),
            MintPlan::GithubApp(app) => format!(
                "{provider} provider: a token for {} from App {} installation {}, minted at {}",
                app.scope(),
                app.issuer,
                app.installation_id,
                app.mint_url()
            ),
        },
    }
}

/// The full `--explain` trace.
pub fn explain(report: &Report, settings: &Settings, source: &str) -> String {
    let mut out = String::new();
    let role = |namespace: &str| {
        if settings.project.as_deref() == Some(namespace) {
            "project"
        } else {
            "shared"
        }
    };
    out.push_str(&format!(
        "source:     {source} (chosen: {})\n",
        settings.source_reason
    ));
    if settings.project.is_none() {
        out.push_str("project:    none (only the shared namespace is searched; set --project or KARGO_PROJECT)\n");
    }
    for section in &report.sections {
        match &section.target {
            Target::Url {
                cred_type,
                raw,
                normalized,
            } => {
                out.push_str(&format!(
                    "url:        {} (type {cred_type})\n",
                    url::for_display(raw)
                ));
                out.push_str(&format!("normalized: {}\n", url::for_display(normalized)));
            }
            Target::RegistryHost { cred_type, host } => {
                out.push_str(&format!(
                    "registry:   {host} (Secrets of type {cred_type})\n"
                ));
            }
        }
        if matches!(report.answer, Answer::RefusedPlainHttp) {
            out.push_str("refused:    plain http URL: no Secret is consulted unless KARGO_CREDS_ALLOW_HTTP=true\n");
        }
        for namespace in &section.namespaces {
            out.push_str(&format!(
                "namespace {} ({}): {} candidate(s)\n",
                namespace.namespace,
                role(&namespace.namespace),
                namespace.candidates.len()
            ));
            for (index, candidate) in namespace.candidates.iter().enumerate() {
                let mode = match candidate.mode {
                    MatchMode::Exact => "exact",
                    MatchMode::Regex => "regex",
                };
                let mut verdict = candidate.verdict.describe();
                if candidate.verdict == Verdict::NotReached && candidate.would_match {
                    verdict.push_str(" (would match)");
                }
                out.push_str(&format!(
                    "  {:>2}. {mode} {} {} -> {verdict}\n",
                    index + 1,
                    candidate.name,
                    candidate
                        .repo_url
                        .as_deref()
                        .map_or_else(|| "(no repoURL)".to_owned(), url::for_display),
                ));
            }
        }
        if let Some(pick) = &section.kargo_code_pick {
            out.push_str(&format!(
                "note:       Kargo's controller code (one pass in name order, exact and patterns interleaved) would pick {pick}; the documented order (exact first) is followed here\n"
            ));
        }
    }
    out.push_str(&format!("result:     {}\n", summary(report)));
    out
}

/// `resolve -o json`.
pub fn to_json(report: &Report, raw_url: &str) -> Value {
    let section = report.sections.last();
    let (cred_type, normalized) = match section.map(|s| &s.target) {
        Some(Target::Url {
            cred_type,
            normalized,
            ..
        }) => (cred_type.as_str(), normalized.clone()),
        Some(Target::RegistryHost { cred_type, host }) => (cred_type.as_str(), host.clone()),
        None => ("", String::new()),
    };
    let candidates: Vec<Value> = report
        .sections
        .iter()
        .flat_map(|section| {
            section.namespaces.iter().flat_map(move |namespace| {
                namespace.candidates.iter().map(move |candidate| {
                    json!({
                        "type": section.target.cred_type().as_str(),
                        "namespace": namespace.namespace,
                        "name": candidate.name,
                        "mode": match candidate.mode { MatchMode::Exact => "exact", MatchMode::Regex => "regex" },
                        "repoURL": candidate.repo_url.as_deref().map(url::for_display),
                        "verdict": verdict_code(&candidate.verdict),
                        "reason": candidate.verdict.describe(),
                        "matches": candidate.would_match,
                    })
                })
            })
        })
        .collect();
    let outcome = match &report.answer {
        Answer::RefusedPlainHttp => "refused",
        Answer::NoMatch => "none",
        Answer::Ambient { .. } => "token",
        Answer::Matched { selection, .. } => match selection {
            Selection::Static { .. } | Selection::SshKey { .. } => "credentials",
            Selection::Mint { .. } => "token",
            Selection::Declined { .. } | Selection::Unsupported { .. } => "none",
        },
    };
    json!({
        "url": url::for_display(raw_url),
        "type": cred_type,
        "normalized": normalized,
        "secret": report.secret_id(),
        "provider": report.provider().map(|p| p.as_str()),
        "outcome": outcome,
        "summary": summary(report),
        "kargo_code_pick": report.sections.iter().find_map(|s| s.kargo_code_pick.clone()),
        "candidates": candidates,
    })
}

fn verdict_code(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::ExactMatch => "exact",
        Verdict::ExactDiffers { .. } => "exact-differs",
        Verdict::RegexMatchedRaw => "regex-raw",
        Verdict::RegexMatchedNormalized => "regex-normalized",
        Verdict::RegexNoMatch => "regex-no-match",
        Verdict::SkippedNoRepoUrl => "skipped-no-repo-url",
        Verdict::SkippedInvalidRegex { .. } => "skipped-invalid-regex",
        Verdict::SkippedBadValue { .. } => "skipped-bad-value",
        Verdict::SkippedNotRegistry => "skipped-not-registry",
        Verdict::NotReached => "not-reached",
    }
}
