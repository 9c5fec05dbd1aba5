//! Exclusive XML Canonicalization 1.0 (without comments), for the one profile XML-DSig over SAML
//! needs: the subtree of one element (the "apex"), optionally minus one enveloped `Signature`
//! element, with an optional `InclusiveNamespaces` PrefixList.
//!
//! Input normalisation (line endings, attribute-value normalisation, character and predefined
//! entity references, CDATA) is done by roxmltree; DTDs are refused before we get here, so there
//! are no default attributes or custom entities.
//!
//! Rules implemented (W3C xml-exc-c14n, RFC 3741):
//! - a namespace declaration is output on an element when its prefix is visibly utilized by the
//!   element (its own prefix, or the default namespace for an unprefixed element; prefixes of
//!   its attributes) or listed in the PrefixList, and the nearest output ancestor did not already
//!   render the same prefix with the same URI; `xmlns=""` when an unprefixed element is in no
//!   namespace but a non-empty default was rendered above;
//! - the `xml` prefix is never declared; `xml:*` attributes are not inherited;
//! - namespace declarations sorted by prefix (default first), attributes by (namespace URI,
//!   local name) with no-namespace attributes first;
//! - text escapes `& < > #xD`, attribute values `& < " #x9 #xA #xD`, always double quotes;
//! - empty elements as start and end tag, comments dropped, processing instructions kept.

use roxmltree::{Node, NodeId, NodeType};

use crate::error::SamlError;
use crate::xml::{element_qname, prefix_of};

/// Namespace declarations rendered by output ancestors: (prefix, uri), `None` = default.
type Rendered<'a> = Vec<(Option<&'a str>, &'a str)>;

/// Parsed `InclusiveNamespaces/@PrefixList`: `None` stands for `#default`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PrefixList(pub Vec<Option<String>>);

impl PrefixList {
    pub(crate) fn parse(list: &str) -> PrefixList {
        PrefixList(
            list.split(crate::xml::is_xml_ws)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    if s == "#default" {
                        None
                    } else {
                        Some(s.to_string())
                    }
                })
                .collect(),
        )
    }
}

/// Canonicalize the subtree rooted at `apex`, leaving out the element `exclude` (and its
/// subtree) if given.
pub(crate) fn exclusive(
    apex: Node<'_, '_>,
    exclude: Option<NodeId>,
    prefixes: &PrefixList,
) -> Result<Vec<u8>, SamlError> {
    if !apex.is_element() {
        return Err(SamlError::Structure(
            "canonicalization apex is not an element".into(),
        ));
    }
    let mut out = Vec::with_capacity(4096);
    let mut rendered: Rendered<'_> = Vec::new();
    element(apex, exclude, prefixes, &mut rendered, &mut out)?;
    Ok(out)
}

fn lookup_rendered<'a>(rendered: &Rendered<'a>, prefix: Option<&str>) -> &'a str {
    rendered
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map(|(_, u)| *u)
        .unwrap_or("")
}

/// In-scope URI for a prefix (`None` = default namespace; "" when none is in scope).
fn in_scope<'a>(node: Node<'a, '_>, prefix: Option<&str>) -> Option<&'a str> {
    node.namespaces()
        .find(|ns| ns.name() == prefix)
        .map(|ns| ns.uri())
}

fn is_relative_uri(uri: &str) -> bool {
    match uri.find(':') {
        None => true,
        Some(colon) => uri[..colon].contains(['/', '?', '#']) || colon == 0,
    }
}

fn element<'a>(
    node: Node<'a, '_>,
    exclude: Option<NodeId>,
    prefixes: &PrefixList,
    rendered: &mut Rendered<'a>,
    out: &mut Vec<u8>,
) -> Result<(), SamlError> {
    let qname = element_qname(node);
    let local = node.tag_name().name();
    let el_prefix = prefix_of(qname);
    if qname_mismatch(qname, el_prefix, local) {
        return Err(SamlError::Structure("element name not understood".into()));
    }

    // Namespace declarations to consider: visibly utilized + PrefixList.
    let mut wanted: Vec<(Option<&'a str>, &'a str)> = Vec::new();
    let doc_input = node.document().input_text();
    // The element's own prefix (or the default namespace).
    let el_uri = match el_prefix {
        Some(p) => in_scope(node, Some(p))
            .ok_or_else(|| SamlError::Malformed("undeclared prefix".into()))?,
        None => node.tag_name().namespace().unwrap_or(""),
    };
    wanted.push((el_prefix, el_uri));
    // Attributes: collect (uri, local, qname, value) and their prefixes.
    let mut attrs: Vec<(&'a str, &'a str, &'a str, &'a str)> = Vec::new();
    for attr in node.attributes() {
        let range = attr.range_qname();
        let aq = doc_input.get(range).unwrap_or_default();
        let ap = prefix_of(aq);
        if qname_mismatch(aq, ap, attr.name()) {
            return Err(SamlError::Structure("attribute name not understood".into()));
        }
        let uri = attr.namespace().unwrap_or("");
        if let Some(p) = ap
            && p != "xml"
        {
            let decl = node
                .namespaces()
                .find(|ns| ns.name() == Some(p))
                .ok_or_else(|| SamlError::Malformed("undeclared prefix".into()))?;
            wanted.push((decl.name(), decl.uri()));
        }
        attrs.push((uri, attr.name(), aq, attr.value()));
    }
    for p in &prefixes.0 {
        match p {
            None => wanted.push((None, in_scope(node, None).unwrap_or(""))),
            Some(p) if p == "xml" => {}
            Some(p) => {
                if let Some(ns) = node.namespaces().find(|ns| ns.name() == Some(p.as_str())) {
                    wanted.push((ns.name(), ns.uri()));
                }
            }
        }
    }
    // Default namespace (None) first, then by prefix; no prefix is empty.
    wanted.sort_by(|a, b| a.0.unwrap_or("").cmp(b.0.unwrap_or("")));
    wanted.dedup_by(|a, b| a.0 == b.0);

    let mark = rendered.len();
    out.push(b'<');
    out.extend_from_slice(qname.as_bytes());
    for (prefix, uri) in wanted {
        if lookup_rendered(rendered, prefix) == uri {
            continue;
        }
        if !uri.is_empty() && is_relative_uri(uri) {
            return Err(SamlError::Structure("relative namespace URI".into()));
        }
        match prefix {
            None => out.extend_from_slice(b" xmlns=\""),
            Some(p) => {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(b"=\"");
            }
        }
        escape_attr(uri, out);
        out.push(b'"');
        rendered.push((prefix, uri));
    }
    attrs.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(b.1)));
    for (_, _, aq, value) in attrs {
        out.push(b' ');
        out.extend_from_slice(aq.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attr(value, out);
        out.push(b'"');
    }
    out.push(b'>');

    for child in node.children() {
        match child.node_type() {
            NodeType::Element => {
                if Some(child.id()) != exclude {
                    element(child, exclude, prefixes, rendered, out)?;
                }
            }
            NodeType::Text => escape_text(child.text().unwrap_or_default(), out),
            NodeType::PI => {
                if let Some(pi) = child.pi() {
                    out.extend_from_slice(b"<?");
                    out.extend_from_slice(pi.target.as_bytes());
                    if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                        out.push(b' ');
                        out.extend_from_slice(v.as_bytes());
                    }
                    out.extend_from_slice(b"?>");
                }
            }
            NodeType::Comment | NodeType::Root => {}
        }
    }

    out.extend_from_slice(b"</");
    out.extend_from_slice(qname.as_bytes());
    out.push(b'>');
    rendered.truncate(mark);
    Ok(())
}

/// True when the source qname does not spell `prefix:local` / `local` (guards against
/// roxmltree's u16 range limits on absurdly long names).
fn qname_mismatch(qname: &str, prefix: Option<&str>, local: &str) -> bool {
    match prefix {
        None => qname != local,
        Some(p) => qname.len() != p.len() + 1 + local.len() || !qname.ends_with(local),
    }
}

fn escape_text(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

fn escape_attr(s: &str, out: &mut Vec<u8>) {
    for b in s.bytes() {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            _ => out.push(b),
        }
    }
}

/// Canonicalize (exclusive C14N, without comments) the first element named `local` in
/// namespace `ns` of `xml`, in document order. A test and tooling helper: the same code path
/// as signature verification, with the same parser limits.
pub fn exclusive_c14n_of_element(
    xml: &str,
    ns: Option<&str>,
    local: &str,
    inclusive_prefixes: &str,
) -> Result<String, SamlError> {
    let doc = crate::xml::parse(xml, crate::xml::RESPONSE_LIMITS)?;
    let node = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().namespace() == ns && n.tag_name().name() == local)
        .ok_or_else(|| SamlError::Malformed(format!("no element {local}")))?;
    let bytes = exclusive(node, None, &PrefixList::parse(inclusive_prefixes))?;
    String::from_utf8(bytes).map_err(|_| SamlError::Malformed("not UTF-8".into()))
}
