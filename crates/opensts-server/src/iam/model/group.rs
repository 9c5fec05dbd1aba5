//! IAM groups.
