//! IAM roles.
