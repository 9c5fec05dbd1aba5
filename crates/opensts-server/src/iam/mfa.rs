//! Virtual MFA devices as the rest of the server uses them: serial numbers, the sealed TOTP
//! seed, and [`verify_mfa_code`] for the MFA checks of GetSessionToken and AssumeRole.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};
use crate::iam::model::{KIND_MFA, MfaDeviceDoc, mfa_seed_aad};
use crate::state::AppState;

/// Scope of the one-time claims that make each accepted code single-use across nodes.
pub const MFA_CLAIM_SCOPE: &str = "mfa";
/// How long an accepted code's time step stays claimed (longer than its ±1 step window).
pub const MFA_CLAIM_SECS: i64 = 300;
/// Time steps of clock drift accepted on either side when checking one code.
pub const MFA_SKEW_STEPS: u64 = 1;

/// `(path, name)` of a virtual MFA device serial number of `account`
/// (`arn:aws:iam::<account>:mfa/<path><name>`). `None` for anything else (hardware serials,
/// other accounts, malformed ARNs).
pub fn parse_serial<'a>(account: &str, serial: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = serial.strip_prefix("arn:")?;
    let rest = rest.strip_prefix(opensts_core::arn::PARTITION)?;
    let rest = rest.strip_prefix(":iam::")?;
    let rest = rest.strip_prefix(account)?;
    let path_and_name = rest.strip_prefix(":mfa")?;
    if !path_and_name.starts_with('/') {
        return None;
    }
    let cut = path_and_name.rfind('/')? + 1;
    let (path, name) = path_and_name.split_at(cut);
    (!name.is_empty()).then_some((path, name))
}

/// The device with this serial number in `account`, with its store version.
pub async fn load_device(
    state: &AppState,
    account: &str,
    serial: &str,
) -> ApiResult<Option<(MfaDeviceDoc, i64)>> {
    let Some((_, name)) = parse_serial(account, serial) else {
        return Ok(None);
    };
    let Some(e) = state.store.get_entity(account, KIND_MFA, name).await? else {
        return Ok(None);
    };
    let doc: MfaDeviceDoc = serde_json::from_value(e.doc).map_err(|err| {
        tracing::error!(error = %err, "corrupt MFA device document");
        ApiError::internal()
    })?;
    // Names are unique case-insensitively; the serial must match exactly (path included).
    if doc.serial(account) != serial {
        return Ok(None);
    }
    Ok(Some((doc, e.version)))
}

/// Seal a new seed for storage (base64 of the master-key ciphertext, bound to the device).
pub fn seal_seed(state: &AppState, account: &str, serial: &str, seed: &[u8]) -> ApiResult<String> {
    let sealed = state
        .master_key
        .seal(seed, &mfa_seed_aad(account, serial))
        .map_err(|_| ApiError::internal())?;
    Ok(STANDARD.encode(sealed))
}

/// The plaintext seed of a device.
pub fn open_seed(
    state: &AppState,
    account: &str,
    doc: &MfaDeviceDoc,
) -> ApiResult<Zeroizing<Vec<u8>>> {
    let serial = doc.serial(account);
    let sealed = STANDARD.decode(&doc.seed_sealed).map_err(|_| {
        tracing::error!(serial = %serial, "corrupt sealed MFA seed");
        ApiError::internal()
    })?;
    state
        .master_key
        .open(&sealed, &mfa_seed_aad(account, &serial))
        .map_err(|_| {
            tracing::error!(serial = %serial, "cannot unseal MFA seed (wrong master key?)");
            ApiError::internal()
        })
}

/// Check an MFA code (`TokenCode`) for `serial`: the virtual device must exist in `account`
/// and be enabled — for `user_name` when given (compared case-insensitively), for any user
/// otherwise — and `code` must be the TOTP code of the current time step ±1. Each code is
/// accepted once: a step at or before the one used to enable/resync the device is refused,
/// and the accepted step is claimed in the store (`claim_once`), so a replay is refused on
/// every node. `Ok(false)` for every refusal; `Err` only when the store or the seed fails.
pub async fn verify_mfa_code(
    state: &AppState,
    account: &str,
    user_name: Option<&str>,
    serial: &str,
    code: &str,
    now: i64,
) -> ApiResult<bool> {
    let Some((dev, _)) = load_device(state, account, serial).await? else {
        return Ok(false);
    };
    let Some(owner) = dev.user_name.as_deref() else {
        return Ok(false);
    };
    if user_name.is_some_and(|u| !u.eq_ignore_ascii_case(owner)) {
        return Ok(false);
    }
    let seed = open_seed(state, account, &dev)?;
    let Some(step) = opensts_core::totp::verify_totp(&seed, code, now, MFA_SKEW_STEPS) else {
        return Ok(false);
    };
    if dev.last_used_step.is_some_and(|last| step <= last) {
        return Ok(false);
    }
    // A code from before an OS crash that may have lost its claim (see
    // `Store::claims_uncertain_until`): codes are accepted up to MFA_SKEW_STEPS steps ahead.
    let step_start = i64::try_from(step)
        .unwrap_or(i64::MAX)
        .saturating_mul(opensts_core::totp::TIME_STEP);
    let skew = i64::try_from(MFA_SKEW_STEPS)
        .unwrap_or(i64::MAX)
        .saturating_mul(opensts_core::totp::TIME_STEP);
    if state.issued_before_claims_horizon(step_start, skew) {
        return Ok(false);
    }
    let claimed = state
        .store
        .claim_once(
            MFA_CLAIM_SCOPE,
            &format!("{account}/{serial}/{step}"),
            now.saturating_add(MFA_CLAIM_SECS),
            now,
        )
        .await?;
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    use std::sync::Arc;

    use opensts_core::totp::{time_step, totp_code_at_step};
    use opensts_store::{Expect, Write};

    use crate::state::ManualClock;

    const ACCOUNT: &str = "111122223333";
    const NOW: i64 = 1_800_000_000;

    async fn put_device(state: &AppState, doc: &MfaDeviceDoc) {
        let write = Write::PutEntity {
            kind: KIND_MFA.to_string(),
            name: doc.name.clone(),
            doc: serde_json::to_value(doc).unwrap(),
            expect: Expect::Any,
        };
        state.store.apply(ACCOUNT, &[write], NOW).await.unwrap();
    }

    /// After a machine crash that may have lost claims (a claim horizon on the SQLite store),
    /// codes of the steps up to the horizon plus the accepted skew are refused; later ones
    /// are accepted.
    #[tokio::test]
    async fn codes_from_before_a_claim_horizon_are_refused() {
        if std::fs::read_to_string("/proc/sys/kernel/random/boot_id").is_err() {
            eprintln!("SKIPPED: no boot id on this system (claims are always fsynced)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        {
            let store = opensts_store::SqliteStore::open_path(dir.path().join("opensts.db"))
                .await
                .unwrap();
            opensts_store::Store::migrate(&store).await.unwrap();
            opensts_store::Store::put_setting(
                &store,
                opensts_store::sqlite::CLAIMS_HORIZON_SETTING,
                &NOW.to_string(),
            )
            .await
            .unwrap();
            store.close().await;
        }
        let mut config = crate::Config::for_data_dir(dir.path());
        config.account_id = Some(ACCOUNT.into());
        let clock = Arc::new(ManualClock::new(NOW + 10));
        let app = crate::Application::build_with_clock(config, clock.clone())
            .await
            .unwrap();
        let state = app.state();
        assert_eq!(state.store.claims_uncertain_until(), Some(NOW));
        let seed = opensts_core::totp::new_seed();
        let serial = opensts_core::arn::mfa_arn(ACCOUNT, "/", "dev");
        let doc = MfaDeviceDoc {
            name: "dev".into(),
            path: "/".into(),
            create_date: NOW,
            seed_sealed: seal_seed(&state, ACCOUNT, &serial, &seed).unwrap(),
            tags: vec![],
            user_name: Some("alice".into()),
            enable_date: Some(NOW),
            last_used_step: None,
        };
        put_device(&state, &doc).await;
        let at = |t: i64| totp_code_at_step(&seed, time_step(t));
        // Issued (its step began) before the horizon + one step of skew: refused.
        let early = at(NOW + 10);
        assert!(
            !verify_mfa_code(&state, ACCOUNT, Some("alice"), &serial, &early, NOW + 10)
                .await
                .unwrap()
        );
        // Two steps later, a fresh code is accepted (once).
        let later = NOW + 3 * opensts_core::totp::TIME_STEP;
        let code = at(later);
        assert!(
            verify_mfa_code(&state, ACCOUNT, Some("alice"), &serial, &code, later)
                .await
                .unwrap()
        );
        assert!(
            !verify_mfa_code(&state, ACCOUNT, Some("alice"), &serial, &code, later)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn codes_are_checked_once_for_the_right_user() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::Config::for_data_dir(dir.path());
        config.account_id = Some(ACCOUNT.into());
        let app = crate::Application::build_with_clock(config, Arc::new(ManualClock::new(NOW)))
            .await
            .unwrap();
        let state = app.state();
        let seed = opensts_core::totp::new_seed();
        let serial = opensts_core::arn::mfa_arn(ACCOUNT, "/p/", "dev");
        let step = time_step(NOW);
        let mut doc = MfaDeviceDoc {
            name: "dev".into(),
            path: "/p/".into(),
            create_date: NOW,
            seed_sealed: seal_seed(&state, ACCOUNT, &serial, &seed).unwrap(),
            tags: vec![],
            user_name: None,
            enable_date: None,
            last_used_step: Some(step - 1),
        };
        // The sealed seed is bound to the serial number.
        assert!(
            state
                .master_key
                .open(
                    &STANDARD.decode(&doc.seed_sealed).unwrap(),
                    &mfa_seed_aad(ACCOUNT, "arn:aws:iam::111122223333:mfa/dev")
                )
                .is_err()
        );
        put_device(&state, &doc).await;
        let now_code = totp_code_at_step(&seed, step);
        let verify = |user: Option<&'static str>, serial: String, code: String| {
            let state = state.clone();
            async move {
                verify_mfa_code(&state, ACCOUNT, user, &serial, &code, NOW)
                    .await
                    .unwrap()
            }
        };
        // Not enabled: refused.
        assert!(!verify(Some("alice"), serial.clone(), now_code.clone()).await);
        doc.user_name = Some("Alice".into());
        doc.enable_date = Some(NOW);
        put_device(&state, &doc).await;
        // Another user, another serial, a wrong code: refused (and nothing claimed).
        assert!(!verify(Some("bob"), serial.clone(), now_code.clone()).await);
        let other = opensts_core::arn::mfa_arn(ACCOUNT, "/", "dev");
        assert!(!verify(Some("alice"), other, now_code.clone()).await);
        let wrong = if now_code == "000000" {
            "000001"
        } else {
            "000000"
        };
        assert!(!verify(Some("alice"), serial.clone(), wrong.to_string()).await);
        // The step used when enabling is refused.
        let prev = totp_code_at_step(&seed, step - 1);
        if prev != now_code {
            assert!(!verify(Some("alice"), serial.clone(), prev).await);
        }
        // The right code, once (user compared case-insensitively; any user with None).
        assert!(verify(Some("alice"), serial.clone(), now_code.clone()).await);
        assert!(!verify(Some("alice"), serial.clone(), now_code.clone()).await);
        assert!(!verify(None, serial.clone(), now_code).await);
        let next = totp_code_at_step(&seed, step + 1);
        assert!(verify(None, serial.clone(), next).await);
    }

    #[test]
    fn serials() {
        let a = "123456789012";
        assert_eq!(
            parse_serial(a, "arn:aws:iam::123456789012:mfa/dev"),
            Some(("/", "dev"))
        );
        assert_eq!(
            parse_serial(a, "arn:aws:iam::123456789012:mfa/a/b/dev"),
            Some(("/a/b/", "dev"))
        );
        assert_eq!(parse_serial(a, "arn:aws:iam::123456789012:mfa/"), None);
        assert_eq!(parse_serial(a, "arn:aws:iam::123456789012:mfadev"), None);
        assert_eq!(parse_serial(a, "arn:aws:iam::210987654321:mfa/dev"), None);
        assert_eq!(parse_serial(a, "GAHT12345678"), None);
    }
}
