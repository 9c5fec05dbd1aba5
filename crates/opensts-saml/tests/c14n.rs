//! Exclusive C14N: the W3C xml-exc-c14n (RFC 3741 §2) examples, with the expected output
//! written from the specification text, and lxml's output recorded by tests/fixtures/gen.py.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use opensts_saml::exclusive_c14n_of_element;
use serde_json::Value;

#[test]
fn w3c_section_2_1_simple_example() {
    let xml = "<n0:pdu xmlns:n0=\"http://a.example\">\n<n1:elem1 xmlns:n1=\"http://b.example\">\n\
               content\n</n1:elem1>\n</n0:pdu>";
    let out = exclusive_c14n_of_element(xml, Some("http://b.example"), "elem1", "").expect("c14n");
    assert_eq!(
        out,
        "<n1:elem1 xmlns:n1=\"http://b.example\">\ncontent\n</n1:elem1>"
    );
}

#[test]
fn w3c_section_2_2_same_octets_in_both_contexts() {
    let first = "<n0:local xmlns:n0=\"foo:bar\" xmlns:n3=\"ftp://example.org\">\n  \
                 <n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     \
                 <n3:stuff xmlns:n3=\"ftp://example.org\"/>\n  </n1:elem2>\n</n0:local>";
    let second = "<n2:pdu xmlns:n1=\"http://example.com\" xmlns:n2=\"http://foo.example\" \
                  xml:lang=\"fr\" xml:space=\"retain\">\n  \
                  <n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     \
                  <n3:stuff xmlns:n3=\"ftp://example.org\"/>\n  </n1:elem2>\n</n2:pdu>";
    let expected = "<n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     \
                    <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>";
    for xml in [first, second] {
        let out =
            exclusive_c14n_of_element(xml, Some("http://example.net"), "elem2", "").expect("c14n");
        assert_eq!(out, expected);
    }
    // With n2 in the PrefixList, the second context renders it (InclusiveNamespaces).
    let out =
        exclusive_c14n_of_element(second, Some("http://example.net"), "elem2", "n2").expect("c14n");
    assert!(out.starts_with(
        "<n1:elem2 xmlns:n1=\"http://example.net\" xmlns:n2=\"http://foo.example\" xml:lang=\"en\">"
    ));
}

#[test]
fn dtd_and_relative_namespaces_refused() {
    assert!(exclusive_c14n_of_element("<!DOCTYPE e []><e/>", None, "e", "").is_err());
    assert!(
        exclusive_c14n_of_element("<p:e xmlns:p=\"rel/ative\"/>", Some("rel/ative"), "e", "")
            .is_err()
    );
}

#[test]
fn matches_lxml() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/c14n_cases.json");
    let data: Value =
        serde_json::from_slice(&std::fs::read(path).expect("c14n_cases.json")).expect("json");
    let mut failures = Vec::new();
    let cases = data["cases"].as_array().expect("cases");
    assert!(cases.len() >= 10);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let xml = case["xml"].as_str().expect("xml");
        let ns = case["ns"].as_str();
        let local = case["local"].as_str().expect("local");
        let prefixes = case["prefixes"].as_str().expect("prefixes");
        let want = case["lxml"].as_str().expect("lxml");
        match exclusive_c14n_of_element(xml, ns, local, prefixes) {
            Ok(got) if got == want => {}
            other => failures.push(format!("{name}:\n  lxml: {want:?}\n  ours: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
