//! `Principal` / `NotPrincipal` elements and principal matching.

use crate::context::{PrincipalType, RequestPrincipal};

/// How a resource-based policy named the requesting principal. Decides which implicit denies
/// of the principal's own policies still apply (IAM User Guide, "Policy evaluation logic").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum PrincipalMatch {
    /// The statement named the principal's account (`"123456789012"` or
    /// `arn:aws:iam::123456789012:root`): the account's own policies must allow.
    Account,
    /// The statement named the role of a role session (role ARN or role id), or the IAM user
    /// that created a federated-user session: grants without an identity-policy allow, but
    /// the permissions boundary and session policies still limit it.
    Entity,
    /// The statement named exactly this principal (user ARN, role-session ARN, federated-user
    /// ARN, unique id, `Federated`/`Service`/`CanonicalUser` value) or `*`: within the same
    /// account this grants without an identity-policy allow and is not limited by a boundary or
    /// session policy.
    Exact,
}

/// One `AWS` principal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsPrincipal {
    Any,
    Account(String),
    User(String),
    Role(String),
    AssumedRole(String),
    FederatedUser(String),
    UniqueId(String),
}

/// A parsed `Principal` or `NotPrincipal` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrincipalBlock {
    pub(crate) star: bool,
    pub(crate) aws: Vec<(String, AwsPrincipal)>,
    pub(crate) federated: Vec<String>,
    pub(crate) service: Vec<String>,
    pub(crate) canonical_user: Vec<String>,
    /// Original order of the map entries, for rendering.
    pub(crate) entries: Vec<(String, Vec<String>)>,
}

impl PrincipalBlock {
    /// True for `"Principal": "*"`.
    pub fn is_wildcard(&self) -> bool {
        self.star
    }

    /// The entries as written: (`AWS`|`Federated`|`Service`|`CanonicalUser`, values).
    /// Empty for `"*"`.
    pub fn entries(&self) -> &[(String, Vec<String>)] {
        &self.entries
    }

    /// Every value, flattened (`*` for the wildcard form).
    pub fn values(&self) -> Vec<&str> {
        if self.star {
            return vec!["*"];
        }
        self.entries
            .iter()
            .flat_map(|(_, v)| v.iter().map(String::as_str))
            .collect()
    }

    /// How (if at all) this block names `p` — the best match over all values.
    pub fn matches(&self, p: &RequestPrincipal) -> Option<PrincipalMatch> {
        if self.star {
            return Some(PrincipalMatch::Exact);
        }
        let mut best: Option<PrincipalMatch> = None;
        let mut note = |m: PrincipalMatch| {
            if best.is_none_or(|b| m > b) {
                best = Some(m);
            }
        };
        for (_, a) in &self.aws {
            if let Some(m) = aws_match(a, p) {
                note(m);
            }
        }
        if let Some(fp) = &p.federated_provider
            && self.federated.iter().any(|f| f == fp)
        {
            note(PrincipalMatch::Exact);
        }
        if let Some(s) = &p.service
            && self.service.iter().any(|x| x == s)
        {
            note(PrincipalMatch::Exact);
        }
        if let Some(c) = &p.canonical_user
            && self.canonical_user.iter().any(|x| x == c)
        {
            note(PrincipalMatch::Exact);
        }
        best
    }

    /// `NotPrincipal` semantics: the principal is exempt only if every identity in its chain
    /// (account, role, session — or account, user) is named. AWS evaluates the account, then
    /// the role, then the session, so naming only the session leaves the account (and with it
    /// the session) denied.
    pub fn excludes(&self, p: &RequestPrincipal) -> bool {
        if self.star {
            return true;
        }
        let account_named = |acct: &str| {
            self.aws.iter().any(|(_, a)| match a {
                AwsPrincipal::Account(x) => x == acct,
                AwsPrincipal::Any => true,
                _ => false,
            })
        };
        let exact_named = |arn: &str, id: &str| {
            self.aws.iter().any(|(_, a)| match a {
                AwsPrincipal::Any => true,
                AwsPrincipal::User(x)
                | AwsPrincipal::Role(x)
                | AwsPrincipal::AssumedRole(x)
                | AwsPrincipal::FederatedUser(x) => x == arn,
                AwsPrincipal::UniqueId(x) => x == id,
                AwsPrincipal::Account(_) => false,
            })
        };
        match p.kind {
            PrincipalType::Account => p.account.as_deref().is_some_and(account_named),
            PrincipalType::User | PrincipalType::FederatedUser => {
                p.account.as_deref().is_some_and(account_named) && exact_named(&p.arn, &p.id)
            }
            PrincipalType::AssumedRole => {
                let role_named = match (&p.parent_arn, &p.parent_id) {
                    (Some(arn), id) => exact_named(arn, id.as_deref().unwrap_or_default()),
                    (None, _) => false,
                };
                p.account.as_deref().is_some_and(account_named)
                    && role_named
                    && exact_named(&p.arn, "\u{0}")
            }
            PrincipalType::WebIdentityUser | PrincipalType::SamlUser => p
                .federated_provider
                .as_ref()
                .is_some_and(|fp| self.federated.iter().any(|f| f == fp)),
            PrincipalType::Service => p
                .service
                .as_ref()
                .is_some_and(|s| self.service.iter().any(|x| x == s)),
            PrincipalType::Anonymous => self.aws.iter().any(|(_, a)| *a == AwsPrincipal::Any),
        }
    }
}

fn aws_match(a: &AwsPrincipal, p: &RequestPrincipal) -> Option<PrincipalMatch> {
    match a {
        AwsPrincipal::Any => Some(PrincipalMatch::Exact),
        AwsPrincipal::Account(acct) => {
            (p.account.as_deref() == Some(acct.as_str())).then_some(PrincipalMatch::Account)
        }
        AwsPrincipal::User(arn) => {
            if p.kind == PrincipalType::User && p.arn == *arn {
                Some(PrincipalMatch::Exact)
            } else if p.kind == PrincipalType::FederatedUser
                && p.parent_arn.as_deref() == Some(arn.as_str())
            {
                Some(PrincipalMatch::Entity)
            } else {
                None
            }
        }
        AwsPrincipal::Role(arn) => (p.kind == PrincipalType::AssumedRole
            && p.parent_arn.as_deref() == Some(arn.as_str()))
        .then_some(PrincipalMatch::Entity),
        AwsPrincipal::AssumedRole(arn) | AwsPrincipal::FederatedUser(arn) => {
            (p.arn == *arn).then_some(PrincipalMatch::Exact)
        }
        AwsPrincipal::UniqueId(id) => {
            if p.kind == PrincipalType::User && p.id == *id {
                Some(PrincipalMatch::Exact)
            } else if p.parent_id.as_deref() == Some(id.as_str()) {
                Some(PrincipalMatch::Entity)
            } else {
                None
            }
        }
    }
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Unique ids: `AIDA…`, `AROA…` and the other 4-letter prefixes, 16+ upper-case alphanumerics.
fn is_unique_id(s: &str) -> bool {
    s.len() >= 16
        && s.len() <= 128
        && s.starts_with('A')
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn valid_name_part(s: &str) -> bool {
    !s.is_empty() && !s.contains(['*', '?']) && !s.contains(char::is_whitespace)
}

/// Parses one `AWS` principal value; `None` if IAM would reject it.
pub(crate) fn parse_aws_principal(v: &str) -> Option<AwsPrincipal> {
    if v == "*" {
        return Some(AwsPrincipal::Any);
    }
    if is_account_id(v) {
        return Some(AwsPrincipal::Account(v.to_owned()));
    }
    if is_unique_id(v) {
        return Some(AwsPrincipal::UniqueId(v.to_owned()));
    }
    let mut parts = v.splitn(6, ':');
    let (arn, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn != "arn"
        || partition.is_empty()
        || !partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
        || !region.is_empty()
        || !is_account_id(account)
    {
        return None;
    }
    match service {
        "iam" => {
            if resource == "root" {
                return Some(AwsPrincipal::Account(account.to_owned()));
            }
            if let Some(rest) = resource.strip_prefix("user/") {
                return valid_name_part(rest).then(|| AwsPrincipal::User(v.to_owned()));
            }
            if let Some(rest) = resource.strip_prefix("role/") {
                return valid_name_part(rest).then(|| AwsPrincipal::Role(v.to_owned()));
            }
            None
        }
        "sts" => {
            if let Some(rest) = resource.strip_prefix("assumed-role/") {
                let (role, session) = rest.split_once('/')?;
                return (valid_name_part(role) && valid_name_part(session))
                    .then(|| AwsPrincipal::AssumedRole(v.to_owned()));
            }
            if let Some(rest) = resource.strip_prefix("federated-user/") {
                return valid_name_part(rest).then(|| AwsPrincipal::FederatedUser(v.to_owned()));
            }
            None
        }
        _ => None,
    }
}

/// `Federated`, `Service` and `CanonicalUser` values: non-empty, no white space, no partial
/// wildcards.
pub(crate) fn valid_other_principal(v: &str) -> bool {
    valid_name_part(v) || v == "*"
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn block(aws: &[&str]) -> PrincipalBlock {
        PrincipalBlock {
            aws: aws
                .iter()
                .map(|v| ((*v).to_owned(), parse_aws_principal(v).unwrap()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn parse_values() {
        assert_eq!(
            parse_aws_principal("arn:aws:iam::123456789012:root"),
            Some(AwsPrincipal::Account("123456789012".into()))
        );
        assert!(parse_aws_principal("arn:aws:iam::123456789012:user/*").is_none());
        assert!(parse_aws_principal("arn:aws:iam::12345678901:root").is_none());
        assert!(parse_aws_principal("arn:aws:sts::123456789012:assumed-role/R").is_none());
        assert!(parse_aws_principal("AIDACKCEVSQ6C2EXAMPLE").is_some());
        assert!(parse_aws_principal("bob").is_none());
    }

    #[test]
    fn matching_levels() {
        let session = RequestPrincipal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/Dev/ana",
            "arn:aws:iam::111122223333:role/Dev",
            "AROADBQP57FF2AEXAMPLE",
        );
        assert_eq!(
            block(&["111122223333"]).matches(&session),
            Some(PrincipalMatch::Account)
        );
        assert_eq!(
            block(&["arn:aws:iam::111122223333:role/Dev"]).matches(&session),
            Some(PrincipalMatch::Entity)
        );
        assert_eq!(
            block(&["AROADBQP57FF2AEXAMPLE"]).matches(&session),
            Some(PrincipalMatch::Entity)
        );
        assert_eq!(
            block(&[
                "111122223333",
                "arn:aws:sts::111122223333:assumed-role/Dev/ana"
            ])
            .matches(&session),
            Some(PrincipalMatch::Exact)
        );
        assert_eq!(block(&["444455556666"]).matches(&session), None);
        assert!(!block(&["arn:aws:sts::111122223333:assumed-role/Dev/ana"]).excludes(&session));
        assert!(
            block(&[
                "arn:aws:sts::111122223333:assumed-role/Dev/ana",
                "arn:aws:iam::111122223333:role/Dev",
                "arn:aws:iam::111122223333:root"
            ])
            .excludes(&session)
        );
    }
}
