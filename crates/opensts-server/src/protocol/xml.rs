//! XML encoding of responses: the `<{Action}Response>` envelope, result members, and the one
//! `ErrorResponse` renderer.

use crate::error::ApiError;

/// A small writer for the response bodies (elements with escaped text; no attributes needed
/// inside results).
#[derive(Debug, Default)]
pub struct Xml {
    buf: String,
}

/// Whether `c` may appear in an XML 1.0 document (even escaped, `&#1;` is not well-formed).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escape text for element content. Characters XML cannot carry at all (control characters
/// other than tab, newline and carriage return; U+FFFE, U+FFFF), which user-supplied strings
/// such as session names or token claims may contain, become U+FFFD.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().all(is_xml_char) {
        return quick_xml::escape::escape(s);
    }
    let cleaned: String = s
        .chars()
        .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
        .collect();
    std::borrow::Cow::Owned(quick_xml::escape::escape(&cleaned).into_owned())
}

impl Xml {
    pub fn new() -> Self {
        Xml {
            buf: String::with_capacity(512),
        }
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
        self
    }

    /// `<name>text</name>` with the text escaped.
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        self.buf.push_str(&escape(text));
        self.close(name)
    }

    pub fn opt(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.elem(name, t);
        }
        self
    }

    pub fn num(&mut self, name: &str, n: i64) -> &mut Self {
        self.elem(name, &n.to_string())
    }

    pub fn bool(&mut self, name: &str, b: bool) -> &mut Self {
        self.elem(name, if b { "true" } else { "false" })
    }

    /// Append already-encoded XML.
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.buf.push_str(xml);
        self
    }

    pub fn into_string(self) -> String {
        self.buf
    }

    pub fn as_str(&self) -> &str {
        &self.buf
    }
}

/// The body of a successful answer. `result` is the inner XML of `<{action}Result>`; `None`
/// for actions whose response has no result element (most IAM mutations).
pub fn success_body(
    action: &str,
    namespace: &str,
    result: Option<&str>,
    request_id: &str,
) -> String {
    let mut x = Xml::new();
    x.raw(&format!("<{action}Response xmlns=\"{namespace}\">"));
    if let Some(r) = result {
        x.raw(&format!("<{action}Result>"));
        x.raw(r);
        x.raw(&format!("</{action}Result>"));
    }
    x.open("ResponseMetadata")
        .elem("RequestId", request_id)
        .close("ResponseMetadata");
    x.raw(&format!("</{action}Response>"));
    x.into_string()
}

/// The body of an error answer — the only place an [`ApiError`] becomes XML.
pub fn error_body(err: &ApiError, namespace: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.raw(&format!("<ErrorResponse xmlns=\"{namespace}\">"));
    x.open("Error")
        .elem("Type", err.fault.as_str())
        .elem("Code", err.code)
        .elem("Message", &err.message)
        .close("Error");
    x.elem("RequestId", request_id);
    x.raw("</ErrorResponse>");
    x.into_string()
}

/// ISO 8601 UTC with second precision, as AWS emits (`2020-05-31T05:11:05Z`).
pub fn timestamp(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => "1970-01-01T00:00:00Z".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        assert_eq!(
            escape("a\u{1}b\u{1b}c\u{FFFF}<"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}&lt;"
        );
        assert_eq!(escape("tab\tnl\ncr\r é 😀"), "tab\tnl\ncr&#13; é 😀");
        let mut x = Xml::new();
        x.elem("A", "x\u{0}y");
        assert!(
            quick_xml::Reader::from_str(&x.into_string())
                .read_event()
                .is_ok()
        );
    }

    #[test]
    fn envelope_and_escape() {
        let mut r = Xml::new();
        r.elem("Arn", "a<b&c");
        let body = success_body("GetCallerIdentity", "ns", Some(r.as_str()), "rid");
        assert_eq!(
            body,
            "<GetCallerIdentityResponse xmlns=\"ns\"><GetCallerIdentityResult><Arn>a&lt;b&amp;c</Arn></GetCallerIdentityResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        );
    }

    #[test]
    fn error_shape() {
        let e = ApiError::missing_authentication_token();
        let body = error_body(&e, "https://sts.amazonaws.com/doc/2011-06-15/", "r1");
        assert_eq!(
            body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code><Message>Request is missing Authentication Token</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(1_590_901_865), "2020-05-31T05:11:05Z");
    }
}
