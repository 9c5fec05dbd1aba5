//! The request context: who is asking, for what, on which resource, and the condition keys.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;
use time::OffsetDateTime;

use crate::pattern::VarSource;

/// A case-insensitive multimap of condition keys to values (`aws:SourceIp` ≡ `AWS:sourceip`).
/// The original spelling of the key is kept for display. A key with an empty value list is
/// treated as absent by the condition operators (AWS: "resolves to a null data set").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextKeys {
    map: HashMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    values: Vec<String>,
}

fn lower(key: &str) -> std::borrow::Cow<'_, str> {
    if key.chars().any(|c| c.is_uppercase()) {
        std::borrow::Cow::Owned(key.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

impl ContextKeys {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the single `value`, replacing previous values.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.set_all(key, [value.into()]);
    }

    /// Sets `key` to `values` (possibly empty), replacing previous values.
    pub fn set_all<I, V>(&mut self, key: impl Into<String>, values: I)
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let name = key.into();
        let values = values.into_iter().map(Into::into).collect();
        self.map.insert(name.to_lowercase(), Entry { name, values });
    }

    /// Appends `value` to `key` (multi-valued keys such as `aws:TagKeys`).
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let name = key.into();
        let entry = self
            .map
            .entry(name.to_lowercase())
            .or_insert_with(|| Entry {
                name,
                values: Vec::new(),
            });
        entry.values.push(value.into());
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) {
        self.map.remove(lower(key).as_ref());
    }

    /// The values of `key` (case-insensitive), or `None` if the key is absent.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.map
            .get(lower(key).as_ref())
            .map(|e| e.values.as_slice())
    }

    /// Lookup with an already lower-cased key (hot path).
    pub(crate) fn get_lc(&self, key_lc: &str) -> Option<&[String]> {
        self.map.get(key_lc).map(|e| e.values.as_slice())
    }

    /// The single value of `key`, or `None` if absent or multi-valued.
    pub fn get_single(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some([v]) => Some(v.as_str()),
            _ => None,
        }
    }

    /// True if the key is present (even with no values).
    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(lower(key).as_ref())
    }

    /// All keys (original spelling) with their values, sorted by lower-cased key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        let mut v: Vec<(&String, &Entry)> = self.map.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
            .map(|(_, e)| (e.name.as_str(), e.values.as_slice()))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if there are no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Values of `aws:PrincipalType` (plus the federated caller kinds STS evaluates trust policies
/// for, which have no AWS account of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PrincipalType {
    /// The account root user (`arn:aws:iam::<acct>:root`).
    Account,
    /// An IAM user.
    User,
    /// A role session (any `AssumeRole*`).
    AssumedRole,
    /// A `GetFederationToken` session.
    FederatedUser,
    /// An unauthenticated web-identity caller of `AssumeRoleWithWebIdentity`; matched by
    /// `Principal: {"Federated": <provider>}`.
    WebIdentityUser,
    /// An unauthenticated SAML caller of `AssumeRoleWithSAML`; matched by
    /// `Principal: {"Federated": <saml-provider ARN>}`.
    SamlUser,
    /// An AWS service principal (e.g. `ec2.amazonaws.com`); matched by `Principal: {"Service": …}`.
    Service,
    /// Anonymous caller.
    Anonymous,
}

impl PrincipalType {
    /// The `aws:PrincipalType` value.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::Account => "Account",
            PrincipalType::User => "User",
            PrincipalType::AssumedRole => "AssumedRole",
            PrincipalType::FederatedUser => "FederatedUser",
            PrincipalType::WebIdentityUser => "WebIdentityUser",
            PrincipalType::SamlUser => "SAMLUser",
            PrincipalType::Service => "Service",
            PrincipalType::Anonymous => "Anonymous",
        }
    }
}

/// The principal making the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPrincipal {
    /// Kind of principal.
    pub kind: PrincipalType,
    /// The principal's ARN (session ARN for sessions; for web-identity/SAML callers the
    /// provider ARN or name; for services the service name; empty for anonymous).
    pub arn: String,
    /// `aws:userid`: `AIDA…` for users, `AROA…:<session>` for role sessions,
    /// `<acct>:<name>` for federated users, the account id for root.
    pub id: String,
    /// The principal's account (12 digits), when it has one.
    pub account: Option<String>,
    /// For role sessions the role ARN; for federated users the ARN of the IAM user (or root)
    /// that called `GetFederationToken`. A resource policy naming this ARN grants to the session
    /// but stays limited by the boundary and session policies.
    pub parent_arn: Option<String>,
    /// Unique id of the parent (role id `AROA…` or user id `AIDA…`): trust policies store
    /// principals as unique ids.
    pub parent_id: Option<String>,
    /// Federated identity provider (`Principal: {"Federated": …}`): SAML provider ARN, OIDC
    /// provider ARN or built-in name (`accounts.google.com`, `cognito-identity.amazonaws.com`, …).
    pub federated_provider: Option<String>,
    /// Service principal name (`Principal: {"Service": …}`).
    pub service: Option<String>,
    /// S3 canonical user id (`Principal: {"CanonicalUser": …}`).
    pub canonical_user: Option<String>,
    /// The IAM user name (`aws:username`), users only.
    pub username: Option<String>,
}

impl RequestPrincipal {
    fn base(kind: PrincipalType, arn: String, id: String, account: Option<String>) -> Self {
        RequestPrincipal {
            kind,
            arn,
            id,
            account,
            parent_arn: None,
            parent_id: None,
            federated_provider: None,
            service: None,
            canonical_user: None,
            username: None,
        }
    }

    /// The root user of `account`.
    pub fn root(partition: &str, account: &str) -> Self {
        Self::base(
            PrincipalType::Account,
            format!("arn:{partition}:iam::{account}:root"),
            account.to_owned(),
            Some(account.to_owned()),
        )
    }

    /// An IAM user: `arn` (`arn:aws:iam::<acct>:user/<path/>name`) and unique id (`AIDA…`).
    /// The account and user name are taken from the ARN.
    pub fn user(arn: &str, user_id: &str) -> Self {
        let mut p = Self::base(
            PrincipalType::User,
            arn.to_owned(),
            user_id.to_owned(),
            arn_account(arn).map(str::to_owned),
        );
        p.username = arn.rsplit('/').next().map(str::to_owned);
        p
    }

    /// A role session: session ARN (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`), the
    /// role ARN and the role's unique id (`AROA…`). `aws:userid` is `<role id>:<session name>`.
    pub fn assumed_role(session_arn: &str, role_arn: &str, role_id: &str) -> Self {
        let session = session_arn.rsplit('/').next().unwrap_or_default();
        let mut p = Self::base(
            PrincipalType::AssumedRole,
            session_arn.to_owned(),
            format!("{role_id}:{session}"),
            arn_account(session_arn).map(str::to_owned),
        );
        p.parent_arn = Some(role_arn.to_owned());
        p.parent_id = Some(role_id.to_owned());
        p
    }

    /// A `GetFederationToken` session (`arn:aws:sts::<acct>:federated-user/<name>`), created by
    /// the IAM user (or root) `parent_arn`.
    pub fn federated_user(arn: &str, parent_arn: &str) -> Self {
        let account = arn_account(arn).unwrap_or_default().to_owned();
        let name = arn.rsplit('/').next().unwrap_or_default();
        let mut p = Self::base(
            PrincipalType::FederatedUser,
            arn.to_owned(),
            format!("{account}:{name}"),
            Some(account),
        );
        p.parent_arn = Some(parent_arn.to_owned());
        p
    }

    /// An unauthenticated `AssumeRoleWithWebIdentity` caller from `provider` (OIDC provider ARN
    /// or built-in provider name).
    pub fn web_identity(provider: &str) -> Self {
        let mut p = Self::base(
            PrincipalType::WebIdentityUser,
            provider.to_owned(),
            provider.to_owned(),
            None,
        );
        p.federated_provider = Some(provider.to_owned());
        p
    }

    /// An unauthenticated `AssumeRoleWithSAML` caller from the SAML provider `provider_arn`.
    pub fn saml(provider_arn: &str) -> Self {
        let mut p = Self::base(
            PrincipalType::SamlUser,
            provider_arn.to_owned(),
            provider_arn.to_owned(),
            None,
        );
        p.federated_provider = Some(provider_arn.to_owned());
        p
    }

    /// An AWS service principal such as `ec2.amazonaws.com`.
    pub fn service(name: &str) -> Self {
        let mut p = Self::base(
            PrincipalType::Service,
            name.to_owned(),
            name.to_owned(),
            None,
        );
        p.service = Some(name.to_owned());
        p
    }

    /// An anonymous caller.
    pub fn anonymous() -> Self {
        Self::base(
            PrincipalType::Anonymous,
            String::new(),
            "anonymous".to_owned(),
            None,
        )
    }

    /// The value of `aws:PrincipalArn`: the role ARN for role sessions, otherwise the ARN.
    pub fn principal_arn(&self) -> &str {
        match (self.kind, &self.parent_arn) {
            (PrincipalType::AssumedRole, Some(role)) => role,
            _ => &self.arn,
        }
    }
}

impl Default for RequestPrincipal {
    fn default() -> Self {
        Self::anonymous()
    }
}

/// The account component of an ARN (`arn:partition:service:region:account:resource`).
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    let mut it = arn.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let acct = it.nth(3)?;
    it.next()?;
    (!acct.is_empty()).then_some(acct)
}

/// Everything a decision depends on besides the policies: principal, action, resource and the
/// condition keys. Pure data; time is a key (`aws:CurrentTime`), never read from a clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// Who is asking.
    pub principal: RequestPrincipal,
    /// The action, `service:Name` (e.g. `sts:AssumeRole`); compared case-insensitively.
    pub action: String,
    /// The resource ARN (or `*` for actions without a resource).
    pub resource: String,
    /// The account owning the resource, when not derivable from the resource ARN.
    pub resource_account: Option<String>,
    /// Condition keys.
    pub keys: ContextKeys,
}

fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

impl RequestContext {
    /// A context for `action` on `resource`, anonymous principal, no keys.
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        RequestContext {
            action: action.into(),
            resource: resource.into(),
            ..Default::default()
        }
    }

    /// Sets the principal and the keys derived from it: `aws:PrincipalArn` (the role ARN for
    /// role sessions), `aws:PrincipalAccount`, `aws:PrincipalType`, `aws:userid` and, for IAM
    /// users, `aws:username`.
    pub fn with_principal(mut self, principal: RequestPrincipal) -> Self {
        let k = &mut self.keys;
        for key in [
            "aws:PrincipalArn",
            "aws:PrincipalAccount",
            "aws:PrincipalType",
            "aws:userid",
            "aws:username",
        ] {
            k.remove(key);
        }
        if !principal.arn.is_empty()
            && matches!(
                principal.kind,
                PrincipalType::Account
                    | PrincipalType::User
                    | PrincipalType::AssumedRole
                    | PrincipalType::FederatedUser
            )
        {
            k.set("aws:PrincipalArn", principal.principal_arn());
        }
        match &principal.account {
            Some(a) => k.set("aws:PrincipalAccount", a.as_str()),
            None if principal.kind == PrincipalType::Anonymous => {
                k.set("aws:PrincipalAccount", "anonymous")
            }
            None => {}
        }
        k.set("aws:PrincipalType", principal.kind.as_str());
        k.set("aws:userid", principal.id.as_str());
        if let (PrincipalType::User, Some(u)) = (principal.kind, &principal.username) {
            k.set("aws:username", u.as_str());
        }
        self.principal = principal;
        self
    }

    /// Sets the account owning the resource.
    pub fn with_resource_account(mut self, account: impl Into<String>) -> Self {
        self.resource_account = Some(account.into());
        self
    }

    /// Sets `key` to one value.
    pub fn with_key(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.keys.set(key, value);
        self
    }

    /// Sets `key` to several values (multi-valued key).
    pub fn with_values<I, V>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.keys.set_all(key, values);
        self
    }

    /// `aws:CurrentTime` (ISO 8601, seconds, UTC) and `aws:EpochTime` (seconds).
    pub fn with_current_time(mut self, now: OffsetDateTime) -> Self {
        self.keys.set("aws:CurrentTime", format_time(now));
        self.keys
            .set("aws:EpochTime", now.unix_timestamp().to_string());
        self
    }

    /// `aws:SourceIp`.
    pub fn with_source_ip(mut self, ip: IpAddr) -> Self {
        self.keys.set("aws:SourceIp", ip.to_string());
        self
    }

    /// `aws:SecureTransport`.
    pub fn with_secure_transport(mut self, secure: bool) -> Self {
        self.keys.set("aws:SecureTransport", secure.to_string());
        self
    }

    /// `aws:PrincipalTag/<key>`.
    pub fn with_principal_tag(mut self, key: &str, value: impl Into<String>) -> Self {
        self.keys.set(format!("aws:PrincipalTag/{key}"), value);
        self
    }

    /// `aws:ResourceTag/<key>` (e.g. the tags of the role being assumed).
    pub fn with_resource_tag(mut self, key: &str, value: impl Into<String>) -> Self {
        self.keys.set(format!("aws:ResourceTag/{key}"), value);
        self
    }

    /// `aws:RequestTag/<key>`, and adds `key` to `aws:TagKeys`.
    pub fn with_request_tag(mut self, key: &str, value: impl Into<String>) -> Self {
        self.keys.set(format!("aws:RequestTag/{key}"), value);
        self.keys.add("aws:TagKeys", key);
        self
    }

    /// `aws:MultiFactorAuthPresent` and, when MFA was used, `aws:MultiFactorAuthAge` (seconds).
    pub fn with_mfa(mut self, present: bool, age_secs: Option<u64>) -> Self {
        self.keys
            .set("aws:MultiFactorAuthPresent", present.to_string());
        match age_secs {
            Some(a) => self.keys.set("aws:MultiFactorAuthAge", a.to_string()),
            None => self.keys.remove("aws:MultiFactorAuthAge"),
        }
        self
    }

    /// `aws:TokenIssueTime` (temporary credentials).
    pub fn with_token_issue_time(mut self, t: OffsetDateTime) -> Self {
        self.keys.set("aws:TokenIssueTime", format_time(t));
        self
    }

    /// `aws:SourceIdentity` (set on the calling session).
    pub fn with_source_identity(mut self, v: impl Into<String>) -> Self {
        self.keys.set("aws:SourceIdentity", v);
        self
    }

    /// `aws:FederatedProvider`.
    pub fn with_federated_provider(mut self, v: impl Into<String>) -> Self {
        self.keys.set("aws:FederatedProvider", v);
        self
    }

    /// `sts:ExternalId`.
    pub fn with_external_id(mut self, v: impl Into<String>) -> Self {
        self.keys.set("sts:ExternalId", v);
        self
    }

    /// `sts:RoleSessionName`.
    pub fn with_role_session_name(mut self, v: impl Into<String>) -> Self {
        self.keys.set("sts:RoleSessionName", v);
        self
    }

    /// `sts:SourceIdentity` (the value passed in the AssumeRole* request).
    pub fn with_sts_source_identity(mut self, v: impl Into<String>) -> Self {
        self.keys.set("sts:SourceIdentity", v);
        self
    }

    /// `sts:TransitiveTagKeys`.
    pub fn with_transitive_tag_keys<I, V>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.keys.set_all("sts:TransitiveTagKeys", keys);
        self
    }

    /// `saml:<name>` (e.g. `saml:sub`, `saml:aud`, multi-valued `saml:edupersonaffiliation`).
    pub fn with_saml_key<I, V>(mut self, name: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.keys.set_all(format!("saml:{name}"), values);
        self
    }

    /// `<provider>:<claim>` for OIDC providers, `provider` being the issuer without `https://`
    /// (e.g. `token.actions.githubusercontent.com`, `sub`).
    pub fn with_oidc_claim<I, V>(mut self, provider: &str, claim: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let provider = provider.strip_prefix("https://").unwrap_or(provider);
        self.keys.set_all(format!("{provider}:{claim}"), values);
        self
    }

    /// The account that owns the resource: [`RequestContext::resource_account`] if set, else
    /// the account component of the resource ARN.
    pub fn resource_account(&self) -> Option<&str> {
        self.resource_account
            .as_deref()
            .or_else(|| arn_account(&self.resource))
    }
}

impl VarSource for RequestContext {
    fn var(&self, key_lc: &str) -> Option<&str> {
        match self.keys.get_lc(key_lc) {
            Some([v]) => Some(v.as_str()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let mut k = ContextKeys::new();
        k.set("aws:SourceIp", "1.2.3.4");
        assert_eq!(k.get("AWS:SOURCEIP").unwrap(), ["1.2.3.4"]);
        k.add("aws:TagKeys", "a");
        k.add("AWS:tagkeys", "b");
        assert_eq!(k.get("aws:TagKeys").unwrap(), ["a", "b"]);
        assert_eq!(k.get_single("aws:TagKeys"), None);
        k.remove("Aws:SourceIP");
        assert!(k.get("aws:SourceIp").is_none());
    }

    #[test]
    fn principal_keys() {
        let c = RequestContext::new("sts:AssumeRole", "arn:aws:iam::111122223333:role/R")
            .with_principal(RequestPrincipal::assumed_role(
                "arn:aws:sts::111122223333:assumed-role/Dev/ana",
                "arn:aws:iam::111122223333:role/Dev",
                "AROAEXAMPLE",
            ));
        assert_eq!(
            c.keys.get_single("aws:PrincipalArn"),
            Some("arn:aws:iam::111122223333:role/Dev")
        );
        assert_eq!(c.keys.get_single("aws:userid"), Some("AROAEXAMPLE:ana"));
        assert_eq!(c.keys.get_single("aws:PrincipalType"), Some("AssumedRole"));
        assert!(c.keys.get("aws:username").is_none());
        assert_eq!(c.resource_account(), Some("111122223333"));
        let u = RequestPrincipal::user("arn:aws:iam::111122223333:user/div/Bob", "AIDAX");
        assert_eq!(u.username.as_deref(), Some("Bob"));
        assert_eq!(u.account.as_deref(), Some("111122223333"));
    }

    #[test]
    fn time_keys() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let c = RequestContext::new("a:b", "*").with_current_time(t);
        assert_eq!(
            c.keys.get_single("aws:CurrentTime"),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(c.keys.get_single("aws:EpochTime"), Some("1700000000"));
    }
}
