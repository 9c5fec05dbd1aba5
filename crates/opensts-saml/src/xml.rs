//! Parsing with limits, namespace constants and strict tree helpers.
//!
//! Everything here compares elements by (namespace URI, local name), never by prefix.

use std::collections::HashSet;

use roxmltree::{Document, Node, NodeType, ParsingOptions};

use crate::error::SamlError;

pub(crate) const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub(crate) const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(crate) const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
pub(crate) const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
pub(crate) const NS_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub(crate) const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
pub(crate) const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub(crate) const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Limits applied after parsing (roxmltree parses iteratively; its node limit is applied while
/// parsing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub nodes: u32,
    pub depth: usize,
    pub attributes_per_element: usize,
}

/// Limits for a SAML Response (at most 75,000 bytes of XML).
pub(crate) const RESPONSE_LIMITS: Limits = Limits {
    nodes: 30_000,
    depth: 48,
    attributes_per_element: 64,
};
/// Limits for metadata documents (up to 10,000,000 characters).
pub(crate) const METADATA_LIMITS: Limits = Limits {
    nodes: 2_000_000,
    depth: 64,
    attributes_per_element: 128,
};

/// Parse once, refusing DTDs, and check the limits.
pub(crate) fn parse(text: &str, limits: Limits) -> Result<Document<'_>, SamlError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // roxmltree refuses DTDs by default; detect them first for a precise error. A DOCTYPE can
    // only appear in the prolog, so a plain scan is enough (a false positive inside a comment
    // or text only refuses more).
    if text.contains("<!DOCTYPE") || text.contains("<!ENTITY") {
        return Err(SamlError::Dtd);
    }
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.nodes,
        ..Default::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => SamlError::Dtd,
        roxmltree::Error::NodesLimitReached => SamlError::LimitExceeded("nodes"),
        other => SamlError::Malformed(other.to_string()),
    })?;
    check_limits(&doc, limits)?;
    Ok(doc)
}

fn check_limits(doc: &Document<'_>, limits: Limits) -> Result<(), SamlError> {
    // Iterative depth computation (no recursion on untrusted input).
    let mut stack: Vec<(Node<'_, '_>, usize)> = vec![(doc.root(), 0)];
    while let Some((node, depth)) = stack.pop() {
        if depth > limits.depth {
            return Err(SamlError::LimitExceeded("depth"));
        }
        if node.is_element() && node.attributes().len() > limits.attributes_per_element {
            return Err(SamlError::LimitExceeded("attributes per element"));
        }
        for child in node.children().filter(|c| c.is_element()) {
            stack.push((child, depth + 1));
        }
    }
    Ok(())
}

pub(crate) fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == local
}

/// Element children with this (namespace, local name).
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> + use<'a, 'i> {
    node.children().filter(move |c| is(*c, ns, local))
}

/// Exactly one element child with this name, else `Malformed`/`Structure`.
pub(crate) fn one_child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> Result<Node<'a, 'i>, SamlError> {
    let mut it = children(node, ns, local);
    let first = it
        .next()
        .ok_or_else(|| SamlError::Malformed(format!("missing {local}")))?;
    if it.next().is_some() {
        return Err(SamlError::Structure(format!("more than one {local}")));
    }
    Ok(first)
}

/// At most one element child with this name.
pub(crate) fn opt_child<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> Result<Option<Node<'a, 'i>>, SamlError> {
    let mut it = children(node, ns, local);
    let first = it.next();
    if first.is_some() && it.next().is_some() {
        return Err(SamlError::Structure(format!("more than one {local}")));
    }
    Ok(first)
}

/// The text of an element that must contain only text (text and CDATA, which roxmltree
/// merges into text nodes). Comments, processing instructions and child elements are refused:
/// canonicalization drops comments, so `a<!---->b` would be signed as `ab` while a careless
/// reader sees `a`; refusing them removes the question.
pub(crate) fn text_only(node: Node<'_, '_>) -> Result<String, SamlError> {
    let mut out = String::new();
    for child in node.children() {
        match child.node_type() {
            NodeType::Text => out.push_str(child.text().unwrap_or_default()),
            _ => return Err(SamlError::MixedContent(node.tag_name().name().to_string())),
        }
    }
    Ok(out)
}

/// Text with XML whitespace trimmed (for URIs, IDs, base64 …).
pub(crate) fn trimmed_text(node: Node<'_, '_>) -> Result<String, SamlError> {
    Ok(text_only(node)?.trim_matches(is_xml_ws).to_string())
}

pub(crate) fn is_xml_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A required no-namespace attribute.
pub(crate) fn req_attr<'a>(node: Node<'a, '_>, name: &'static str) -> Result<&'a str, SamlError> {
    node.attribute(name)
        .ok_or_else(|| SamlError::Malformed(format!("{} without {name}", node.tag_name().name())))
}

/// Element-only content: every child is an element, a comment, or whitespace text.
pub(crate) fn element_only(node: Node<'_, '_>) -> Result<(), SamlError> {
    for child in node.children() {
        match child.node_type() {
            NodeType::Element | NodeType::Comment => {}
            NodeType::Text => {
                if !child.text().unwrap_or_default().chars().all(is_xml_ws) {
                    return Err(SamlError::Structure(format!(
                        "text inside <{}>",
                        node.tag_name().name()
                    )));
                }
            }
            _ => {
                return Err(SamlError::Structure(format!(
                    "processing instruction inside <{}>",
                    node.tag_name().name()
                )));
            }
        }
    }
    Ok(())
}

/// Attribute names treated as XML IDs when looking for duplicates. A SAML processor only
/// resolves `ID` on the SAML elements, but other tools resolve `Id`/`id`/`xml:id`/`AssertionID`
/// too, so any duplicate value among them is refused.
const ID_NAMES: [&str; 4] = ["ID", "Id", "id", "AssertionID"];

/// Refuse duplicate ID values anywhere in the document (XSW with a copied ID).
pub(crate) fn reject_duplicate_ids(doc: &Document<'_>) -> Result<(), SamlError> {
    let mut seen: HashSet<&str> = HashSet::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes() {
            let is_id = match attr.namespace() {
                None => ID_NAMES.contains(&attr.name()),
                Some(NS_XML) => attr.name() == "id",
                // wsu:Id and friends
                Some(_) => attr.name() == "Id" || attr.name() == "ID",
            };
            if is_id && !seen.insert(attr.value()) {
                return Err(SamlError::Structure("duplicate ID".to_string()));
            }
        }
    }
    Ok(())
}

/// The qualified name of an element as written in the source (prefix needed by C14N).
pub(crate) fn element_qname<'i>(node: Node<'_, 'i>) -> &'i str {
    let input = node.document().input_text();
    let start = node.range().start + 1; // skip '<'
    let rest = input.get(start..).unwrap_or_default();
    let end = rest
        .find(|c: char| is_xml_ws(c) || c == '/' || c == '>')
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

pub(crate) fn prefix_of(qname: &str) -> Option<&str> {
    qname.split_once(':').map(|(p, _)| p)
}
