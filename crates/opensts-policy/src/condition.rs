//! Condition operators and their evaluation.

use std::net::IpAddr;

use base64::Engine as _;
use ipnet::IpNet;

use crate::context::RequestContext;
use crate::pattern::{ArnPattern, Pattern, Syntax, Template, VarSource};

/// The operator family and comparison, without qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASE_NAMES: &[(&str, BaseOperator)] = &[
    ("StringEquals", BaseOperator::StringEquals),
    ("StringNotEquals", BaseOperator::StringNotEquals),
    (
        "StringEqualsIgnoreCase",
        BaseOperator::StringEqualsIgnoreCase,
    ),
    (
        "StringNotEqualsIgnoreCase",
        BaseOperator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", BaseOperator::StringLike),
    ("StringNotLike", BaseOperator::StringNotLike),
    ("NumericEquals", BaseOperator::NumericEquals),
    ("NumericNotEquals", BaseOperator::NumericNotEquals),
    ("NumericLessThan", BaseOperator::NumericLessThan),
    ("NumericLessThanEquals", BaseOperator::NumericLessThanEquals),
    ("NumericGreaterThan", BaseOperator::NumericGreaterThan),
    (
        "NumericGreaterThanEquals",
        BaseOperator::NumericGreaterThanEquals,
    ),
    ("DateEquals", BaseOperator::DateEquals),
    ("DateNotEquals", BaseOperator::DateNotEquals),
    ("DateLessThan", BaseOperator::DateLessThan),
    ("DateLessThanEquals", BaseOperator::DateLessThanEquals),
    ("DateGreaterThan", BaseOperator::DateGreaterThan),
    ("DateGreaterThanEquals", BaseOperator::DateGreaterThanEquals),
    ("Bool", BaseOperator::Bool),
    ("BinaryEquals", BaseOperator::BinaryEquals),
    ("IpAddress", BaseOperator::IpAddress),
    ("NotIpAddress", BaseOperator::NotIpAddress),
    ("ArnEquals", BaseOperator::ArnEquals),
    ("ArnLike", BaseOperator::ArnLike),
    ("ArnNotEquals", BaseOperator::ArnNotEquals),
    ("ArnNotLike", BaseOperator::ArnNotLike),
    ("Null", BaseOperator::Null),
];

impl BaseOperator {
    /// The operator's name as written in policies.
    pub fn name(self) -> &'static str {
        BASE_NAMES
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(n, _)| *n)
            .unwrap_or("Null")
    }

    /// Negated operators (`…Not…`) are true when the key is absent and combine their values
    /// with NOR.
    pub fn is_negated(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// Operators whose values may contain policy variables.
    fn allows_variables(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringEquals
                | StringNotEquals
                | StringEqualsIgnoreCase
                | StringNotEqualsIgnoreCase
                | StringLike
                | StringNotLike
                | ArnEquals
                | ArnLike
                | ArnNotEquals
                | ArnNotLike
                | Bool
        )
    }
}

/// Set qualifier for multi-valued keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetQualifier {
    /// No qualifier: true if any request value matches (negated: none matches).
    None,
    /// `ForAnyValue:` — true if at least one request value matches; false for an absent or
    /// empty key.
    ForAnyValue,
    /// `ForAllValues:` — true if every request value matches; true for an absent or empty key.
    ForAllValues,
}

/// A full condition operator: `[ForAnyValue:|ForAllValues:]<Base>[IfExists]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operator {
    /// The comparison.
    pub base: BaseOperator,
    /// The set qualifier.
    pub qualifier: SetQualifier,
    /// `…IfExists`: an absent key makes the condition true.
    pub if_exists: bool,
}

impl Operator {
    /// Parses an operator name. Names are matched case-insensitively.
    pub fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(r) = strip_prefix_ci(name, "ForAnyValue:") {
            (SetQualifier::ForAnyValue, r)
        } else if let Some(r) = strip_prefix_ci(name, "ForAllValues:") {
            (SetQualifier::ForAllValues, r)
        } else {
            (SetQualifier::None, name)
        };
        let find = |n: &str| {
            BASE_NAMES
                .iter()
                .find(|(bn, _)| bn.eq_ignore_ascii_case(n))
                .map(|(_, op)| *op)
        };
        if let Some(base) = find(rest) {
            return Some(Operator {
                base,
                qualifier,
                if_exists: false,
            });
        }
        let len = rest.len();
        if len > 8
            && rest.is_char_boundary(len - 8)
            && rest[len - 8..].eq_ignore_ascii_case("IfExists")
        {
            let base = find(&rest[..len - 8])?;
            if base == BaseOperator::Null {
                return None;
            }
            return Some(Operator {
                base,
                qualifier,
                if_exists: true,
            });
        }
        None
    }

    /// The canonical name (`ForAnyValue:StringLikeIfExists`).
    pub fn name(&self) -> String {
        let q = match self.qualifier {
            SetQualifier::None => "",
            SetQualifier::ForAnyValue => "ForAnyValue:",
            SetQualifier::ForAllValues => "ForAllValues:",
        };
        let e = if self.if_exists { "IfExists" } else { "" };
        format!("{q}{}{e}", self.base.name())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// A condition value compiled for its operator.
#[derive(Debug, Clone, PartialEq)]
enum Compiled {
    Str(Template),
    /// Lower-cased literal with variables (resolved values are lower-cased at evaluation).
    StrIgnoreCase(Template),
    Like(Pattern),
    Num(Option<f64>),
    Date(Option<i128>),
    Bool(Template),
    Binary(Option<Vec<u8>>),
    Ip(Option<IpNet>),
    Arn(ArnPattern),
    Null(Option<bool>),
}

/// One condition: operator, key and the policy values (OR-ed).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    operator: Operator,
    operator_raw: String,
    key: String,
    key_lc: String,
    values: Vec<String>,
    compiled: Vec<Compiled>,
}

impl Condition {
    pub(crate) fn new(
        operator: Operator,
        operator_raw: &str,
        key: &str,
        values: Vec<String>,
        variables: bool,
    ) -> Condition {
        let vars = variables && operator.base.allows_variables();
        let compiled = values
            .iter()
            .map(|v| compile(operator.base, v, vars))
            .collect();
        Condition {
            operator,
            operator_raw: operator_raw.to_owned(),
            key: key.to_owned(),
            key_lc: key.to_lowercase(),
            values,
            compiled,
        }
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The operator as written in the policy.
    pub fn operator_name(&self) -> &str {
        &self.operator_raw
    }

    /// The condition key as written in the policy.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The policy values as written (numbers and booleans as their JSON text).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Evaluates the condition against the request context.
    pub(crate) fn evaluate(&self, ctx: &RequestContext) -> bool {
        let op = self.operator;
        let req: &[String] = ctx.keys.get_lc(&self.key_lc).unwrap_or(&[]);
        if op.base == BaseOperator::Null {
            let present = !req.is_empty();
            return self.compiled.iter().any(|c| match c {
                Compiled::Null(Some(want_absent)) => *want_absent != present,
                _ => false,
            });
        }
        if req.is_empty() {
            if op.if_exists {
                return true;
            }
            return match op.qualifier {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                SetQualifier::None => op.base.is_negated(),
            };
        }
        let negated = op.base.is_negated();
        // Whether one request value satisfies the operator (for negated operators: matches
        // none of the policy values).
        let single = |v: &str| {
            let any = self
                .compiled
                .iter()
                .any(|c| positive_match(op.base, c, v, ctx));
            any != negated
        };
        match op.qualifier {
            SetQualifier::None => {
                if negated {
                    req.iter().all(|v| single(v))
                } else {
                    req.iter().any(|v| single(v))
                }
            }
            SetQualifier::ForAnyValue => req.iter().any(|v| single(v)),
            SetQualifier::ForAllValues => req.iter().all(|v| single(v)),
        }
    }
}

fn compile(base: BaseOperator, raw: &str, vars: bool) -> Compiled {
    use BaseOperator::*;
    match base {
        StringEquals | StringNotEquals => Compiled::Str(Template::new(raw, vars)),
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => {
            Compiled::StrIgnoreCase(Template::new(raw, vars))
        }
        StringLike | StringNotLike => Compiled::Like(Pattern::new(
            raw,
            Syntax {
                wildcards: true,
                variables: vars,
                fold: false,
            },
        )),
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => Compiled::Num(parse_number(raw)),
        DateEquals
        | DateNotEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => Compiled::Date(parse_date(raw)),
        Bool => Compiled::Bool(Template::new(raw, vars)),
        BinaryEquals => Compiled::Binary(decode_base64(raw)),
        IpAddress | NotIpAddress => Compiled::Ip(parse_cidr(raw)),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => {
            Compiled::Arn(ArnPattern::new(raw, vars))
        }
        Null => Compiled::Null(match raw.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }),
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// Does request value `v` match policy value `c` under the non-negated form of `base`?
fn positive_match(base: BaseOperator, c: &Compiled, v: &str, vars: &dyn VarSource) -> bool {
    use BaseOperator::*;
    match c {
        Compiled::Str(t) => t.resolve(vars).is_some_and(|p| p == v),
        Compiled::StrIgnoreCase(t) => t.resolve(vars).is_some_and(|p| eq_ignore_case(&p, v)),
        Compiled::Like(p) => p.matches(v, vars),
        Compiled::Bool(t) => t.resolve(vars).is_some_and(|p| eq_ignore_case(&p, v)),
        Compiled::Num(Some(p)) => parse_number(v).is_some_and(|x| match base {
            NumericEquals | NumericNotEquals => x == *p,
            NumericLessThan => x < *p,
            NumericLessThanEquals => x <= *p,
            NumericGreaterThan => x > *p,
            NumericGreaterThanEquals => x >= *p,
            _ => false,
        }),
        Compiled::Date(Some(p)) => parse_date(v).is_some_and(|x| match base {
            DateEquals | DateNotEquals => x == *p,
            DateLessThan => x < *p,
            DateLessThanEquals => x <= *p,
            DateGreaterThan => x > *p,
            DateGreaterThanEquals => x >= *p,
            _ => false,
        }),
        Compiled::Binary(Some(p)) => match decode_base64(v) {
            Some(x) => x == *p,
            None => v.as_bytes() == p.as_slice(),
        },
        Compiled::Ip(Some(net)) => parse_request_ip(v).is_some_and(|ip| net.contains(&ip)),
        Compiled::Arn(p) => p.matches(v, vars),
        Compiled::Num(None)
        | Compiled::Date(None)
        | Compiled::Binary(None)
        | Compiled::Ip(None)
        | Compiled::Null(_) => false,
    }
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

fn parse_request_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    s.parse::<IpNet>().ok().map(|n| n.addr())
}

/// Parses a date as IAM accepts it: W3C ISO 8601 (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`,
/// `YYYY-MM-DDThh:mm[:ss[.fff]]` with `Z` or `±hh:mm`, UTC when omitted) or epoch seconds.
/// Returns nanoseconds since the epoch.
pub fn parse_date(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if !digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()) {
        // A 4-digit value is a year in ISO 8601; longer all-digit values are epoch seconds.
        if digits.len() != 4 || neg {
            let secs: i128 = digits.parse().ok()?;
            let secs = if neg { -secs } else { secs };
            return Some(secs * 1_000_000_000);
        }
    }
    parse_iso8601(s)
}

fn num(s: &str, len: usize) -> Option<(u32, &str)> {
    if s.len() < len || !s.is_char_boundary(len) {
        return None;
    }
    let (d, rest) = s.split_at(len);
    if !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((d.parse().ok()?, rest))
}

fn parse_iso8601(s: &str) -> Option<i128> {
    let (year, rest) = num(s, 4)?;
    let (mut month, mut day) = (1u32, 1u32);
    let (mut hour, mut minute, mut second, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let mut offset_secs: i32 = 0;
    let mut rest = rest;
    if let Some(r) = rest.strip_prefix('-') {
        let (m, r) = num(r, 2)?;
        month = m;
        rest = r;
        if let Some(r) = rest.strip_prefix('-') {
            let (d, r) = num(r, 2)?;
            day = d;
            rest = r;
            if let Some(r) = rest.strip_prefix('T').or_else(|| rest.strip_prefix('t')) {
                let (h, r) = num(r, 2)?;
                let r = r.strip_prefix(':')?;
                let (mi, r) = num(r, 2)?;
                hour = h;
                minute = mi;
                rest = r;
                if let Some(r) = rest.strip_prefix(':') {
                    let (sec, r) = num(r, 2)?;
                    second = sec;
                    rest = r;
                    if let Some(r) = rest.strip_prefix('.') {
                        let end = r.bytes().take_while(u8::is_ascii_digit).count();
                        if end == 0 {
                            return None;
                        }
                        let frac = &r[..end.min(9)];
                        let mut n: u32 = frac.parse().ok()?;
                        for _ in frac.len()..9 {
                            n *= 10;
                        }
                        nanos = n;
                        rest = &r[end..];
                    }
                }
                // Time zone designator.
                if rest == "Z" || rest == "z" || rest.is_empty() {
                    rest = "";
                } else {
                    let sign = match rest.as_bytes().first() {
                        Some(b'+') => 1,
                        Some(b'-') => -1,
                        _ => return None,
                    };
                    let r = &rest[1..];
                    let (oh, r) = num(r, 2)?;
                    let r = r.strip_prefix(':').unwrap_or(r);
                    let (om, r) = num(r, 2)?;
                    if !r.is_empty() || oh > 23 || om > 59 {
                        return None;
                    }
                    offset_secs = sign * (oh as i32 * 3600 + om as i32 * 60);
                    rest = "";
                }
            }
        }
    }
    if !rest.is_empty() {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    let t = time::Time::from_hms_nano(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    let offset = time::UtcOffset::from_whole_seconds(offset_secs).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_offset(offset)
            .unix_timestamp_nanos(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAnyValue:StringLikeIfExists").unwrap();
        assert_eq!(op.base, BaseOperator::StringLike);
        assert_eq!(op.qualifier, SetQualifier::ForAnyValue);
        assert!(op.if_exists);
        assert_eq!(op.name(), "ForAnyValue:StringLikeIfExists");
        assert!(Operator::parse("NullIfExists").is_none());
        assert!(Operator::parse("StringEqualz").is_none());
        assert!(Operator::parse("IfExists").is_none());
        assert_eq!(
            Operator::parse("stringequals").unwrap().base,
            BaseOperator::StringEquals
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_date("1700000000"),
            Some(1_700_000_000 * 1_000_000_000)
        );
        assert_eq!(parse_date("1970"), Some(0));
        assert_eq!(parse_date("1970-01"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(86_400 * 1_000_000_000));
        assert_eq!(parse_date("1970-01-01T00:00:00.5Z"), Some(500_000_000));
        assert_eq!(parse_date("1970-01-01T00:01Z"), Some(60_000_000_000));
        assert!(parse_date("2020-13-01").is_none());
        assert!(parse_date("2020-02-30").is_none());
        assert!(parse_date("yesterday").is_none());
        assert!(parse_date("2020-01-01T00:00:00Zjunk").is_none());
        assert!(parse_date("").is_none());
    }

    #[test]
    fn numbers_and_ips() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("1.5"), Some(1.5));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("inf"), None);
        let net = parse_cidr("203.0.113.0/24").unwrap();
        assert!(net.contains(&parse_request_ip("203.0.113.7").unwrap()));
        let one = parse_cidr("203.0.113.7").unwrap();
        assert!(one.contains(&parse_request_ip("203.0.113.7").unwrap()));
        assert!(!one.contains(&parse_request_ip("203.0.113.8").unwrap()));
        let v6 = parse_cidr("2001:DB8:1234:5678::/64").unwrap();
        assert!(v6.contains(&parse_request_ip("2001:db8:1234:5678::1").unwrap()));
        // Host bits set in the policy value are ignored (network is truncated).
        assert!(
            parse_cidr("10.1.2.3/8")
                .unwrap()
                .contains(&parse_request_ip("10.200.0.1").unwrap())
        );
    }
}
