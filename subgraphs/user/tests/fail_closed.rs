//! Security changes fail closed: when token revocations cannot be written
//! (Redis down), nothing changes and the caller is told to retry
//! (`SERVICE_UNAVAILABLE`), rather than the change taking effect while the
//! account's access tokens keep working.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fittrack_kit::{
    revocation::{RevocationState, Revocations},
    ApiError, ErrorCode,
};
use fittrack_user::domain::model::AccountStatus;
use uuid::Uuid;

struct Unreachable;

#[async_trait]
impl Revocations for Unreachable {
    async fn revoke_user(&self, _: Uuid, _: DateTime<Utc>) -> anyhow::Result<()> {
        anyhow::bail!("connection refused")
    }
    async fn revoke_session(&self, _: Uuid) -> anyhow::Result<()> {
        anyhow::bail!("connection refused")
    }
    async fn state(&self, _: Uuid, _: Uuid) -> anyhow::Result<RevocationState> {
        anyhow::bail!("connection refused")
    }
}

#[tokio::test]
async fn without_revocations_no_security_change_is_made() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = common::sqlite(&dir).await;
    let accounts = common::accounts(db).with_revocations(Arc::new(Unreachable));
    let session = accounts
        .register(common::registration("ada@example.com"), "127.0.0.1")
        .await
        .map_err(ApiError::from)
        .expect("registered");
    let id = session.user.id;
    let caller = common::caller(&session);
    let admin = fittrack_kit::CurrentUser {
        id: uuid::Uuid::now_v7(),
        roles: vec![fittrack_kit::Role::User, fittrack_kit::Role::Admin],
        ..caller.clone()
    };
    let unavailable = |result: Result<_, fittrack_user::domain::error::UserError>, what: &str| {
        let error = ApiError::from(
            result
                .err()
                .unwrap_or_else(|| panic!("{what} went through")),
        );
        assert_eq!(error.code(), ErrorCode::ServiceUnavailable, "{what}");
    };

    unavailable(
        accounts
            .deactivate_self(&caller, common::PASSWORD.into(), None, "127.0.0.1")
            .await
            .map(drop),
        "deactivation",
    );
    unavailable(
        accounts
            .moderate_status(&admin, id, AccountStatus::Banned, None, None, None)
            .await
            .map(drop),
        "a ban",
    );
    unavailable(
        accounts.logout(&session.refresh_token, None).await,
        "logout",
    );
    // Nothing changed: the account is active and its session still refreshes.
    let user = accounts
        .user(id)
        .await
        .map_err(ApiError::from)
        .expect("user");
    assert_eq!(user.account_status, AccountStatus::Active);
    accounts
        .refresh(&session.refresh_token)
        .await
        .map_err(ApiError::from)
        .expect("the session was not half-ended");
}
