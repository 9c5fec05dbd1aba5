//! Limiting policies (session policies, scope-down layers, SCPs, RCPs) that no longer parse
//! must narrow to nothing, never drop out (which would widen the principal's permissions).

use opensts_policy::{EvaluationInput, IdentityAttachment, Policy, PolicyKind, PolicyRef};
use opensts_policy::{RequestContext, evaluate};
use opensts_server::authz::parse_or_deny_all;

use crate::helpers::*;

#[tokio::test]
async fn an_unparseable_limiting_policy_denies_everything() {
    let app = spawn_app().await;
    let admin = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        PolicyKind::Identity(IdentityAttachment::RoleInline),
    )
    .unwrap();
    let ids = [PolicyRef::new("admin", &admin)];
    let ctx = RequestContext::new("iam:GetRole", "arn:aws:iam::123456789012:role/r");
    for kind in [
        PolicyKind::Session,
        PolicyKind::ServiceControl,
        PolicyKind::ResourceControl,
    ] {
        let p = parse_or_deny_all(&app.state, "{ not a policy", kind).unwrap();
        let one = [PolicyRef::new("broken", &p)];
        let levels: [&[PolicyRef<'_>]; 1] = [&one];
        let input = match kind {
            PolicyKind::Session => EvaluationInput {
                identity: &ids,
                session: Some(&one),
                ..Default::default()
            },
            PolicyKind::ServiceControl => EvaluationInput {
                identity: &ids,
                scps: &levels,
                ..Default::default()
            },
            _ => EvaluationInput {
                identity: &ids,
                rcps: &levels,
                ..Default::default()
            },
        };
        let d = evaluate(&input, &ctx);
        assert!(
            !d.allowed(),
            "{kind:?}: an unparseable policy let the request through"
        );
        // without it, the same request is allowed
        let plain = EvaluationInput {
            identity: &ids,
            ..Default::default()
        };
        assert!(evaluate(&plain, &ctx).allowed());
    }
}
