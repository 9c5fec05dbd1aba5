//! Property tests: deny monotonicity, unrelated allows, and the wildcard matcher against a
//! simple reference implementation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opensts_policy::*;
use proptest::prelude::*;

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:*",
    "s3:Get*",
    "s3:Put?bject",
    "iam:*",
    "*",
    "sts:AssumeRole",
];
const REQ_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "iam:GetUser",
    "sts:AssumeRole",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::c/*",
    "arn:aws:s3:::${aws:username}/*",
];
const REQ_RESOURCES: &[&str] = &[
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::c/x",
    "arn:aws:s3:::alice/z",
];
const CONDITIONS: &[&str] = &[
    "",
    r#","Condition":{"StringEquals":{"aws:PrincipalTag/team":"blue"}}"#,
    r#","Condition":{"Bool":{"aws:SecureTransport":"false"}}"#,
    r#","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b"]}}"#,
    r#","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalTag/team":"red"}}"#,
];
const PRINCIPALS: &[&str] = &[
    r#""*""#,
    r#"{"AWS":"111122223333"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:user/alice"}"#,
    r#"{"AWS":"arn:aws:iam::111122223333:role/Dev"}"#,
    r#"{"AWS":"arn:aws:sts::111122223333:assumed-role/Dev/ana"}"#,
    r#"{"AWS":"444455556666"}"#,
];

#[derive(Debug, Clone)]
struct Stmt {
    deny: bool,
    not_action: bool,
    action: usize,
    resource: usize,
    condition: usize,
    principal: usize,
}

impl Stmt {
    fn render(&self, resource_based: bool) -> String {
        let effect = if self.deny { "Deny" } else { "Allow" };
        let akey = if self.not_action {
            "NotAction"
        } else {
            "Action"
        };
        let principal = if resource_based {
            format!(r#","Principal":{}"#, PRINCIPALS[self.principal])
        } else {
            String::new()
        };
        format!(
            r#"{{"Effect":"{effect}"{principal},"{akey}":"{}","Resource":"{}"{}}}"#,
            ACTIONS[self.action], RESOURCES[self.resource], CONDITIONS[self.condition]
        )
    }
}

fn stmt() -> impl Strategy<Value = Stmt> {
    (
        any::<bool>(),
        prop::bool::weighted(0.15),
        0..ACTIONS.len(),
        0..RESOURCES.len(),
        0..CONDITIONS.len(),
        0..PRINCIPALS.len(),
    )
        .prop_map(
            |(deny, not_action, action, resource, condition, principal)| Stmt {
                deny,
                not_action,
                action,
                resource,
                condition,
                principal,
            },
        )
}

#[derive(Debug, Clone)]
struct Scenario {
    identity: Vec<Vec<Stmt>>,
    resource: Option<Vec<Stmt>>,
    boundary: Option<Vec<Stmt>>,
    session: Option<Vec<Vec<Stmt>>>,
    principal: usize,
    action: usize,
    req_resource: usize,
    team: Option<bool>,
    secure: bool,
    ip_private: bool,
    tags: Vec<&'static str>,
}

fn policy_list(max: usize) -> impl Strategy<Value = Vec<Vec<Stmt>>> {
    prop::collection::vec(prop::collection::vec(stmt(), 1..4), 0..max)
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        policy_list(3),
        prop::option::of(prop::collection::vec(stmt(), 1..4)),
        prop::option::of(prop::collection::vec(stmt(), 1..3)),
        prop::option::of(policy_list(2)),
        0..4usize,
        0..REQ_ACTIONS.len(),
        0..REQ_RESOURCES.len(),
        prop::option::of(any::<bool>()),
        any::<bool>(),
        any::<bool>(),
        prop::sample::subsequence(vec!["a", "b", "c"], 0..3),
    )
        .prop_map(
            |(
                identity,
                resource,
                boundary,
                session,
                principal,
                action,
                req_resource,
                team,
                secure,
                ip_private,
                tags,
            )| Scenario {
                identity,
                resource,
                boundary,
                session,
                principal,
                action,
                req_resource,
                team,
                secure,
                ip_private,
                tags,
            },
        )
}

fn parse(stmts: &[Stmt], kind: PolicyKind) -> Policy {
    let body: Vec<String> = stmts
        .iter()
        .map(|s| s.render(kind.is_resource_based()))
        .collect();
    let text = format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        body.join(",")
    );
    Policy::parse_with(
        &text,
        kind,
        &ParseOptions {
            size_limit: SizeLimit::Unlimited,
        },
    )
    .unwrap_or_else(|e| panic!("{}: {text}", e.message()))
}

fn context(s: &Scenario) -> RequestContext {
    let principal = match s.principal {
        0 => RequestPrincipal::user(
            "arn:aws:iam::111122223333:user/alice",
            "AIDAALICEEXAMPLE00001",
        ),
        1 => RequestPrincipal::assumed_role(
            "arn:aws:sts::111122223333:assumed-role/Dev/ana",
            "arn:aws:iam::111122223333:role/Dev",
            "AROADEVEXAMPLE0000001",
        ),
        2 => RequestPrincipal::federated_user(
            "arn:aws:sts::111122223333:federated-user/fed",
            "arn:aws:iam::111122223333:user/alice",
        ),
        _ => RequestPrincipal::user(
            "arn:aws:iam::444455556666:user/bob",
            "AIDABOBEXAMPLE0000001",
        ),
    };
    let mut ctx = RequestContext::new(REQ_ACTIONS[s.action], REQ_RESOURCES[s.req_resource])
        .with_principal(principal)
        .with_resource_account("111122223333")
        .with_secure_transport(s.secure)
        .with_key(
            "aws:SourceIp",
            if s.ip_private {
                "10.1.2.3"
            } else {
                "203.0.113.9"
            },
        );
    if let Some(blue) = s.team {
        ctx = ctx.with_principal_tag("team", if blue { "blue" } else { "red" });
    }
    if !s.tags.is_empty() {
        ctx = ctx.with_values("aws:TagKeys", s.tags.iter().copied());
    }
    ctx
}

struct Built {
    identity: Vec<Policy>,
    resource: Option<Policy>,
    boundary: Option<Policy>,
    session: Option<Vec<Policy>>,
}

fn build(s: &Scenario) -> Built {
    Built {
        identity: s
            .identity
            .iter()
            .map(|p| parse(p, PolicyKind::Identity(IdentityAttachment::Managed)))
            .collect(),
        resource: s.resource.as_ref().map(|p| parse(p, PolicyKind::Resource)),
        boundary: s.boundary.as_ref().map(|p| parse(p, PolicyKind::Boundary)),
        session: s
            .session
            .as_ref()
            .map(|ps| ps.iter().map(|p| parse(p, PolicyKind::Session)).collect()),
    }
}

/// (allowed, explicit deny, reason)
fn decide(b: &Built, ctx: &RequestContext) -> (bool, bool, Reason) {
    let ids: Vec<String> = (0..b.identity.len()).map(|i| format!("id{i}")).collect();
    let identity: Vec<PolicyRef<'_>> = b
        .identity
        .iter()
        .zip(&ids)
        .map(|(p, id)| PolicyRef::new(id, p))
        .collect();
    let session: Option<Vec<PolicyRef<'_>>> = b
        .session
        .as_ref()
        .map(|ps| ps.iter().map(|p| PolicyRef::new("session", p)).collect());
    let input = EvaluationInput {
        identity: &identity,
        resource: b.resource.as_ref().map(|p| PolicyRef::new("resource", p)),
        boundary: b.boundary.as_ref().map(|p| PolicyRef::new("boundary", p)),
        session: session.as_deref(),
        ..Default::default()
    };
    let d = evaluate(&input, ctx);
    (d.allowed(), d.explicit_deny(), d.reason())
}

/// Where to add an extra statement.
fn add(s: &Scenario, where_: usize, extra: Stmt) -> Scenario {
    let mut s = s.clone();
    match where_ {
        0 => s.identity.push(vec![extra]),
        1 if !s.identity.is_empty() => s.identity[0].push(extra),
        2 => s.resource.get_or_insert_with(Vec::new).push(extra),
        3 => match &mut s.boundary {
            Some(b) => b.push(extra),
            None => s.identity.push(vec![extra]),
        },
        4 => match &mut s.session {
            Some(ps) if !ps.is_empty() => ps[0].push(extra),
            _ => s.identity.push(vec![extra]),
        },
        _ => s.identity.push(vec![extra]),
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn adding_a_deny_never_turns_deny_into_allow(s in scenario(), extra in stmt(), where_ in 0..6usize) {
        let ctx = context(&s);
        let before = decide(&build(&s), &ctx);
        let extra = Stmt { deny: true, ..extra };
        let after = decide(&build(&add(&s, where_, extra)), &ctx);
        if !before.0 {
            prop_assert!(!after.0, "deny became allow: {:?} -> {:?}", before, after);
        }
        if before.1 {
            prop_assert!(after.1);
        }
    }

    #[test]
    fn an_allow_never_lifts_an_explicit_deny(s in scenario(), extra in stmt(), where_ in 0..6usize) {
        let ctx = context(&s);
        let before = decide(&build(&s), &ctx);
        let extra = Stmt { deny: false, ..extra };
        let after = decide(&build(&add(&s, where_, extra)), &ctx);
        if before.1 {
            prop_assert!(!after.0 && after.1);
        }
    }

    #[test]
    fn an_unrelated_allow_changes_nothing(s in scenario(), extra in stmt(), where_ in 0..6usize) {
        // The extra statement allows only sts:AssumeRole; make the request something else.
        let mut s = s;
        if REQ_ACTIONS[s.action] == "sts:AssumeRole" {
            s.action = 0;
        }
        let ctx = context(&s);
        let before = decide(&build(&s), &ctx);
        let extra = Stmt { deny: false, not_action: false, action: 6, ..extra };
        // Keep the shape of the policy sets: no new resource policy.
        let where_ = if where_ == 2 && s.resource.is_none() { 0 } else { where_ };
        let after = decide(&build(&add(&s, where_, extra)), &ctx);
        prop_assert_eq!(before, after);
    }

    #[test]
    fn wildcard_matches_reference(p in "[ab*?]{0,8}", t in "[ab]{0,10}") {
        prop_assert_eq!(wildcard_match(&p, &t, false), reference(p.as_bytes(), t.as_bytes()));
    }

    #[test]
    fn case_insensitive_wildcard_matches_reference(p in "[aAbB*?]{0,8}", t in "[aAbB]{0,10}") {
        let (pl, tl) = (p.to_ascii_lowercase(), t.to_ascii_lowercase());
        prop_assert_eq!(wildcard_match(&p, &t, true), reference(pl.as_bytes(), tl.as_bytes()));
    }

    #[test]
    fn arn_match_is_componentwise(p in "[a*:]{0,10}", t in "[a:]{0,10}") {
        let want = reference_arn(&p, &t);
        prop_assert_eq!(arn_match(&p, &t), want, "pattern {:?} text {:?}", p, t);
    }
}

/// Regex-free recursive reference matcher.
fn reference(p: &[u8], t: &[u8]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((b'*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
        Some((b'?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
        Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
    }
}

fn reference_arn(p: &str, t: &str) -> bool {
    if p == "*" {
        return true;
    }
    let pp: Vec<&str> = p.splitn(6, ':').collect();
    if pp.len() < 6 {
        return reference(p.as_bytes(), t.as_bytes());
    }
    let tp: Vec<&str> = t.splitn(6, ':').collect();
    tp.len() == 6
        && pp
            .iter()
            .zip(&tp)
            .all(|(a, b)| reference(a.as_bytes(), b.as_bytes()))
}
