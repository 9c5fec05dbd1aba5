//! `xs:dateTime` → Unix seconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::SamlError;

/// Parse a SAML time value. SAML requires UTC ("Z"); an explicit offset is honoured, and a
/// value with no zone at all is read as UTC. Fractional seconds are truncated.
pub(crate) fn parse_instant(value: &str) -> Result<i64, SamlError> {
    let v = value.trim_matches(crate::xml::is_xml_ws);
    let has_zone = v.ends_with('Z')
        || v.ends_with('z')
        || v.rsplit_once('T')
            .is_some_and(|(_, t)| t.contains('+') || t.contains('-'));
    let owned;
    let text = if has_zone {
        v
    } else {
        owned = format!("{v}Z");
        owned.as_str()
    };
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| SamlError::Malformed("invalid dateTime".into()))
}

#[cfg(test)]
mod tests {
    use super::parse_instant;

    #[test]
    fn parses_saml_times() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_instant("2030-01-01T00:00:00.123Z"), Ok(1_893_456_000));
        assert_eq!(parse_instant("2030-01-01T00:00:00"), Ok(1_893_456_000));
        assert_eq!(
            parse_instant("2030-01-01T01:00:00+01:00"),
            Ok(1_893_456_000)
        );
        assert!(parse_instant("2030-01-01").is_err());
        assert!(parse_instant("yesterday").is_err());
    }
}
