//! Virtual MFA devices, stored under kind [`KIND_MFA`] keyed by the device name (unique in
//! the account whatever its path). The serial number is the device ARN,
//! `arn:aws:iam::<account>:mfa/<path><name>`.

use serde::{Deserialize, Serialize};

use super::Tag;

/// Entity kind of virtual MFA devices in the store.
pub const KIND_MFA: &str = "mfa";

/// A virtual MFA device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaDeviceDoc {
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    pub create_date: i64,
    /// The TOTP seed sealed by the master key (standard base64), bound by its associated
    /// data to the account and serial number ([`mfa_seed_aad`]). Never stored in plaintext.
    pub seed_sealed: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// The user the device is enabled for (as spelled in the user document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_date: Option<i64>,
    /// The latest TOTP time step accepted by EnableMFADevice / ResyncMFADevice; codes of this
    /// step or earlier are refused afterwards (no replay of the enabling codes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_step: Option<u64>,
}

impl MfaDeviceDoc {
    /// The serial number (device ARN).
    pub fn serial(&self, account_id: &str) -> String {
        opensts_core::arn::mfa_arn(account_id, &self.path, &self.name)
    }
}

/// Associated data binding a sealed TOTP seed to its account and device.
pub fn mfa_seed_aad(account_id: &str, serial: &str) -> Vec<u8> {
    format!("opensts:mfa-seed:{account_id}:{serial}").into_bytes()
}
