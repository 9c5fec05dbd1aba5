//! Data-driven corpus: every `tests/corpus/*.json` file holds evaluation cases (policies +
//! request + expected decision and matched statements) and parse cases (document + expected
//! error fragment). See `tests/corpus/README.md` for the format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use opensts_policy::*;
use serde_json::Value;

const MIN_EVAL_CASES: usize = 150;

fn kind_of(s: &str) -> PolicyKind {
    match s {
        "managed" => PolicyKind::Identity(IdentityAttachment::Managed),
        "user" => PolicyKind::Identity(IdentityAttachment::UserInline),
        "role" => PolicyKind::Identity(IdentityAttachment::RoleInline),
        "group" => PolicyKind::Identity(IdentityAttachment::GroupInline),
        "trust" => PolicyKind::Trust,
        "session" => PolicyKind::Session,
        "boundary" => PolicyKind::Boundary,
        "scp" => PolicyKind::ServiceControl,
        "rcp" => PolicyKind::ResourceControl,
        "resource" => PolicyKind::Resource,
        other => panic!("unknown kind {other}"),
    }
}

fn document_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap(),
    }
}

struct Named {
    id: String,
    policy: Policy,
}

fn load_policy(id: &str, spec: &Value, default_kind: &str) -> Result<Named, String> {
    let kind = spec
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(default_kind);
    let doc = spec
        .get("document")
        .ok_or_else(|| format!("policy {id} has no document"))?;
    let policy = Policy::parse(&document_text(doc), kind_of(kind))
        .map_err(|e| format!("policy {id} failed to parse: {}", e.message()))?;
    Ok(Named {
        id: id.to_owned(),
        policy,
    })
}

/// Resolves a policy reference: a name from the file's `policies`, or an inline spec.
fn resolve(
    r: &Value,
    named: &BTreeMap<String, Value>,
    default_kind: &str,
    counter: &mut usize,
) -> Result<Named, String> {
    match r {
        Value::String(name) => {
            let spec = named
                .get(name)
                .ok_or_else(|| format!("unknown policy name {name}"))?;
            load_policy(name, spec, default_kind)
        }
        Value::Object(_) => {
            *counter += 1;
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("inline{counter}"));
            load_policy(&id, r, default_kind)
        }
        other => Err(format!("bad policy reference {other}")),
    }
}

fn principal_of(v: Option<&Value>) -> RequestPrincipal {
    let Some(v) = v else {
        return RequestPrincipal::user(
            "arn:aws:iam::111122223333:user/alice",
            "AIDAALICEEXAMPLE00001",
        );
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut p = match s("type") {
        "user" => RequestPrincipal::user(s("arn"), s("id")),
        "root" => RequestPrincipal::root("aws", s("account")),
        "role_session" => RequestPrincipal::assumed_role(s("arn"), s("role_arn"), s("role_id")),
        "federated_user" => RequestPrincipal::federated_user(s("arn"), s("parent_arn")),
        "web_identity" => RequestPrincipal::web_identity(s("provider")),
        "saml" => RequestPrincipal::saml(s("provider")),
        "service" => RequestPrincipal::service(s("name")),
        "anonymous" => RequestPrincipal::anonymous(),
        other => panic!("unknown principal type {other}"),
    };
    if let Some(c) = v.get("canonical_user").and_then(Value::as_str) {
        p.canonical_user = Some(c.to_owned());
    }
    p
}

fn context_of(req: &Value) -> RequestContext {
    let s = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or_default();
    let mut ctx = RequestContext::new(s("action"), s("resource"))
        .with_principal(principal_of(req.get("principal")));
    if let Some(a) = req.get("resource_account").and_then(Value::as_str) {
        ctx = ctx.with_resource_account(a);
    }
    if let Some(Value::Object(keys)) = req.get("context") {
        for (k, v) in keys {
            match v {
                Value::Array(items) => {
                    let vals: Vec<String> = items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect();
                    ctx.keys.set_all(k.clone(), vals);
                }
                Value::Null => ctx.keys.remove(k),
                Value::String(s) => ctx.keys.set(k.clone(), s.clone()),
                other => ctx.keys.set(k.clone(), other.to_string()),
            }
        }
    }
    ctx
}

fn refs(v: &[Named]) -> Vec<PolicyRef<'_>> {
    v.iter().map(|n| PolicyRef::new(&n.id, &n.policy)).collect()
}

fn run_eval_case(case: &Value, named: &BTreeMap<String, Value>) -> Result<(), String> {
    let mut counter = 0usize;
    let list = |key: &str, kind: &str, counter: &mut usize| -> Result<Vec<Named>, String> {
        match case.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| resolve(i, named, kind, counter))
                .collect(),
            Some(single) => Ok(vec![resolve(single, named, kind, counter)?]),
        }
    };
    let identity = list("identity", "managed", &mut counter)?;
    let resource = list("resource", "trust", &mut counter)?;
    let boundary = list("boundary", "boundary", &mut counter)?;
    let session = list("session", "session", &mut counter)?;
    let levels = |key: &str, kind: &str, counter: &mut usize| -> Result<Vec<Vec<Named>>, String> {
        match case.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(levels)) => levels
                .iter()
                .map(|l| match l {
                    Value::Array(items) => items
                        .iter()
                        .map(|i| resolve(i, named, kind, counter))
                        .collect(),
                    single => Ok(vec![resolve(single, named, kind, counter)?]),
                })
                .collect(),
            Some(other) => Err(format!("{key} must be a list of levels, got {other}")),
        }
    };
    let scps = levels("scps", "scp", &mut counter)?;
    let rcps = levels("rcps", "rcp", &mut counter)?;

    let identity_refs = refs(&identity);
    let session_refs = refs(&session);
    let scp_refs: Vec<Vec<PolicyRef<'_>>> = scps.iter().map(|l| refs(l)).collect();
    let scp_slices: Vec<&[PolicyRef<'_>]> = scp_refs.iter().map(Vec::as_slice).collect();
    let rcp_refs: Vec<Vec<PolicyRef<'_>>> = rcps.iter().map(|l| refs(l)).collect();
    let rcp_slices: Vec<&[PolicyRef<'_>]> = rcp_refs.iter().map(Vec::as_slice).collect();
    let flags = case.get("flags");
    let flag = |k: &str| flags.and_then(|f| f.get(k)).and_then(Value::as_bool);
    let input = EvaluationInput {
        identity: &identity_refs,
        resource: resource.first().map(|n| PolicyRef::new(&n.id, &n.policy)),
        boundary: boundary.first().map(|n| PolicyRef::new(&n.id, &n.policy)),
        session: case.get("session").map(|_| session_refs.as_slice()),
        scps: &scp_slices,
        rcps: &rcp_slices,
        is_federated_user: flag("is_federated_user").unwrap_or(false),
        same_account: flag("same_account"),
        scp_exempt: flag("scp_exempt").unwrap_or(false),
        scope_layers: &[],
    };
    let req = case.get("request").ok_or("case has no request")?;
    let ctx = context_of(req);
    let d = evaluate(&input, &ctx);
    // Must serialize.
    serde_json::to_string(&d).map_err(|e| e.to_string())?;
    let _ = d.authorization_message();

    let expect = case.get("expect").ok_or("case has no expect")?;
    let want_allow = match expect.get("decision").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        other => return Err(format!("bad expected decision {other:?}")),
    };
    let mut errors = Vec::new();
    if d.allowed() != want_allow {
        errors.push(format!(
            "decision: got {} ({:?}), want {}",
            if d.allowed() { "Allow" } else { "Deny" },
            d.reason(),
            if want_allow { "Allow" } else { "Deny" }
        ));
    }
    if let Some(e) = expect.get("explicit_deny").and_then(Value::as_bool)
        && d.explicit_deny() != e
    {
        errors.push(format!(
            "explicit_deny: got {}, want {e}",
            d.explicit_deny()
        ));
    }
    if let Some(r) = expect.get("reason").and_then(Value::as_str) {
        let got = format!("{:?}", d.reason());
        if got != r {
            errors.push(format!("reason: got {got}, want {r}"));
        }
    }
    if let Some(Value::Array(m)) = expect.get("matched") {
        let mut want: Vec<String> = m
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect();
        let mut got: Vec<String> = d.matched_statements().iter().map(|m| m.label()).collect();
        want.sort();
        got.sort();
        if want != got {
            errors.push(format!("matched: got {got:?}, want {want:?}"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn run_parse_case(case: &Value) -> Result<(), String> {
    let kind = kind_of(
        case.get("kind")
            .and_then(Value::as_str)
            .unwrap_or("managed"),
    );
    let doc = document_text(case.get("document").ok_or("parse case has no document")?);
    let options = ParseOptions {
        size_limit: match case.get("size_limit") {
            Some(Value::Number(n)) => SizeLimit::Chars(n.as_u64().unwrap_or(0) as usize),
            Some(Value::String(s)) if s == "unlimited" => SizeLimit::Unlimited,
            _ => SizeLimit::Default,
        },
    };
    let result = Policy::parse_with(&doc, kind, &options);
    match (case.get("error").and_then(Value::as_str), result) {
        (None, Ok(p)) => {
            // Canonical rendering must round-trip.
            let again = Policy::parse_with(&p.to_canonical_json(), kind, &options)
                .map_err(|e| format!("canonical JSON did not re-parse: {}", e.message()))?;
            if again != p {
                return Err("canonical JSON re-parsed to a different policy".into());
            }
            Ok(())
        }
        (None, Err(e)) => Err(format!("unexpected error: {}", e.message())),
        (Some(want), Ok(_)) => Err(format!("parsed, but expected error containing {want:?}")),
        (Some(want), Err(e)) => {
            if e.message().contains(want) {
                if let Some(too_large) = case.get("too_large").and_then(Value::as_bool)
                    && e.is_too_large() != too_large
                {
                    return Err(format!("too_large: got {}", e.is_too_large()));
                }
                Ok(())
            } else {
                Err(format!("error {:?} does not contain {want:?}", e.message()))
            }
        }
    }
}

#[test]
fn corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let (mut eval_cases, mut parse_cases) = (0usize, 0usize);
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", f.display()));
        let file = f.file_name().unwrap().to_string_lossy().to_string();
        let named: BTreeMap<String, Value> = v
            .get("policies")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        for case in v
            .get("cases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            eval_cases += 1;
            let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
            assert!(
                names.insert(format!("{file}/{name}")),
                "duplicate case name {file}/{name}"
            );
            if let Err(e) = run_eval_case(case, &named) {
                failures.push(format!("{file} / {name}: {e}"));
            }
        }
        for case in v
            .get("parse_cases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            parse_cases += 1;
            let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
            assert!(
                names.insert(format!("{file}/{name}")),
                "duplicate case name {file}/{name}"
            );
            if let Err(e) = run_parse_case(case) {
                failures.push(format!("{file} / {name}: {e}"));
            }
        }
    }
    println!(
        "policy corpus: {} files, {eval_cases} evaluation cases, {parse_cases} parse cases, {} failures",
        files.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        eval_cases >= MIN_EVAL_CASES,
        "only {eval_cases} evaluation cases (want at least {MIN_EVAL_CASES})"
    );
}
