//! Virtual MFA devices.
