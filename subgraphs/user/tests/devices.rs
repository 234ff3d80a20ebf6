//! Device tokens (`domain::devices`): a sign-in hands one out, presenting it
//! again keeps the device, the owner lists and revokes devices, an account
//! keeps at most 20, and deletion takes them with it. On SQLite, and on
//! PostgreSQL when `DATABASE_URL` names one (CI's real-services pass).

mod common;

use fittrack_kit::ApiError;
use fittrack_user::domain::{accounts::Accounts, devices::MAX_DEVICES_PER_ACCOUNT};

fn email(what: &str) -> String {
    format!("{what}-{}@example.com", uuid::Uuid::new_v4().simple())
}

async fn devices_are_remembered_listed_revoked_and_bounded(accounts: Accounts) {
    let email = email("devices");
    let signed_up = accounts
        .register(common::registration(&email), "10.78.0.1")
        .await
        .map_err(ApiError::from)
        .expect("registered");
    let first = signed_up.device_token.expect("a device token at sign-up");
    let user = signed_up.user.id;

    // Presenting the token keeps the device; a sign-in without one adds one.
    let again = accounts
        .login(
            &email,
            common::PASSWORD.into(),
            "10.78.0.2",
            Some(&first),
            Some("Phone"),
        )
        .await
        .map_err(ApiError::from)
        .expect("signed in");
    assert_eq!(again.device_token.as_deref(), Some(first.as_str()));
    let laptop = accounts
        .login(
            &email,
            common::PASSWORD.into(),
            "10.78.0.3",
            None,
            Some(" Laptop "),
        )
        .await
        .map_err(ApiError::from)
        .expect("signed in");
    let laptop = laptop.device_token.expect("a new device");
    assert_ne!(laptop, first);
    let devices = accounts
        .devices(user)
        .await
        .map_err(ApiError::from)
        .expect("devices");
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["Laptop", "Unnamed device"], "most recent first");

    // A device of another account is not one of this account's.
    let other = accounts
        .register(common::registration(&self::email("other")), "10.78.0.4")
        .await
        .map_err(ApiError::from)
        .expect("registered");
    let mine = devices[0].id;
    let refused = accounts.revoke_device(other.user.id, mine).await;
    assert_eq!(
        ApiError::from(refused.expect_err("not theirs")).code(),
        fittrack_kit::ErrorCode::NotFound
    );
    let elsewhere = accounts
        .login(
            &email,
            common::PASSWORD.into(),
            "10.78.0.5",
            other.device_token.as_deref(),
            None,
        )
        .await
        .map_err(ApiError::from)
        .expect("signed in");
    assert_ne!(
        elsewhere.device_token, other.device_token,
        "not their device"
    );

    // Revoked, a token is unknown: the next sign-in with it is a new device.
    accounts
        .revoke_device(user, mine)
        .await
        .map_err(ApiError::from)
        .expect("revoked");
    let after = accounts
        .login(
            &email,
            common::PASSWORD.into(),
            "10.78.0.6",
            Some(&laptop),
            None,
        )
        .await
        .map_err(ApiError::from)
        .expect("signed in");
    assert_ne!(after.device_token.as_deref(), Some(laptop.as_str()));

    // However many sign-ins, the account keeps the 20 most recent devices.
    for round in 0..25 {
        accounts
            .login(
                &email,
                common::PASSWORD.into(),
                &format!("10.79.0.{}", round + 1),
                None,
                None,
            )
            .await
            .map_err(ApiError::from)
            .expect("signed in");
    }
    let devices = accounts
        .devices(user)
        .await
        .map_err(ApiError::from)
        .expect("devices");
    assert_eq!(devices.len() as u64, MAX_DEVICES_PER_ACCOUNT);

    // Deleting the account takes its devices with it.
    accounts
        .store()
        .delete_user(user, &email)
        .await
        .expect("deleted");
    let devices = accounts
        .devices(user)
        .await
        .map_err(ApiError::from)
        .expect("devices");
    assert!(devices.is_empty());
}

#[tokio::test]
async fn sqlite_devices() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("user.db").display());
    let db = fittrack_user::storage::connect(&url)
        .await
        .expect("database");
    devices_are_remembered_listed_revoked_and_bounded(common::accounts(db)).await;
}

#[tokio::test]
async fn postgres_devices() {
    let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
    else {
        eprintln!("postgres: DATABASE_URL not set; skipped");
        return;
    };
    let db = fittrack_user::storage::connect(&url)
        .await
        .expect("database");
    devices_are_remembered_listed_revoked_and_bounded(common::accounts(db)).await;
}
