//! IAM entities as stored documents, and helpers shared by the IAM actions.

pub mod aws_managed;
pub mod mfa;
pub mod model;
