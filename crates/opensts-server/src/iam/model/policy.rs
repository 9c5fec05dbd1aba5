//! Managed policies and their versions.
