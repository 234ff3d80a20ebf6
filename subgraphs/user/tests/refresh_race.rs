//! A refresh that races the end of its session never outlives it: whichever
//! comes first, once a logout (or a password change ending the other
//! sessions) has returned, the refresh token the race may have handed out is
//! refused. Run many times on SQLite, and on PostgreSQL when `DATABASE_URL`
//! names one (CI's real-services pass).

mod common;

use std::sync::Arc;

use fittrack_kit::{CurrentUser, Role};
use fittrack_user::domain::{accounts::Accounts, error::UserError};
use tokio::sync::Barrier;

const ROUNDS: usize = 40;

async fn accounts_on(url: &str) -> Arc<Accounts> {
    let db = fittrack_user::storage::connect(url)
        .await
        .expect("database");
    Arc::new(common::accounts(db))
}

fn email(what: &str) -> String {
    format!("{what}-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// `round`'s own address, so that sign-ins stay under the per-address limit.
fn address(round: usize) -> String {
    format!("10.77.{}.{}", round / 200, round % 200 + 1)
}

async fn refresh_never_outlives_logout(accounts: Arc<Accounts>) {
    let email = email("race");
    accounts
        .register(common::registration(&email), "10.76.0.1")
        .await
        .map_err(fittrack_kit::ApiError::from)
        .expect("registered");
    let mut survived = 0;
    for round in 0..ROUNDS {
        let session = accounts
            .login(&email, common::PASSWORD.into(), &address(round), None, None)
            .await
            .map_err(fittrack_kit::ApiError::from)
            .expect("signed in");
        let token = session.refresh_token;
        let start = Arc::new(Barrier::new(2));
        let refresh = tokio::spawn({
            let (accounts, token, start) = (accounts.clone(), token.clone(), start.clone());
            async move {
                start.wait().await;
                accounts.refresh(&token).await
            }
        });
        let logout = tokio::spawn({
            let (accounts, start) = (accounts.clone(), start.clone());
            async move {
                start.wait().await;
                accounts.logout(&token, None).await
            }
        });
        let refreshed = refresh.await.expect("refresh task");
        logout
            .await
            .expect("logout task")
            .map_err(fittrack_kit::ApiError::from)
            .expect("logged out");
        if let Ok(next) = refreshed {
            survived += 1;
            assert!(
                matches!(
                    accounts.refresh(&next.refresh_token).await,
                    Err(UserError::InvalidRefreshToken)
                ),
                "round {round}: a token rotated during logout still works after it"
            );
        }
    }
    eprintln!("{survived} of {ROUNDS} refreshes finished before their logout");
}

async fn refresh_never_outlives_a_password_change(accounts: Arc<Accounts>) {
    let email = email("race-pw");
    let mut password = common::PASSWORD.to_owned();
    accounts
        .register(common::registration(&email), "10.76.0.2")
        .await
        .map_err(fittrack_kit::ApiError::from)
        .expect("registered");
    for round in 0..ROUNDS / 4 {
        // Two devices: the change is made on one, the other one's session ends.
        let here = accounts
            .login(&email, password.clone(), &address(round), None, None)
            .await
            .map_err(fittrack_kit::ApiError::from)
            .expect("signed in here");
        let other = accounts
            .login(&email, password.clone(), &address(round), None, None)
            .await
            .map_err(fittrack_kit::ApiError::from)
            .expect("signed in elsewhere");
        let (_, claims) = decode(&here.access_token);
        let caller = CurrentUser {
            id: here.user.id,
            email: email.clone(),
            roles: vec![Role::User],
            issued_at_ms: claims["iat"].as_i64().expect("iat") * 1000,
            session_id: claims["sid"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("sid"),
            expires_at: claims["exp"].as_i64().expect("exp"),
        };
        let new_password = format!("{password}-{round}");
        let start = Arc::new(Barrier::new(2));
        let refresh = tokio::spawn({
            let (accounts, token, start) = (accounts.clone(), other.refresh_token, start.clone());
            async move {
                start.wait().await;
                accounts.refresh(&token).await
            }
        });
        let change = tokio::spawn({
            let (accounts, start, current, new) = (
                accounts.clone(),
                start.clone(),
                password.clone(),
                new_password.clone(),
            );
            let address = address(round);
            async move {
                start.wait().await;
                accounts
                    .change_password(&caller, current, new, &address)
                    .await
                    .map(drop)
            }
        });
        let refreshed = refresh.await.expect("refresh task");
        change
            .await
            .expect("change task")
            .map_err(fittrack_kit::ApiError::from)
            .expect("password changed");
        password = new_password;
        if let Ok(next) = refreshed {
            assert!(
                matches!(
                    accounts.refresh(&next.refresh_token).await,
                    Err(UserError::InvalidRefreshToken)
                ),
                "round {round}: a token rotated during a password change still works after it"
            );
        }
    }
}

fn decode(token: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let mut parts = token.split('.');
    let mut part = || -> serde_json::Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(parts.next().expect("part"))
                .expect("b64"),
        )
        .expect("json")
    };
    (part(), part())
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join("user.db").display())
}

fn postgres_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refresh_never_outlives_logout() {
    let dir = tempfile::tempdir().expect("temp dir");
    refresh_never_outlives_logout(accounts_on(&sqlite_url(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refresh_never_outlives_a_password_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    refresh_never_outlives_a_password_change(accounts_on(&sqlite_url(&dir)).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refresh_never_outlives_logout() {
    let Some(url) = postgres_url() else {
        eprintln!("postgres: DATABASE_URL not set; skipped");
        return;
    };
    refresh_never_outlives_logout(accounts_on(&url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refresh_never_outlives_a_password_change() {
    let Some(url) = postgres_url() else {
        eprintln!("postgres: DATABASE_URL not set; skipped");
        return;
    };
    refresh_never_outlives_a_password_change(accounts_on(&url).await).await;
}
