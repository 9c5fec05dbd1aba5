//! Policy documents: parsing, validation and canonical rendering.

use serde::Serialize;

use crate::condition::{Condition, Operator};
use crate::context::RequestContext;
use crate::error::PolicyError;
use crate::json::Node;
use crate::kind::{PolicyKind, SizeLimit, policy_size};
use crate::pattern::{ArnPattern, NoVars, Pattern, Syntax};
use crate::principal::{
    PrincipalBlock, PrincipalMatch, parse_aws_principal, valid_other_principal,
};

/// The policy language version (`Version` element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PolicyVersion {
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
    /// `2008-10-17`: `${…}` is literal text.
    V2008_10_17,
    /// No `Version` element: as 2008-10-17.
    Absent,
}

impl PolicyVersion {
    /// The element value, `None` when absent.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            PolicyVersion::V2012_10_17 => Some("2012-10-17"),
            PolicyVersion::V2008_10_17 => Some("2008-10-17"),
            PolicyVersion::Absent => None,
        }
    }

    /// Whether policy variables are substituted.
    pub fn supports_variables(self) -> bool {
        self == PolicyVersion::V2012_10_17
    }
}

/// `Effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

impl Effect {
    /// `Allow` / `Deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

/// One `Action`/`NotAction` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ActionPattern {
    raw: String,
    pat: Pattern,
}

/// One `Resource`/`NotResource` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResourcePattern {
    raw: String,
    pat: ArnPattern,
}

/// Options for [`Policy::parse_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Size limit to apply.
    pub size_limit: SizeLimit,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    principal: Option<PrincipalBlock>,
    not_principal: Option<PrincipalBlock>,
    actions: Vec<ActionPattern>,
    not_action: bool,
    resources: Option<Vec<ResourcePattern>>,
    not_resource: bool,
    conditions: Vec<Condition>,
    /// Single-string forms, kept for canonical rendering.
    action_single: bool,
    resource_single: bool,
}

impl Statement {
    /// `Sid`, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Effect`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The `Principal` block (resource-based policies).
    pub fn principal(&self) -> Option<&PrincipalBlock> {
        self.principal.as_ref()
    }

    /// The `NotPrincipal` block.
    pub fn not_principal(&self) -> Option<&PrincipalBlock> {
        self.not_principal.as_ref()
    }

    /// The `Action` (or, if [`Statement::is_not_action`], `NotAction`) values.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().map(|a| a.raw.as_str())
    }

    /// True if the statement uses `NotAction`.
    pub fn is_not_action(&self) -> bool {
        self.not_action
    }

    /// The `Resource` (or `NotResource`) values; empty for trust policies.
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().flatten().map(|r| r.raw.as_str())
    }

    /// True if the statement uses `NotResource`.
    pub fn is_not_resource(&self) -> bool {
        self.not_resource
    }

    /// The conditions (all must hold).
    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    fn action_matches(&self, action: &str) -> bool {
        let any = self.actions.iter().any(|a| a.pat.matches(action, &NoVars));
        any != self.not_action
    }

    fn resource_matches(&self, ctx: &RequestContext) -> bool {
        match &self.resources {
            None => true,
            Some(list) => {
                let any = list.iter().any(|r| r.pat.matches(&ctx.resource, ctx));
                any != self.not_resource
            }
        }
    }

    /// For resource-based policies: how the statement's `Principal` names the caller; for
    /// `NotPrincipal`, `Exact` unless the caller is exempt. `Some(Exact)` for statements
    /// without either element (identity-based policies).
    pub(crate) fn principal_match(&self, ctx: &RequestContext) -> Option<PrincipalMatch> {
        if let Some(p) = &self.principal {
            return p.matches(&ctx.principal);
        }
        if let Some(np) = &self.not_principal {
            return (!np.excludes(&ctx.principal)).then_some(PrincipalMatch::Exact);
        }
        Some(PrincipalMatch::Exact)
    }

    /// Whether the statement applies to the request (principal, action, resource and
    /// conditions); returns how the principal was named.
    pub(crate) fn applies(&self, ctx: &RequestContext) -> Option<PrincipalMatch> {
        if !self.action_matches(&ctx.action) || !self.resource_matches(ctx) {
            return None;
        }
        let m = self.principal_match(ctx)?;
        self.conditions.iter().all(|c| c.evaluate(ctx)).then_some(m)
    }

    /// Public check: does this statement apply to the request?
    pub fn matches(&self, ctx: &RequestContext) -> bool {
        self.applies(ctx).is_some()
    }
}

/// A parsed, validated policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    kind: PolicyKind,
    version: PolicyVersion,
    id: Option<String>,
    statements: Vec<Statement>,
    statement_single: bool,
}

fn malformed(msg: impl Into<String>) -> PolicyError {
    PolicyError::malformed(msg)
}

/// `"x"` or `["x", …]` → strings; `None` if another type is found.
fn string_or_list(node: &Node) -> Option<(Vec<String>, bool)> {
    match node {
        Node::String(s) => Some((vec![s.clone()], true)),
        Node::Array(items) => items
            .iter()
            .map(|i| match i {
                Node::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| (v, false)),
        _ => None,
    }
}

fn check_duplicates(members: &[(String, Node)]) -> Result<(), PolicyError> {
    for (i, (k, _)) in members.iter().enumerate() {
        if members[..i].iter().any(|(k2, _)| k2 == k) {
            return Err(PolicyError::syntax());
        }
    }
    Ok(())
}

fn validate_action(a: &str) -> Result<(), PolicyError> {
    if a == "*" {
        return Ok(());
    }
    let colons = a.matches(':').count();
    if colons == 0 {
        return Err(malformed(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ));
    }
    if colons > 1 {
        return Err(malformed("Actions/Condition can contain only one colon."));
    }
    let (vendor, _) = a.split_once(':').unwrap_or((a, ""));
    if vendor.is_empty() {
        return Err(malformed(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
        ));
    }
    if vendor.contains(['*', '?']) {
        return Err(malformed(
            "Action vendors (e.g., aws, ec2, etc.) must not contain wildcards",
        ));
    }
    Ok(())
}

fn validate_resource(r: &str) -> Result<(), PolicyError> {
    if r == "*" {
        return Ok(());
    }
    let parts: Vec<&str> = r.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[1].is_empty() {
        return Err(malformed(format!(
            "Resource {r} must be in ARN format or \"*\"."
        )));
    }
    let vendor = parts[2];
    if vendor.is_empty() || vendor.contains(['*', '?', '$']) {
        return Err(malformed(
            "Resource vendor must be fully qualified and cannot contain regexes.",
        ));
    }
    Ok(())
}

fn validate_sid(sid: &str) -> Result<(), PolicyError> {
    if sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(malformed(
            "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
        ))
    }
}

fn parse_principal_block(node: &Node, element: &str) -> Result<PrincipalBlock, PolicyError> {
    let invalid = |k: &str, v: &str| {
        malformed(format!(
            "Invalid principal in policy: \"{}\":\"{}\"",
            k.to_ascii_uppercase(),
            v
        ))
    };
    match node {
        Node::String(s) if s == "*" => Ok(PrincipalBlock {
            star: true,
            ..Default::default()
        }),
        Node::String(s) => Err(malformed(format!("Invalid principal in policy: \"{s}\""))),
        Node::Object(members) => {
            check_duplicates(members)?;
            if members.is_empty() {
                return Err(malformed(format!("{element} element must not be empty.")));
            }
            let mut b = PrincipalBlock::default();
            for (k, v) in members {
                let (values, _) = string_or_list(v).ok_or_else(PolicyError::syntax)?;
                if values.is_empty() {
                    return Err(invalid(k, ""));
                }
                for val in &values {
                    match k.as_str() {
                        "AWS" => {
                            let p = parse_aws_principal(val).ok_or_else(|| invalid(k, val))?;
                            b.aws.push((val.clone(), p));
                        }
                        "Federated" => {
                            if !valid_other_principal(val) {
                                return Err(invalid(k, val));
                            }
                            b.federated.push(val.clone());
                        }
                        "Service" => {
                            if !valid_other_principal(val) {
                                return Err(invalid(k, val));
                            }
                            b.service.push(val.clone());
                        }
                        "CanonicalUser" => {
                            if !valid_other_principal(val) {
                                return Err(invalid(k, val));
                            }
                            b.canonical_user.push(val.clone());
                        }
                        _ => return Err(invalid(k, val)),
                    }
                }
                b.entries.push((k.clone(), values));
            }
            Ok(b)
        }
        _ => Err(PolicyError::syntax()),
    }
}

fn condition_value_text(node: &Node) -> Option<String> {
    match node {
        Node::String(s) => Some(s.clone()),
        Node::Number(n) => Some(n.clone()),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_conditions(node: &Node, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let Node::Object(ops) = node else {
        return Err(PolicyError::syntax());
    };
    check_duplicates(ops)?;
    let mut out = Vec::new();
    for (op_name, block) in ops {
        let op = Operator::parse(op_name).ok_or_else(|| {
            malformed(format!(
                "Invalid Condition type : {op_name}. Syntax errors in policy."
            ))
        })?;
        let Node::Object(keys) = block else {
            return Err(PolicyError::syntax());
        };
        check_duplicates(keys)?;
        if keys.is_empty() {
            return Err(PolicyError::syntax());
        }
        for (key, vals) in keys {
            let (vendor, name) = key.split_once(':').unwrap_or(("", ""));
            if vendor.is_empty() || name.is_empty() {
                return Err(malformed(
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                ));
            }
            let values: Vec<String> = match vals {
                Node::Array(items) => items
                    .iter()
                    .map(condition_value_text)
                    .collect::<Option<_>>()
                    .ok_or_else(PolicyError::syntax)?,
                other => vec![condition_value_text(other).ok_or_else(PolicyError::syntax)?],
            };
            if values.is_empty() {
                return Err(malformed(format!(
                    "Condition {op_name} for key {key} must have at least one value."
                )));
            }
            out.push(Condition::new(op, op_name, key, values, variables));
        }
    }
    Ok(out)
}

fn parse_statement(
    node: &Node,
    kind: PolicyKind,
    version: PolicyVersion,
) -> Result<Statement, PolicyError> {
    let Node::Object(members) = node else {
        return Err(PolicyError::syntax());
    };
    check_duplicates(members)?;
    let get = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    for (k, _) in members {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(PolicyError::syntax());
        }
    }
    let variables = version.supports_variables();

    let sid = match get("Sid") {
        None => None,
        Some(Node::String(s)) => {
            validate_sid(s)?;
            Some(s.clone())
        }
        Some(_) => return Err(PolicyError::syntax()),
    };

    let effect = match get("Effect") {
        None => return Err(malformed("Missing required field Effect")),
        Some(Node::String(s)) if s == "Allow" => Effect::Allow,
        Some(Node::String(s)) if s == "Deny" => Effect::Deny,
        Some(Node::String(_)) => return Err(malformed("The policy failed legacy parsing")),
        Some(_) => return Err(PolicyError::syntax()),
    };

    // Principal / NotPrincipal.
    let (p_node, np_node) = (get("Principal"), get("NotPrincipal"));
    if kind.is_resource_based() {
        if kind == PolicyKind::Trust {
            if np_node.is_some() {
                return Err(malformed("Has prohibited field NotPrincipal"));
            }
            if p_node.is_none() {
                return Err(malformed("Missing required field Principal"));
            }
        }
        if p_node.is_some() && np_node.is_some() {
            return Err(malformed(
                "Statement cannot contain both Principal and NotPrincipal.",
            ));
        }
        if p_node.is_none() && np_node.is_none() {
            return Err(malformed("Missing required field Principal"));
        }
    } else if p_node.is_some() || np_node.is_some() {
        return Err(malformed("Policy document should not specify a principal."));
    }
    let principal = p_node
        .map(|n| parse_principal_block(n, "Principal"))
        .transpose()?;
    let not_principal = np_node
        .map(|n| parse_principal_block(n, "NotPrincipal"))
        .transpose()?;

    // Action / NotAction.
    let (a_node, na_node, not_action) = match (get("Action"), get("NotAction")) {
        (Some(_), Some(_)) => {
            return Err(malformed(
                "Statement cannot contain both Action and NotAction.",
            ));
        }
        (Some(a), None) => (a, "Action", false),
        (None, Some(a)) => (a, "NotAction", true),
        (None, None) => return Err(malformed("Policy statement must contain actions.")),
    };
    let _ = na_node;
    let (action_values, action_single) = string_or_list(a_node).ok_or_else(PolicyError::syntax)?;
    if action_values.is_empty() {
        return Err(malformed("Policy statement must contain actions."));
    }
    let mut actions = Vec::with_capacity(action_values.len());
    for a in action_values {
        validate_action(&a)?;
        let pat = Pattern::new(
            &a,
            Syntax {
                wildcards: true,
                variables: false,
                fold: true,
            },
        );
        actions.push(ActionPattern { raw: a, pat });
    }

    // Resource / NotResource.
    let (r_node, not_resource) = match (get("Resource"), get("NotResource")) {
        (Some(_), Some(_)) => {
            return Err(malformed(
                "Statement cannot contain both Resource and NotResource.",
            ));
        }
        (Some(r), None) => (Some(r), false),
        (None, Some(r)) => (Some(r), true),
        (None, None) => (None, false),
    };
    let (resources, resource_single) = if kind == PolicyKind::Trust {
        if r_node.is_some() {
            let field = if not_resource {
                "NotResource"
            } else {
                "Resource"
            };
            return Err(malformed(format!("Has prohibited field {field}")));
        }
        (None, false)
    } else {
        let Some(r_node) = r_node else {
            return Err(malformed("Policy statement must contain resources."));
        };
        let (values, single) = string_or_list(r_node).ok_or_else(PolicyError::syntax)?;
        if values.is_empty() {
            return Err(malformed("Policy statement must contain resources."));
        }
        let mut list = Vec::with_capacity(values.len());
        for r in values {
            validate_resource(&r)?;
            let pat = ArnPattern::new(&r, variables);
            list.push(ResourcePattern { raw: r, pat });
        }
        (Some(list), single)
    };

    let conditions = match get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c, variables)?,
    };

    Ok(Statement {
        sid,
        effect,
        principal,
        not_principal,
        actions,
        not_action,
        resources,
        not_resource,
        conditions,
        action_single,
        resource_single,
    })
}

impl Policy {
    /// Parses and validates `json` as a policy of `kind`, applying the kind's default size
    /// limit. The error's [`PolicyError::message`] is the `MalformedPolicyDocument` text.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        Self::parse_with(json, kind, &ParseOptions::default())
    }

    /// [`Policy::parse`] with options (e.g. a raised trust-policy limit, or no limit).
    pub fn parse_with(
        json: &str,
        kind: PolicyKind,
        options: &ParseOptions,
    ) -> Result<Policy, PolicyError> {
        let limit = match options.size_limit {
            SizeLimit::Default => kind.default_max_chars(),
            SizeLimit::Chars(n) => Some(n),
            SizeLimit::Unlimited => None,
        };
        if let Some(limit) = limit {
            // Cheap upper bound first: chars ≤ bytes.
            if json.len() > limit {
                let size = policy_size(json, kind);
                if size > limit {
                    return Err(PolicyError::too_large(
                        limit,
                        size,
                        kind.too_large_message(limit),
                    ));
                }
            }
        }
        let root = Node::parse(json).map_err(|_| PolicyError::syntax())?;
        let Node::Object(members) = &root else {
            return Err(PolicyError::syntax());
        };
        check_duplicates(members)?;
        let mut version = PolicyVersion::Absent;
        let mut id = None;
        let mut statement = None;
        for (k, v) in members {
            match (k.as_str(), v) {
                ("Version", Node::String(s)) => {
                    version = match s.as_str() {
                        "2012-10-17" => PolicyVersion::V2012_10_17,
                        "2008-10-17" => PolicyVersion::V2008_10_17,
                        _ => {
                            return Err(malformed(format!(
                                "The policy Version {s} is not valid: use 2012-10-17 or 2008-10-17."
                            )));
                        }
                    }
                }
                ("Id", Node::String(s)) => id = Some(s.clone()),
                ("Statement", v) => statement = Some(v),
                _ => return Err(PolicyError::syntax()),
            }
        }
        if kind.requires_current_version() && version != PolicyVersion::V2012_10_17 {
            return Err(malformed(
                "Policy document must be version 2012-10-17 or greater.",
            ));
        }
        let Some(statement) = statement else {
            return Err(malformed("Missing required field Statement"));
        };
        let (nodes, statement_single): (Vec<&Node>, bool) = match statement {
            Node::Object(_) => (vec![statement], true),
            Node::Array(items) => (items.iter().collect(), false),
            _ => return Err(PolicyError::syntax()),
        };
        if nodes.is_empty() {
            return Err(PolicyError::syntax());
        }
        let mut statements = Vec::with_capacity(nodes.len());
        for n in nodes {
            statements.push(parse_statement(n, kind, version)?);
        }
        for (i, s) in statements.iter().enumerate() {
            if let Some(sid) = &s.sid
                && statements[..i].iter().any(|o| o.sid.as_ref() == Some(sid))
            {
                return Err(malformed(
                    "Statement IDs (SID) in a single policy must be unique.",
                ));
            }
        }
        Ok(Policy {
            kind,
            version,
            id,
            statements,
            statement_single,
        })
    }

    /// The kind it was parsed as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The `Version`.
    pub fn version(&self) -> PolicyVersion {
        self.version
    }

    /// The `Id`, if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// Renders the policy as canonical JSON: elements in a fixed order (`Version`, `Id`,
    /// `Statement`; `Sid`, `Effect`, `Principal`/`NotPrincipal`, `Action`/`NotAction`,
    /// `Resource`/`NotResource`, `Condition`), values as parsed (a single value stays a string),
    /// no insignificant white space. Parsing the output gives an equal policy.
    pub fn to_canonical_json(&self) -> String {
        let mut w = String::with_capacity(256);
        w.push('{');
        let mut first = true;
        if let Some(v) = self.version.as_str() {
            key(&mut w, &mut first, "Version");
            string(&mut w, v);
        }
        if let Some(id) = &self.id {
            key(&mut w, &mut first, "Id");
            string(&mut w, id);
        }
        key(&mut w, &mut first, "Statement");
        let single = self.statement_single && self.statements.len() == 1;
        if !single {
            w.push('[');
        }
        for (i, s) in self.statements.iter().enumerate() {
            if i > 0 {
                w.push(',');
            }
            render_statement(&mut w, s);
        }
        if !single {
            w.push(']');
        }
        w.push('}');
        w
    }
}

fn string(w: &mut String, s: &str) {
    w.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

fn key(w: &mut String, first: &mut bool, k: &str) {
    if !*first {
        w.push(',');
    }
    *first = false;
    string(w, k);
    w.push(':');
}

fn list<'a>(w: &mut String, values: impl Iterator<Item = &'a str>, single: bool) {
    let values: Vec<&str> = values.collect();
    if single && values.len() == 1 {
        string(w, values[0]);
        return;
    }
    w.push('[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            w.push(',');
        }
        string(w, v);
    }
    w.push(']');
}

fn render_principal(w: &mut String, b: &PrincipalBlock) {
    if b.star {
        string(w, "*");
        return;
    }
    w.push('{');
    let mut first = true;
    for (k, vals) in &b.entries {
        key(w, &mut first, k);
        list(w, vals.iter().map(String::as_str), vals.len() == 1);
    }
    w.push('}');
}

fn render_statement(w: &mut String, s: &Statement) {
    w.push('{');
    let mut first = true;
    if let Some(sid) = &s.sid {
        key(w, &mut first, "Sid");
        string(w, sid);
    }
    key(w, &mut first, "Effect");
    string(w, s.effect.as_str());
    if let Some(p) = &s.principal {
        key(w, &mut first, "Principal");
        render_principal(w, p);
    }
    if let Some(p) = &s.not_principal {
        key(w, &mut first, "NotPrincipal");
        render_principal(w, p);
    }
    key(
        w,
        &mut first,
        if s.not_action { "NotAction" } else { "Action" },
    );
    list(w, s.actions(), s.action_single);
    if s.resources.is_some() {
        key(
            w,
            &mut first,
            if s.not_resource {
                "NotResource"
            } else {
                "Resource"
            },
        );
        list(w, s.resources(), s.resource_single);
    }
    if !s.conditions.is_empty() {
        key(w, &mut first, "Condition");
        w.push('{');
        // Group by operator, keeping first-appearance order.
        let mut ops: Vec<&str> = Vec::new();
        for c in &s.conditions {
            if !ops.contains(&c.operator_name()) {
                ops.push(c.operator_name());
            }
        }
        let mut first_op = true;
        for op in ops {
            key(w, &mut first_op, op);
            w.push('{');
            let mut first_key = true;
            for c in s.conditions.iter().filter(|c| c.operator_name() == op) {
                key(w, &mut first_key, c.key());
                list(w, c.values().iter().map(String::as_str), true);
            }
            w.push('}');
        }
        w.push('}');
    }
    w.push('}');
}
