//! Fuzz the IAM policy parser: every policy kind, then canonical rendering (must re-parse to
//! the same policy) and an evaluation against a fixed request (must not panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use opensts_policy::{
    EvaluationInput, IdentityAttachment, ParseOptions, Policy, PolicyKind, PolicyRef,
    RequestContext, RequestPrincipal, SizeLimit, evaluate,
};

const KINDS: [PolicyKind; 7] = [
    PolicyKind::Identity(IdentityAttachment::Managed),
    PolicyKind::Identity(IdentityAttachment::UserInline),
    PolicyKind::Trust,
    PolicyKind::Session,
    PolicyKind::Boundary,
    PolicyKind::ServiceControl,
    PolicyKind::Resource,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = RequestContext::new("s3:GetObject", "arn:aws:s3:::bucket/key")
        .with_principal(RequestPrincipal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/Dev/ana",
            "arn:aws:iam::111122223333:role/Dev",
            "AROADEVEXAMPLE0000001",
        ))
        .with_key("aws:SourceIp", "203.0.113.7")
        .with_key("aws:CurrentTime", "2024-01-01T00:00:00Z")
        .with_principal_tag("team", "blue")
        .with_values("aws:TagKeys", ["a", "b"]);
    let opts = ParseOptions {
        size_limit: SizeLimit::Unlimited,
    };
    for kind in KINDS {
        let _ = Policy::parse(text, kind);
        let Ok(policy) = Policy::parse_with(text, kind, &opts) else {
            continue;
        };
        let canonical = policy.to_canonical_json();
        let again = Policy::parse_with(&canonical, kind, &opts)
            .unwrap_or_else(|e| panic!("canonical JSON rejected ({}): {canonical}", e.message()));
        assert!(
            again == policy,
            "canonical JSON re-parsed differently: {canonical}"
        );
        let refs = [PolicyRef::new("fuzz", &policy)];
        let input = if kind.is_resource_based() {
            EvaluationInput {
                resource: Some(refs[0]),
                ..Default::default()
            }
        } else {
            EvaluationInput {
                identity: &refs,
                ..Default::default()
            }
        };
        let d = evaluate(&input, &ctx);
        let _ = d.authorization_message();
    }
});
