//! Wildcard patterns (`*`, `?`), policy variables (`${key}`, `${key, 'default'}`, `${*}`,
//! `${?}`, `${$}`) and segment-wise ARN matching. No regex: a pattern is a token list matched
//! with the linear-space greedy/backtrack algorithm.

use std::borrow::Cow;

/// Supplies values for policy variables. Keys are passed lower-cased.
pub(crate) trait VarSource {
    /// The single value of the key, or `None` when the key is absent or multi-valued.
    fn var(&self, key_lc: &str) -> Option<&str>;
}

/// A source with no values (used where variables are not in play).
pub(crate) struct NoVars;

impl VarSource for NoVars {
    fn var(&self, _key_lc: &str) -> Option<&str> {
        None
    }
}

/// A policy variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Var {
    /// Lower-cased key name (key names are case-insensitive).
    key: Box<str>,
    default: Option<Box<str>>,
}

impl Var {
    fn resolve<'a>(&'a self, src: &'a dyn VarSource) -> Option<&'a str> {
        src.var(&self.key).or(self.default.as_deref())
    }
}

/// One token of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Literal text (for case-folded patterns, already ASCII-lower-cased).
    Lit(Box<str>),
    /// `*`: any sequence of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    One,
    /// A policy variable; its value is literal text.
    Var(Var),
}

/// How to read a raw policy string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards.
    pub wildcards: bool,
    /// `${…}` is a policy variable (Version 2012-10-17 and a place that allows variables).
    pub variables: bool,
    /// Lower-case literal text (ASCII) for case-insensitive matching.
    pub fold: bool,
}

/// Splits `raw` into tokens.
pub(crate) fn tokenize(raw: &str, syntax: Syntax) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let flush = |lit: &mut String, toks: &mut Vec<Tok>| {
        if !lit.is_empty() {
            let s = std::mem::take(lit);
            // Merge with a preceding literal (can happen after an escape).
            if let Some(Tok::Lit(prev)) = toks.last_mut() {
                let mut merged = String::with_capacity(prev.len() + s.len());
                merged.push_str(prev);
                merged.push_str(&s);
                *prev = merged.into_boxed_str();
            } else {
                toks.push(Tok::Lit(s.into_boxed_str()));
            }
        }
    };
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if syntax.variables
            && rest.starts_with("${")
            && let Some(end) = rest[2..].find('}')
        {
            let inner = &rest[2..2 + end];
            match parse_var(inner) {
                Some(VarOrEscape::Escape(ch)) => {
                    lit.push(ch);
                    rest = &rest[2 + end + 1..];
                    continue;
                }
                Some(VarOrEscape::Var(v)) => {
                    flush(&mut lit, &mut toks);
                    toks.push(Tok::Var(v));
                    rest = &rest[2 + end + 1..];
                    continue;
                }
                None => {}
            }
        }
        if syntax.wildcards && c == '*' {
            flush(&mut lit, &mut toks);
            // Collapse runs of stars.
            if toks.last() != Some(&Tok::Star) {
                toks.push(Tok::Star);
            }
        } else if syntax.wildcards && c == '?' {
            flush(&mut lit, &mut toks);
            toks.push(Tok::One);
        } else if syntax.fold {
            lit.push(c.to_ascii_lowercase());
        } else {
            lit.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut lit, &mut toks);
    toks
}

enum VarOrEscape {
    Escape(char),
    Var(Var),
}

/// Parses the text between `${` and `}`.
fn parse_var(inner: &str) -> Option<VarOrEscape> {
    match inner {
        "*" => return Some(VarOrEscape::Escape('*')),
        "?" => return Some(VarOrEscape::Escape('?')),
        "$" => return Some(VarOrEscape::Escape('$')),
        _ => {}
    }
    let (key, default) = match inner.find(',') {
        Some(i) => {
            let d = inner[i + 1..].trim();
            let d = d.strip_prefix('\'')?.strip_suffix('\'')?;
            (inner[..i].trim(), Some(d.to_owned().into_boxed_str()))
        }
        None => (inner.trim(), None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains('$') {
        return None;
    }
    Some(VarOrEscape::Var(Var {
        key: key.to_lowercase().into_boxed_str(),
        default,
    }))
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    toks: Vec<Tok>,
    has_vars: bool,
    fold: bool,
}

impl Pattern {
    pub(crate) fn new(raw: &str, syntax: Syntax) -> Pattern {
        let toks = tokenize(raw, syntax);
        let has_vars = toks.iter().any(|t| matches!(t, Tok::Var(_)));
        Pattern {
            toks,
            has_vars,
            fold: syntax.fold,
        }
    }

    pub(crate) fn matches(&self, text: &str, vars: &dyn VarSource) -> bool {
        if self.has_vars {
            // An unresolvable variable makes the pattern match nothing.
            for t in &self.toks {
                if let Tok::Var(v) = t
                    && v.resolve(vars).is_none()
                {
                    return false;
                }
            }
        }
        glob(&self.toks, text.as_bytes(), self.fold, vars)
    }
}

fn char_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn starts_with(text: &[u8], lit: &[u8], fold: bool) -> bool {
    if text.len() < lit.len() {
        return false;
    }
    let head = &text[..lit.len()];
    if fold {
        head.eq_ignore_ascii_case(lit)
    } else {
        head == lit
    }
}

/// Greedy match with backtracking to the most recent `*`; O(|text|·|pattern|) worst case,
/// no recursion, no allocation.
fn glob(toks: &[Tok], text: &[u8], fold: bool, vars: &dyn VarSource) -> bool {
    let mut ti = 0usize;
    let mut pos = 0usize;
    // (token index after the last star, text position the star has consumed up to)
    let mut back: Option<(usize, usize)> = None;
    loop {
        if let Some(tok) = toks.get(ti) {
            match tok {
                Tok::Star => {
                    if ti + 1 == toks.len() {
                        return true;
                    }
                    back = Some((ti + 1, pos));
                    ti += 1;
                    continue;
                }
                Tok::One => {
                    if pos < text.len() {
                        pos += char_len(text[pos]);
                        ti += 1;
                        continue;
                    }
                }
                Tok::Lit(s) => {
                    if starts_with(&text[pos..], s.as_bytes(), fold) {
                        pos += s.len();
                        ti += 1;
                        continue;
                    }
                }
                Tok::Var(v) => {
                    if let Some(s) = v.resolve(vars)
                        && starts_with(&text[pos..], s.as_bytes(), fold)
                    {
                        pos += s.len();
                        ti += 1;
                        continue;
                    }
                }
            }
        } else if pos >= text.len() {
            return true;
        }
        match back {
            Some((bti, bpos)) if bpos < text.len() => {
                let np = bpos + char_len(text[bpos]);
                back = Some((bti, np));
                ti = bti;
                pos = np;
            }
            _ => return false,
        }
    }
}

/// A string with policy variables but no wildcards (for `StringEquals`, `Bool`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    toks: Vec<Tok>,
}

impl Template {
    pub(crate) fn new(raw: &str, variables: bool) -> Template {
        Template {
            toks: tokenize(
                raw,
                Syntax {
                    wildcards: false,
                    variables,
                    fold: false,
                },
            ),
        }
    }

    /// The text with variables substituted; `None` if a variable cannot be resolved.
    pub(crate) fn resolve<'a>(&'a self, vars: &'a dyn VarSource) -> Option<Cow<'a, str>> {
        match self.toks.as_slice() {
            [] => Some(Cow::Borrowed("")),
            [Tok::Lit(s)] => Some(Cow::Borrowed(s)),
            [Tok::Var(v)] => v.resolve(vars).map(Cow::Borrowed),
            toks => {
                let mut out = String::new();
                for t in toks {
                    match t {
                        Tok::Lit(s) => out.push_str(s),
                        Tok::Var(v) => out.push_str(v.resolve(vars)?),
                        Tok::Star => out.push('*'),
                        Tok::One => out.push('?'),
                    }
                }
                Some(Cow::Owned(out))
            }
        }
    }
}

/// Splits at the first five colons that are not inside `${…}`.
fn split_arn_raw(raw: &str) -> Vec<&str> {
    let mut parts = Vec::with_capacity(6);
    let bytes = raw.as_bytes();
    let mut start = 0usize;
    let mut depth = 0usize;
    let mut i = 0usize;
    while i < bytes.len() && parts.len() < 5 {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth > 0 => depth -= 1,
            b':' if depth == 0 => {
                parts.push(&raw[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&raw[start..]);
    parts
}

/// A resource / ARN pattern matched component by component: wildcards never cross the first
/// five colons; in the resource part (after the fifth colon) `*` spans anything, `/` and `:`
/// included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    /// `*`: everything.
    Any,
    /// Six component patterns.
    Arn(Box<[Pattern; 6]>),
    /// Not ARN-shaped: matched as a whole string.
    Plain(Pattern),
}

impl ArnPattern {
    pub(crate) fn new(raw: &str, variables: bool) -> ArnPattern {
        let syntax = Syntax {
            wildcards: true,
            variables,
            fold: false,
        };
        if raw == "*" {
            return ArnPattern::Any;
        }
        let parts = split_arn_raw(raw);
        if let [a, b, c, d, e, f] = parts.as_slice() {
            ArnPattern::Arn(Box::new([
                Pattern::new(a, syntax),
                Pattern::new(b, syntax),
                Pattern::new(c, syntax),
                Pattern::new(d, syntax),
                Pattern::new(e, syntax),
                Pattern::new(f, syntax),
            ]))
        } else {
            ArnPattern::Plain(Pattern::new(raw, syntax))
        }
    }

    pub(crate) fn matches(&self, text: &str, vars: &dyn VarSource) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Plain(p) => p.matches(text, vars),
            ArnPattern::Arn(segs) => {
                let mut it = text.splitn(6, ':');
                for seg in segs.iter() {
                    match it.next() {
                        Some(part) if seg.matches(part, vars) => {}
                        _ => return false,
                    }
                }
                true
            }
        }
    }
}

/// Plain wildcard match (`*`, `?`), no variables: exposed for resource servers and tests.
pub fn wildcard_match(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    Pattern::new(
        pattern,
        Syntax {
            wildcards: true,
            variables: false,
            fold: case_insensitive,
        },
    )
    .matches(text, &NoVars)
}

/// ARN match as IAM does it for `Resource` and `ArnLike`: the six colon-separated components
/// are matched separately (wildcards within a component only); `*` in the resource component
/// spans `/` and `:`.
pub fn arn_match(pattern: &str, arn: &str) -> bool {
    ArnPattern::new(pattern, false).matches(arn, &NoVars)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<String, String>);
    impl VarSource for Map {
        fn var(&self, key_lc: &str) -> Option<&str> {
            self.0.get(key_lc).map(String::as_str)
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match(
            "iam:*AccessKey*",
            "iam:CreateAccessKey",
            false
        ));
        assert!(wildcard_match(
            "IAM:*accesskey*",
            "iam:CreateAccessKey",
            true
        ));
        assert!(!wildcard_match("iam:*AccessKey*", "iam:CreateUser", true));
        assert!(wildcard_match("a?c", "abc", false));
        assert!(wildcard_match("a?c", "aéc", false));
        assert!(!wildcard_match("a?c", "ac", false));
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match("a*b*c", "aXbYbZc", false));
        assert!(!wildcard_match("a*b*c", "aXbYbZ", false));
        assert!(wildcard_match("", "", false));
        assert!(!wildcard_match("", "x", false));
    }

    #[test]
    fn arn_segments() {
        assert!(arn_match(
            "arn:aws:s3:::bucket/*",
            "arn:aws:s3:::bucket/a/b:c"
        ));
        assert!(!arn_match(
            "arn:aws:someservice:*:111122223333:finance/*",
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
        ));
        assert!(wildcard_match(
            "arn:aws:someservice:*:111122223333:finance/*",
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt",
            false
        ));
        assert!(arn_match(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::123456789012:role/a/b"
        ));
        assert!(!arn_match(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::123456789012"
        ));
        assert!(arn_match("*", "anything"));
        assert!(!arn_match("arn:aws:s3:::b", "arn:aws:s3:::B"));
    }

    #[test]
    fn variables_and_escapes() {
        let mut m = HashMap::new();
        m.insert("aws:username".to_string(), "bob".to_string());
        let vars = Map(m);
        let syn = Syntax {
            wildcards: true,
            variables: true,
            fold: false,
        };
        let p = Pattern::new("home/${aws:username}/*", syn);
        assert!(p.matches("home/bob/x", &vars));
        assert!(!p.matches("home/alice/x", &vars));
        let p = Pattern::new("a${*}b", syn);
        assert!(p.matches("a*b", &vars));
        assert!(!p.matches("axb", &vars));
        let p = Pattern::new("${aws:PrincipalTag/team, 'company-wide'}", syn);
        assert!(p.matches("company-wide", &vars));
        let p = Pattern::new("${aws:PrincipalTag/team}", syn);
        assert!(!p.matches("", &vars));
        let t = Template::new("x-${AWS:UserName}-${$}", true);
        assert_eq!(t.resolve(&vars).unwrap(), "x-bob-$");
        let t = Template::new("${nope}", true);
        assert!(t.resolve(&vars).is_none());
        let t = Template::new("${aws:username}", false);
        assert_eq!(t.resolve(&vars).unwrap(), "${aws:username}");
        // Unterminated or malformed variables are literal text.
        let t = Template::new("${aws:username", true);
        assert_eq!(t.resolve(&vars).unwrap(), "${aws:username");
    }

    #[test]
    fn arn_split_respects_variables() {
        let p = ArnPattern::new("arn:aws:s3:::b/${aws:PrincipalTag/a:b}/*", true);
        let mut m = HashMap::new();
        m.insert("aws:principaltag/a:b".to_string(), "v".to_string());
        assert!(p.matches("arn:aws:s3:::b/v/x", &Map(m)));
    }
}
