//! URI and query canonicalization (non-S3 rules, as botocore applies them).
//!
//! * Canonical URI: the raw path exactly as received is normalized (dot segments removed,
//!   empty segments dropped: botocore's `remove_dot_segments`) and then percent-encoded once
//!   more, leaving only `A-Z a-z 0-9 - _ . ~ /` as is. Because the path on the wire is already
//!   percent-encoded, this is AWS's "double encoding" for non-S3 services.
//! * Canonical query: every `&`-separated pair is split at the first `=`, key and value are
//!   decoded (`%XX`, and `+` as a space, like every form decoder) and re-encoded with RFC 3986
//!   rules (space becomes `%20`), then sorted by key and value.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

/// Everything but RFC 3986 unreserved characters is encoded.
pub(crate) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Path encoding keeps `/`.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// The name of the signature parameter, excluded from a presigned request's canonical query.
pub(crate) const X_AMZ_SIGNATURE: &str = "X-Amz-Signature";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// RFC 3986 percent-encoding of arbitrary bytes (uppercase hex, space as `%20`).
pub(crate) fn encode_rfc3986(bytes: &[u8]) -> Cow<'_, str> {
    percent_encode(bytes, UNRESERVED).into()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Form-style decoding of one query key or value: `+` is a space, `%XX` a byte; a `%` that
/// does not start a valid escape is kept literally.
pub(crate) fn query_decode(raw: &str) -> Cow<'_, [u8]> {
    let b = raw.as_bytes();
    if !b.iter().any(|&c| c == b'%' || c == b'+') {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                match (
                    b.get(i + 1).copied().and_then(hex_val),
                    b.get(i + 2).copied().and_then(hex_val),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// Decoded query component as text (invalid UTF-8 replaced; only used for parameter values
/// the parser needs to read, never for canonicalization).
pub(crate) fn query_decode_str(raw: &str) -> Cow<'_, str> {
    match query_decode(raw) {
        Cow::Borrowed(_) => Cow::Borrowed(raw),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// Canonical form of one query key or value: decode, then RFC 3986 encode.
pub(crate) fn canonical_component(raw: &str) -> Cow<'_, str> {
    if raw.bytes().all(is_unreserved) {
        return Cow::Borrowed(raw);
    }
    match query_decode(raw) {
        Cow::Borrowed(b) => encode_rfc3986(b),
        Cow::Owned(v) => Cow::Owned(encode_rfc3986(&v).into_owned()),
    }
}

/// The raw `(key, value)` pairs of a query string; empty segments (`a=1&&b=2`) are skipped and
/// a segment without `=` has an empty value.
pub(crate) fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|seg| match seg.find('=') {
            Some(i) => (&seg[..i], &seg[i + 1..]),
            None => (seg, ""),
        })
}

/// Append the canonical query string to `out`. With `skip_signature`, `X-Amz-Signature`
/// pairs (compared after decoding) are left out, as for presigned requests.
pub(crate) fn write_canonical_query(out: &mut Vec<u8>, query: &str, skip_signature: bool) {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
    for (k, v) in raw_pairs(query) {
        let key = canonical_component(k);
        if skip_signature && key == X_AMZ_SIGNATURE {
            continue;
        }
        pairs.push((key, canonical_component(v)));
    }
    pairs.sort_unstable();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_bytes());
    }
}

/// botocore's `remove_dot_segments`: drops empty and `.` segments, resolves `..`, keeps a
/// leading and (when anything is left) a trailing `/`. An empty result becomes `/`.
pub(crate) fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    let needs_work = !path.starts_with('/')
        || path.contains("//")
        || path.split('/').any(|seg| seg == "." || seg == "..");
    if !needs_work {
        return Cow::Borrowed(path);
    }
    let mut segs: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push('/');
    }
    out.push_str(&segs.join("/"));
    if path.ends_with('/') && !segs.is_empty() {
        out.push('/');
    }
    if out.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

/// Append the canonical URI of a raw request path.
pub(crate) fn write_canonical_uri(out: &mut Vec<u8>, path: &str) {
    let normalized = normalize_path(path);
    for chunk in percent_encode(normalized.as_bytes(), PATH) {
        out.extend_from_slice(chunk.as_bytes());
    }
}

/// Append the S3 canonical URI of a raw request path: the path exactly as received (S3 neither
/// normalizes nor encodes it again); an empty path is `/`.
pub(crate) fn write_s3_canonical_uri(out: &mut Vec<u8>, path: &str) {
    if path.is_empty() {
        out.push(b'/');
    } else {
        out.extend_from_slice(path.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(p: &str) -> String {
        let mut v = Vec::new();
        write_canonical_uri(&mut v, p);
        String::from_utf8(v).unwrap_or_default()
    }

    fn cq(q: &str, skip: bool) -> String {
        let mut v = Vec::new();
        write_canonical_query(&mut v, q, skip);
        String::from_utf8(v).unwrap_or_default()
    }

    #[test]
    fn paths() {
        assert_eq!(uri(""), "/");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("//example//"), "/example/");
        assert_eq!(uri("/example1/example2/../.."), "/");
        assert_eq!(uri("/example/.."), "/");
        assert_eq!(uri("/./"), "/");
        assert_eq!(uri("/./example"), "/example");
        assert_eq!(uri("/example space/"), "/example%20space/");
        assert_eq!(uri("/\u{1234}"), "/%E1%88%B4");
        // Already-encoded paths are encoded again (non-S3 double encoding).
        assert_eq!(uri("/a%20b/c%3Ad"), "/a%2520b/c%253Ad");
        assert_eq!(uri("/-._~AZaz09"), "/-._~AZaz09");
        assert_eq!(uri("/a+b*c"), "/a%2Bb%2Ac");
        assert_eq!(uri("/../../a"), "/a");
    }

    #[test]
    fn s3_paths_are_used_as_received() {
        let s3 = |p: &str| {
            let mut v = Vec::new();
            write_s3_canonical_uri(&mut v, p);
            String::from_utf8(v).unwrap_or_default()
        };
        assert_eq!(s3(""), "/");
        assert_eq!(s3("/"), "/");
        assert_eq!(s3("/bucket/a%20b//c/../d"), "/bucket/a%20b//c/../d");
    }

    #[test]
    fn decode() {
        assert_eq!(&*query_decode("a+b%20c%2Bd"), b"a b c+d");
        assert_eq!(&*query_decode("%"), b"%");
        assert_eq!(&*query_decode("%4"), b"%4");
        assert_eq!(&*query_decode("%zz%41"), b"%zzA");
        assert_eq!(&*query_decode("%e1%88%b4"), "\u{1234}".as_bytes());
        assert_eq!(&*query_decode("%FF"), &[0xFF_u8][..]);
        assert_eq!(query_decode_str("a%2Fb"), "a/b");
    }

    #[test]
    fn queries() {
        assert_eq!(cq("", false), "");
        assert_eq!(
            cq("Param2=value2&Param1=value1", false),
            "Param1=value1&Param2=value2"
        );
        assert_eq!(
            cq("Param1=value2&Param1=Value1", false),
            "Param1=Value1&Param1=value2"
        );
        assert_eq!(cq("b&a=", false), "a=&b=");
        assert_eq!(cq("a=1&&b=2&", false), "a=1&b=2");
        assert_eq!(cq("k=a b", false), "k=a%20b");
        assert_eq!(cq("k=a+b", false), "k=a%20b");
        assert_eq!(cq("k=a%2Bb", false), "k=a%2Bb");
        assert_eq!(cq("k=a%2bb%2f", false), "k=a%2Bb%2F");
        assert_eq!(cq("k=x==", false), "k=x%3D%3D");
        assert_eq!(cq("\u{1234}=bar", false), "%E1%88%B4=bar");
        assert_eq!(cq("k=%zz", false), "k=%25zz");
        assert_eq!(
            cq("X-Amz-Signature=abc&X-Amz-Date=1&X-Amz-%53ignature=d", true),
            "X-Amz-Date=1"
        );
        assert_eq!(
            cq("X-Amz-Signature=abc&X-Amz-Date=1", false),
            "X-Amz-Date=1&X-Amz-Signature=abc"
        );
        // Sorting is by encoded key, then encoded value (byte order).
        assert_eq!(cq("a=b&A=c&a-=d&a=%20", false), "A=c&a=%20&a=b&a-=d");
    }
}
