//! IAM entities as stored documents, and helpers shared by the IAM actions.

pub mod model;
