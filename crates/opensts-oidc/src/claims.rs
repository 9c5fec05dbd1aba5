//! What the server needs from a verified token beyond the basics: session tags, source
//! identity and the trust-policy condition keys.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::OidcError;
use crate::verify::{VerifiedToken, condition_prefix};

/// The claim carrying session tags.
pub const TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// The claim carrying the source identity.
pub const SOURCE_IDENTITY_CLAIM: &str = "https://aws.amazon.com/source_identity";

/// AWS's limit on session tags per session.
pub const MAX_SESSION_TAGS: usize = 50;
const MAX_TAG_KEY_LEN: usize = 128;
const MAX_TAG_VALUE_LEN: usize = 256;

/// The GitHub Actions issuer host (the enterprise-specific issuer adds `/<slug>`).
pub const GITHUB_ACTIONS_HOST: &str = "token.actions.githubusercontent.com";

/// GitHub Actions claims AWS STS exposes as condition keys
/// (`token.actions.githubusercontent.com:<claim>`), in addition to `aud` and `sub`
/// (AWS STS announcement of 2026-01, "validation of identity provider claims").
pub const GITHUB_CONDITION_CLAIMS: &[&str] = &[
    "actor",
    "actor_id",
    "job_workflow_ref",
    "repository",
    "repository_id",
    "workflow",
    "ref",
    "environment",
    "enterprise_id",
];

const GOOGLE_PREFIX: &str = "accounts.google.com";

/// Session tags from the `https://aws.amazon.com/tags` claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionTags {
    /// `(key, value)` pairs, sorted by key.
    pub principal_tags: Vec<(String, String)>,
    /// Keys (as spelled in the token) to pass on in role chaining; each is one of
    /// `principal_tags`' keys (compared case-insensitively).
    pub transitive_tag_keys: Vec<String>,
}

fn bad_tags(problem: &'static str) -> OidcError {
    OidcError::InvalidClaim {
        claim: TAGS_CLAIM,
        problem,
    }
}

impl VerifiedToken {
    /// Parses the session-tag claim:
    /// `{"principal_tags": {"K": ["v"]}, "transitive_tag_keys": ["K"]}`.
    ///
    /// `Ok(None)` when the claim is absent. Each tag must have exactly one string value
    /// (`["v"]`; a bare `"v"` is also accepted). At most [`MAX_SESSION_TAGS`] tags, keys
    /// 1..=128 and values 0..=256 characters, no two keys equal ignoring case, and every
    /// transitive key must name a principal tag. Character-set rules shared with AssumeRole's
    /// `Tags` are left to the server's common tag validation.
    pub fn session_tags(&self) -> Result<Option<SessionTags>, OidcError> {
        let Some(claim) = self.claims.get(TAGS_CLAIM) else {
            return Ok(None);
        };
        let obj = claim.as_object().ok_or(bad_tags("must be a JSON object"))?;
        let mut out = SessionTags::default();
        if let Some(pt) = obj.get("principal_tags") {
            let pt = pt
                .as_object()
                .ok_or(bad_tags("principal_tags must be a JSON object"))?;
            if pt.len() > MAX_SESSION_TAGS {
                return Err(bad_tags("too many session tags"));
            }
            for (k, v) in pt {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(a) => match a.as_slice() {
                        [Value::String(s)] => s.clone(),
                        _ => {
                            return Err(bad_tags(
                                "each principal tag must have exactly one string value",
                            ));
                        }
                    },
                    _ => {
                        return Err(bad_tags(
                            "each principal tag must have exactly one string value",
                        ));
                    }
                };
                if k.is_empty() || k.chars().count() > MAX_TAG_KEY_LEN {
                    return Err(bad_tags("tag keys must be 1 to 128 characters"));
                }
                if value.chars().count() > MAX_TAG_VALUE_LEN {
                    return Err(bad_tags("tag values must be at most 256 characters"));
                }
                if out
                    .principal_tags
                    .iter()
                    .any(|(e, _)| e.to_lowercase() == k.to_lowercase())
                {
                    return Err(bad_tags(
                        "duplicate tag keys (tag keys are case-insensitive)",
                    ));
                }
                out.principal_tags.push((k.clone(), value));
            }
        }
        if let Some(tk) = obj.get("transitive_tag_keys") {
            let keys: Vec<String> = match tk {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(bad_tags("transitive_tag_keys must be an array of strings"))?,
                _ => return Err(bad_tags("transitive_tag_keys must be an array of strings")),
            };
            for k in keys {
                let lk = k.to_lowercase();
                if !out
                    .principal_tags
                    .iter()
                    .any(|(p, _)| p.to_lowercase() == lk)
                {
                    return Err(bad_tags(
                        "transitive_tag_keys must name keys of principal_tags",
                    ));
                }
                if !out
                    .transitive_tag_keys
                    .iter()
                    .any(|e| e.to_lowercase() == lk)
                {
                    out.transitive_tag_keys.push(k);
                }
            }
        }
        Ok(Some(out))
    }

    /// The `https://aws.amazon.com/source_identity` claim: `Ok(None)` when absent; otherwise
    /// it must be a string of 2..=64 characters from `[A-Za-z0-9_+=,.@-]` not starting with
    /// `aws:` (AWS's SourceIdentity rules).
    pub fn source_identity(&self) -> Result<Option<String>, OidcError> {
        let bad = |problem| OidcError::InvalidClaim {
            claim: SOURCE_IDENTITY_CLAIM,
            problem,
        };
        match self.claims.get(SOURCE_IDENTITY_CLAIM) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if !(2..=64).contains(&n) {
                    return Err(bad("must be 2 to 64 characters"));
                }
                if !s
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
                {
                    return Err(bad("may only contain letters, digits and _+=,.@-"));
                }
                if s.to_ascii_lowercase().starts_with("aws:") {
                    return Err(bad("must not start with aws:"));
                }
                Ok(Some(s.clone()))
            }
            Some(_) => Err(bad("must be a string")),
        }
    }

    /// The condition keys this token contributes to the trust-policy evaluation, keyed by
    /// their full name (`<provider URL without https://>:<key>`), each with its values.
    ///
    /// - `:aud` — the matched client id ([`VerifiedToken::audience`]); for
    ///   `accounts.google.com` it is `azp` when the token has one (AWS's documented rule),
    /// - `:oaud` — `accounts.google.com` only: the token's `aud` values,
    /// - `:sub` — the subject,
    /// - `:amr` — the `amr` values, when the token has any (multi-valued; AWS documents it
    ///   for Cognito, whose tokens are the ones that carry it),
    /// - `token.actions.githubusercontent.com[/<enterprise>]:<claim>` for each claim in
    ///   [`GITHUB_CONDITION_CLAIMS`] that is present as a string or number.
    ///
    /// AWS exposes no other custom claims, so neither does this.
    pub fn condition_keys(&self) -> BTreeMap<String, Vec<String>> {
        let prefix = condition_prefix(&self.issuer);
        let mut out = BTreeMap::new();
        let is_google = prefix == GOOGLE_PREFIX;
        let aud = match (&self.azp, is_google) {
            (Some(azp), true) => azp.clone(),
            _ => self.audience.clone(),
        };
        out.insert(format!("{prefix}:aud"), vec![aud]);
        if is_google {
            out.insert(format!("{prefix}:oaud"), self.audiences.clone());
        }
        out.insert(format!("{prefix}:sub"), vec![self.subject.clone()]);
        if !self.amr.is_empty() {
            out.insert(format!("{prefix}:amr"), self.amr.clone());
        }
        let is_github = prefix == GITHUB_ACTIONS_HOST
            || prefix
                .strip_prefix(GITHUB_ACTIONS_HOST)
                .is_some_and(|rest| rest.starts_with('/'));
        if is_github {
            for claim in GITHUB_CONDITION_CLAIMS {
                let v = match self.claims.get(*claim) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => continue,
                };
                out.insert(format!("{prefix}:{claim}"), vec![v]);
            }
        }
        out
    }
}
