//! Test-only crate: see tests/compat.rs.
