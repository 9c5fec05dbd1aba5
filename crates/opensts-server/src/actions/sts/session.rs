//! What the session-issuing actions share: session policies (`Policy`, `PolicyArns`), session
//! tags (`Tags`, `TransitiveTagKeys`), `SourceIdentity`, the packed-size metric and the
//! `AssumedRoleUser` XML.

use std::sync::Arc;

use opensts_core::principal::Principal;
use opensts_policy::PolicyKind;

use crate::actions::ActionCtx;
use crate::actions::iam::parse_tags;
use crate::auth::Caller;
use crate::authz;
use crate::error::{ApiError, ApiResult};
use crate::iam::model::Tag;
use crate::protocol::xml::Xml;
use crate::protocol::{CharRule, Params, Violations};

/// Most managed session policies (`PolicyArns`) one request may pass.
pub const MAX_POLICY_ARNS: usize = 10;
/// The "packed" budget that session policies, policy ARNs and session tags share inside a
/// session token. AWS keeps its own limit undocumented; ours is this many bytes of the compact
/// encoding (policy JSON with insignificant whitespace removed, ARNs, tag keys and values).
/// `PackedPolicySize` reports the percentage used; over 100 → `PackedPolicyTooLarge`.
pub const PACKED_POLICY_LIMIT_BYTES: usize = 4096;

/// Session policies and tags of a request, validated.
#[derive(Default, Debug)]
pub struct SessionParams {
    /// Inline session policy as given (compacted for storage).
    pub policy: Option<Arc<str>>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<Tag>,
    pub transitive_tag_keys: Vec<String>,
}

/// Remove insignificant whitespace from a JSON document (it was validated as JSON already).
pub fn compact_json(doc: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(v) => v.to_string(),
        Err(_) => doc.to_string(),
    }
}

/// Parse `Policy` and `PolicyArns` (validated as session policies) plus `Tags` and
/// `TransitiveTagKeys` when `allow_tags`.
pub async fn parse_session_params(
    cx: &ActionCtx<'_>,
    p: &Params,
    policy_max_chars: usize,
    allow_transitive: bool,
) -> ApiResult<SessionParams> {
    let mut v = Violations::new();
    let policy = v.string(
        p,
        "Policy",
        false,
        1,
        policy_max_chars,
        Some(CharRule::PolicyChars),
    );
    let arns = p.struct_list("PolicyArns")?.unwrap_or_default();
    if arns.len() > MAX_POLICY_ARNS {
        v.add(
            Some(&format!("{} policy ARNs", arns.len())),
            "PolicyArns",
            &format!("Member must have length less than or equal to {MAX_POLICY_ARNS}"),
        );
    }
    let transitive = if allow_transitive {
        p.list("TransitiveTagKeys")?.unwrap_or_default()
    } else {
        Vec::new()
    };
    if transitive.len() > 50 {
        v.add(
            Some(&format!("{} keys", transitive.len())),
            "TransitiveTagKeys",
            "Member must have length less than or equal to 50",
        );
    }
    let mut policy_arns = Vec::with_capacity(arns.len());
    for a in &arns {
        match a.get("arn") {
            Some(arn) if (20..=2048).contains(&arn.chars().count()) => {
                policy_arns.push(arn.clone())
            }
            other => v.add(
                other.map(String::as_str),
                "PolicyArns.member.arn",
                "Member must have length greater than or equal to 20",
            ),
        }
    }
    v.into_result()?;

    let compact = match policy {
        Some(doc) => Some(match cx.state.cache.session_policy(doc) {
            Some(c) => c,
            None => {
                // `policy_max_chars` was enforced above; an unbounded inline policy (AssumeRole's
                // `unrestrictedSessionPolicyDocumentType`) is bounded by the packed budget.
                let options = opensts_policy::ParseOptions {
                    size_limit: opensts_policy::SizeLimit::Unlimited,
                };
                opensts_policy::Policy::parse_with(doc, PolicyKind::Session, &options)
                    .map_err(|e| ApiError::malformed_policy_document(e.message()))?;
                let c: Arc<str> = Arc::from(compact_json(doc));
                cx.state
                    .cache
                    .insert_session_policy(doc.to_string(), c.clone());
                c
            }
        }),
        None => None,
    };
    for arn in &policy_arns {
        if authz::managed_policy_document(cx.state, arn)
            .await?
            .is_none()
        {
            return Err(ApiError::malformed_policy_document(format!(
                "Policy {arn} does not exist or is not attachable."
            )));
        }
    }
    let tags = parse_tags(p)?;
    for t in &tags {
        if t.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::invalid_parameter_value(
                "Tag keys may not start with the reserved prefix aws:",
            ));
        }
    }
    for k in &transitive {
        if !tags.iter().any(|t| t.key.eq_ignore_ascii_case(k)) {
            return Err(ApiError::invalid_parameter_value(format!(
                "The specified transitive tag key must be included in the requested tags: {k}"
            )));
        }
    }
    Ok(SessionParams {
        policy: compact,
        policy_arns,
        tags,
        transitive_tag_keys: transitive,
    })
}

impl SessionParams {
    pub fn has_any(&self) -> bool {
        self.policy.is_some() || !self.policy_arns.is_empty() || !self.tags.is_empty()
    }

    /// Percentage of [`PACKED_POLICY_LIMIT_BYTES`] used; refuses more than 100%.
    pub fn packed_size_percent(&self, inherited_tags: &[(String, String)]) -> ApiResult<i64> {
        let bytes = self.policy.as_ref().map_or(0, |p| p.len())
            + self.policy_arns.iter().map(String::len).sum::<usize>()
            + self
                .tags
                .iter()
                .map(|t| t.key.len() + t.value.len())
                .sum::<usize>()
            + inherited_tags
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        let pct = (bytes * 100).div_ceil(PACKED_POLICY_LIMIT_BYTES);
        let pct = i64::try_from(pct).unwrap_or(i64::MAX);
        if pct > 100 {
            return Err(ApiError::new(
                "PackedPolicyTooLarge",
                http::StatusCode::BAD_REQUEST,
                format!(
                    "Packed size of session policies and tags consumes {pct}% of allotted space."
                ),
            ));
        }
        Ok(pct)
    }
}

/// `SourceIdentity`: 2–64 of `[\w+=,.@-]`, not starting with `aws:`.
pub fn parse_source_identity(p: &Params) -> ApiResult<Option<String>> {
    let mut v = Violations::new();
    let si = v.string(p, "SourceIdentity", false, 2, 64, Some(CharRule::NameChars));
    v.into_result()?;
    if let Some(s) = si
        && s.to_ascii_lowercase().starts_with("aws:")
    {
        return Err(ApiError::validation(
            "SourceIdentity must not begin with the reserved prefix aws:",
        ));
    }
    Ok(si.map(str::to_string))
}

/// AWS's answer to a wrong, replayed or unusable MFA code (with its trailing space).
pub const MFA_FAILED: &str =
    "MultiFactorAuthentication failed with invalid MFA one time pass code. ";

/// Check `SerialNumber` + `TokenCode` of a GetSessionToken/AssumeRole request. `Ok(None)` when
/// neither is given, `Ok(Some(now))` (the MFA authentication time) when the code is valid for a
/// virtual MFA device enabled for the calling IAM user (its long-term keys or its
/// GetSessionToken session). Only IAM users own MFA devices here, so any other caller (root,
/// role sessions) fails like a wrong code. Each code is accepted once (see
/// [`crate::iam::mfa::verify_mfa_code`]).
pub async fn verify_caller_mfa(
    cx: &ActionCtx<'_>,
    caller: &Caller,
    serial: Option<&str>,
    code: Option<&str>,
) -> ApiResult<Option<i64>> {
    let (serial, code) = match (serial, code) {
        (None, None) => return Ok(None),
        (Some(s), Some(c)) => (s, c),
        _ => {
            return Err(ApiError::access_denied(
                "MultiFactorAuthentication failed, both SerialNumber and TokenCode are required.",
            ));
        }
    };
    let Principal::User { name, .. } = caller.principal() else {
        return Err(ApiError::access_denied(MFA_FAILED));
    };
    let ok = crate::iam::mfa::verify_mfa_code(
        cx.state,
        caller.account_id(),
        Some(name.as_str()),
        serial,
        code,
        cx.now,
    )
    .await?;
    if !ok {
        return Err(ApiError::access_denied(MFA_FAILED));
    }
    Ok(Some(cx.now))
}

pub fn write_assumed_role_user(x: &mut Xml, assumed_role_id: &str, arn: &str) {
    x.open("AssumedRoleUser")
        .elem("AssumedRoleId", assumed_role_id)
        .elem("Arn", arn)
        .close("AssumedRoleUser");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.to_string(),
            value: v.to_string(),
        }
    }

    #[test]
    fn packed_size_is_a_percentage_of_the_budget() {
        assert_eq!(
            SessionParams::default().packed_size_percent(&[]).unwrap(),
            0
        );
        let p = SessionParams {
            policy: Some(Arc::from(compact_json(
                r#"{ "Version": "2012-10-17",
                     "Statement": [ { "Effect": "Allow", "Action": "s3:*", "Resource": "*" } ] }"#,
            ))),
            ..Default::default()
        };
        // Compacted: {"Statement":[{"Action":"s3:*","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}
        let len = p.policy.as_ref().unwrap().len();
        assert_eq!(len, 88);
        assert_eq!(
            p.packed_size_percent(&[]).unwrap(),
            i64::try_from((len * 100).div_ceil(PACKED_POLICY_LIMIT_BYTES)).unwrap()
        );
        // Inherited transitive tags count too.
        let inherited = vec![("k".repeat(100), "v".repeat(100))];
        assert_eq!(p.packed_size_percent(&inherited).unwrap(), 8);
        // Exactly the budget is fine, one byte more is not.
        let full = SessionParams {
            tags: vec![tag(&"k".repeat(96), &"v".repeat(4000))],
            ..Default::default()
        };
        assert_eq!(full.packed_size_percent(&[]).unwrap(), 100);
        let over = SessionParams {
            tags: vec![tag(&"k".repeat(97), &"v".repeat(4000))],
            ..Default::default()
        };
        let e = over.packed_size_percent(&[]).unwrap_err();
        assert_eq!(e.code, "PackedPolicyTooLarge");
        assert!(e.message.contains("101%"), "{}", e.message);
    }
}
