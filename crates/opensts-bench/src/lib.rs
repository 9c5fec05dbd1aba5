//! The OpenSTS benchmark: a load generator that signs real SigV4 requests over keep-alive
//! HTTP/1.1 connections ([`client`], [`run`]), a SAML IdP that signs a fresh assertion per
//! request ([`saml`]), latency statistics ([`stats`]) and the bare-hyper ceiling server used as
//! the reference ([`ceiling`]). Driven by `scripts/bench`; see `docs/performance.md`.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod ceiling;
pub mod client;
pub mod run;
pub mod saml;
pub mod setup;
pub mod stats;

/// Errors of the load generator: a message for the operator (setup failed, server unreachable).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The text of the first `<name>…</name>` element in `xml` (no unescaping: ids, keys, tokens).
pub fn xml_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml.get(start..)?.find(&close)?;
    xml.get(start..start + len)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_finds_first_element() {
        let x = "<R><Arn>arn:aws:iam::1:user/a</Arn><Arn>b</Arn></R>";
        assert_eq!(xml_text(x, "Arn"), Some("arn:aws:iam::1:user/a"));
        assert_eq!(xml_text(x, "Code"), None);
    }
}
