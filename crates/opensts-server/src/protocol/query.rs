//! awsQuery request decoding: form pairs → [`Params`], with typed accessors for scalars,
//! `member.N` lists and lists of structures, and AWS-style `ValidationError` messages.

use std::collections::BTreeMap;

use crate::error::{ApiError, ApiResult};

/// Most parameters one request may carry (a policy simulation with many context entries stays
/// far below; thousands of parameters are refused before any work is done).
pub const MAX_PARAMS: usize = 1000;
/// Longest parameter name accepted.
pub const MAX_PARAM_NAME_LEN: usize = 256;
/// Longest `member.N` index accepted in a list (AWS lists here hold at most a few hundred).
pub const MAX_LIST_INDEX: usize = 1000;

/// Decoded awsQuery parameters (names are case-sensitive, as in AWS).
#[derive(Debug, Default, Clone)]
pub struct Params {
    map: BTreeMap<String, String>,
}

/// Names that carry SigV4 query authentication, never action parameters.
fn is_auth_param(name: &str) -> bool {
    name.as_bytes()
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"x-amz-"))
}

impl Params {
    /// Decode one or more `application/x-www-form-urlencoded` sources (query string, body).
    /// A parameter given twice is refused: silently picking one copy would let two readers of
    /// the same request see different values.
    pub fn decode(sources: &[&[u8]]) -> ApiResult<Params> {
        let mut map = BTreeMap::new();
        for src in sources {
            if src.is_empty() {
                continue;
            }
            validate_percent_encoding(src)?;
            for (k, v) in form_urlencoded::parse(src) {
                if k.is_empty() && v.is_empty() {
                    continue;
                }
                if is_auth_param(&k) {
                    continue;
                }
                if k.len() > MAX_PARAM_NAME_LEN {
                    return Err(ApiError::malformed_query(format!(
                        "Parameter name longer than {MAX_PARAM_NAME_LEN} characters"
                    )));
                }
                if map.len() >= MAX_PARAMS {
                    return Err(ApiError::malformed_query(format!(
                        "Too many parameters (more than {MAX_PARAMS})"
                    )));
                }
                let k = k.into_owned();
                if map.contains_key(&k) {
                    return Err(ApiError::malformed_query(format!(
                        "Parameter {k} is given more than once"
                    )));
                }
                map.insert(k, v.into_owned());
            }
        }
        Ok(Params { map })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// `Prefix.member.N` values in index order. The bare `Prefix=` (botocore's empty list)
    /// yields an empty list. Indexes must be 1..=N without gaps.
    pub fn list(&self, prefix: &str) -> ApiResult<Option<Vec<String>>> {
        let head = format!("{prefix}.member.");
        let mut items: BTreeMap<usize, String> = BTreeMap::new();
        for (k, v) in self.map.range(head.clone()..) {
            let Some(rest) = k.strip_prefix(&head) else {
                break;
            };
            let idx = parse_index(rest, k)?;
            items.insert(idx, v.clone());
        }
        if items.is_empty() {
            return Ok(if self.map.contains_key(prefix) {
                Some(Vec::new())
            } else {
                None
            });
        }
        check_dense(&items, prefix)?;
        Ok(Some(items.into_values().collect()))
    }

    /// `Prefix.member.N.Field` structures in index order (each as a field → value map).
    pub fn struct_list(&self, prefix: &str) -> ApiResult<Option<Vec<BTreeMap<String, String>>>> {
        let head = format!("{prefix}.member.");
        let mut items: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in self.map.range(head.clone()..) {
            let Some(rest) = k.strip_prefix(&head) else {
                break;
            };
            let (idx, field) = match rest.split_once('.') {
                Some((i, f)) if !f.is_empty() => (parse_index(i, k)?, f),
                _ => {
                    return Err(ApiError::malformed_query(format!(
                        "Malformed list member parameter {k}"
                    )));
                }
            };
            items
                .entry(idx)
                .or_default()
                .insert(field.to_string(), v.clone());
        }
        if items.is_empty() {
            return Ok(if self.map.contains_key(prefix) {
                Some(Vec::new())
            } else {
                None
            });
        }
        check_dense(&items, prefix)?;
        Ok(Some(items.into_values().collect()))
    }
}

fn parse_index(s: &str, full: &str) -> ApiResult<usize> {
    let ok = !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    let idx = if ok { s.parse::<usize>().ok() } else { None };
    match idx {
        Some(i) if (1..=MAX_LIST_INDEX).contains(&i) => Ok(i),
        _ => Err(ApiError::malformed_query(format!(
            "Malformed list member parameter {full}"
        ))),
    }
}

fn check_dense<T>(items: &BTreeMap<usize, T>, prefix: &str) -> ApiResult<()> {
    for (expected, idx) in (1..).zip(items.keys()) {
        if *idx != expected {
            return Err(ApiError::malformed_query(format!(
                "List {prefix} is missing member {expected}"
            )));
        }
    }
    Ok(())
}

/// Refuse `%` not followed by two hex digits (form_urlencoded would pass it through silently).
fn validate_percent_encoding(src: &[u8]) -> ApiResult<()> {
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'%' {
            let ok = src.len() > i + 2
                && src[i + 1].is_ascii_hexdigit()
                && src[i + 2].is_ascii_hexdigit();
            if !ok {
                return Err(ApiError::malformed_query(
                    "Invalid percent-encoding in request parameters",
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Collects constraint violations and renders them the way AWS does:
/// `2 validation errors detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: …; …`.
#[derive(Debug, Default)]
pub struct Violations {
    items: Vec<String>,
}

/// AWS reports member names in lower camel case (`RoleSessionName` → `roleSessionName`).
pub fn lower_camel(member: &str) -> String {
    let mut out = String::with_capacity(member.len());
    let mut chars = member.chars();
    if let Some(c) = chars.next() {
        out.extend(c.to_lowercase());
    }
    out.extend(chars);
    out
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, value: Option<&str>, member: &str, constraint: &str) {
        let shown = match value {
            Some(v) => format!("'{}'", truncate_for_message(v)),
            None => "null".to_string(),
        };
        self.items.push(format!(
            "Value {shown} at '{}' failed to satisfy constraint: {constraint}",
            lower_camel(member)
        ));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn into_result(self) -> ApiResult<()> {
        if self.items.is_empty() {
            return Ok(());
        }
        let n = self.items.len();
        let noun = if n == 1 { "error" } else { "errors" };
        Err(ApiError::validation(format!(
            "{n} validation {noun} detected: {}",
            self.items.join("; ")
        )))
    }

    /// Required string with length bounds (in characters) and an optional character rule.
    pub fn string<'a>(
        &mut self,
        params: &'a Params,
        member: &str,
        required: bool,
        min: usize,
        max: usize,
        rule: Option<CharRule>,
    ) -> Option<&'a str> {
        let v = params.get(member);
        match v {
            None => {
                if required {
                    self.add(None, member, "Member must not be null");
                }
                None
            }
            Some(s) => {
                let len = s.chars().count();
                let mut ok = true;
                if len < min {
                    self.add(
                        Some(s),
                        member,
                        &format!("Member must have length greater than or equal to {min}"),
                    );
                    ok = false;
                }
                if len > max {
                    self.add(
                        Some(s),
                        member,
                        &format!("Member must have length less than or equal to {max}"),
                    );
                    ok = false;
                }
                if let Some(rule) = rule
                    && !s.chars().all(|c| rule.allows(c))
                {
                    self.add(
                        Some(s),
                        member,
                        &format!(
                            "Member must satisfy regular expression pattern: {}",
                            rule.pattern()
                        ),
                    );
                    ok = false;
                }
                ok.then_some(s)
            }
        }
    }

    /// Integer within bounds.
    pub fn int(
        &mut self,
        params: &Params,
        member: &str,
        required: bool,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        match params.get(member) {
            None => {
                if required {
                    self.add(None, member, "Member must not be null");
                }
                None
            }
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if n < min => {
                    self.add(
                        Some(s),
                        member,
                        &format!("Member must have value greater than or equal to {min}"),
                    );
                    None
                }
                Ok(n) if n > max => {
                    self.add(
                        Some(s),
                        member,
                        &format!("Member must have value less than or equal to {max}"),
                    );
                    None
                }
                Ok(n) => Some(n),
                Err(_) => {
                    self.add(Some(s), member, "Member must be a number");
                    None
                }
            },
        }
    }
}

fn truncate_for_message(v: &str) -> String {
    const MAX: usize = 256;
    if v.chars().count() <= MAX {
        v.to_string()
    } else {
        let mut s: String = v.chars().take(MAX).collect();
        s.push_str("...");
        s
    }
}

/// Character classes of the botocore model patterns used by STS and IAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharRule {
    /// `[\w+=,.@-]*` — role session names, user names, source identity.
    NameChars,
    /// `[\w+=,.@:\/-]*` — external id.
    ExternalId,
    /// `[\w+=/:,.@-]*` — MFA serial numbers.
    SerialNumber,
    /// `[\d]*` — token codes.
    Digits,
    /// `[\w]*` — access key ids.
    Word,
    /// `[\u0009\u000A\u000D\u0020-\u00FF]+` — policy documents (session policies).
    PolicyChars,
    /// `[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+` — ARNs, paths.
    ArnChars,
    /// `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)` is checked separately; this is `[\u0021-\u007E]`.
    PathChars,
    /// `[\p{L}\p{Z}\p{N}_.:/=+\-@]*` — tag keys and values.
    TagChars,
    /// `[\w+=,.@-]+` for IAM entity names (same class as NameChars).
    IamName,
}

impl CharRule {
    pub fn allows(self, c: char) -> bool {
        let word = c.is_ascii_alphanumeric() || c == '_';
        match self {
            CharRule::NameChars | CharRule::IamName => word || "+=,.@-".contains(c),
            CharRule::ExternalId => word || "+=,.@:/-".contains(c),
            CharRule::SerialNumber => word || "+=/:,.@-".contains(c),
            CharRule::Digits => c.is_ascii_digit(),
            CharRule::Word => word,
            CharRule::PolicyChars => {
                matches!(c, '\u{9}' | '\u{a}' | '\u{d}') || ('\u{20}'..='\u{ff}').contains(&c)
            }
            CharRule::ArnChars => {
                matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{85}')
                    || ('\u{20}'..='\u{7e}').contains(&c)
                    || ('\u{a0}'..='\u{d7ff}').contains(&c)
                    || ('\u{e000}'..='\u{fffd}').contains(&c)
                    || c >= '\u{10000}'
            }
            CharRule::PathChars => ('\u{21}'..='\u{7e}').contains(&c),
            CharRule::TagChars => {
                c.is_alphabetic()
                    || c.is_numeric()
                    || c.is_whitespace()
                    || c == '\u{a0}'
                    || "_.:/=+-@".contains(c)
            }
        }
    }

    pub fn pattern(self) -> &'static str {
        match self {
            CharRule::NameChars => "[\\w+=,.@-]*",
            CharRule::IamName => "[\\w+=,.@-]+",
            CharRule::ExternalId => "[\\w+=,.@:\\/-]*",
            CharRule::SerialNumber => "[\\w+=/:,.@-]*",
            CharRule::Digits => "[\\d]*",
            CharRule::Word => "[\\w]*",
            CharRule::PolicyChars => "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
            CharRule::ArnChars => {
                "[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+"
            }
            CharRule::PathChars => "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
            CharRule::TagChars => "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn decodes_lists_and_structs() {
        let p = Params::decode(&[
            b"Action=AssumeRole&Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=1&Tags.member.2.Value=2&TransitiveTagKeys.member.1=a&PolicyArns.member.1.arn=x",
        ])
        .unwrap();
        let tags = p.struct_list("Tags").unwrap().unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0]["Key"], "a");
        assert_eq!(tags[1]["Value"], "2");
        assert_eq!(
            p.list("TransitiveTagKeys").unwrap().unwrap(),
            vec!["a".to_string()]
        );
        assert_eq!(p.struct_list("PolicyArns").unwrap().unwrap()[0]["arn"], "x");
        assert!(p.list("Nothing").unwrap().is_none());
    }

    #[test]
    fn empty_list_marker() {
        let p = Params::decode(&[b"Action=X&Tags="]).unwrap();
        assert_eq!(p.struct_list("Tags").unwrap().unwrap().len(), 0);
    }

    #[test]
    fn list_gaps_and_bad_indexes_refused() {
        let p = Params::decode(&[b"L.member.1=a&L.member.3=c"]).unwrap();
        assert!(p.list("L").is_err());
        let p = Params::decode(&[b"L.member.0=a"]).unwrap();
        assert!(p.list("L").is_err());
        let p = Params::decode(&[b"L.member.x=a"]).unwrap();
        assert!(p.list("L").is_err());
    }

    #[test]
    fn duplicates_and_bad_encoding_refused() {
        assert!(Params::decode(&[b"A=1&A=2"]).is_err());
        assert!(Params::decode(&[b"A=1", b"A=2"]).is_err());
        assert!(Params::decode(&[b"A=%zz"]).is_err());
        assert!(Params::decode(&[b"A=%4"]).is_err());
    }

    #[test]
    fn multibyte_names_do_not_panic() {
        // Invalid UTF-8 decodes to U+FFFD (3 bytes) straddling byte 6.
        let p = Params::decode(&[b"\xe3\x81O@\xfeo}=1"]).unwrap();
        assert_eq!(p.len(), 1);
        assert!(Params::decode(&[b"ab\xc3\xa9x-amz=1"]).is_ok());
    }

    #[test]
    fn plus_is_space_and_auth_params_skipped() {
        let p = Params::decode(&[b"A=a+b&X-Amz-Date=1&x-amz-signature=2"]).unwrap();
        assert_eq!(p.get("A"), Some("a b"));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn validation_messages_match_aws() {
        let p = Params::decode(&[b"RoleSessionName=a%3Ab"]).unwrap();
        let mut v = Violations::new();
        v.string(
            &p,
            "RoleSessionName",
            true,
            2,
            64,
            Some(CharRule::NameChars),
        );
        let e = v.into_result().unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        );
        let mut v = Violations::new();
        v.string(&p, "RoleArn", true, 20, 2048, None);
        v.int(&p, "RoleSessionName", false, 0, 1);
        let e = v.into_result().unwrap_err();
        assert!(e.message.starts_with("2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "));
    }
}
