//! The audit outbox is delivered by the user subgraph itself: an entry is
//! marked delivered only when the log answers that it holds it, and every
//! entry goes out signed with the token key.

mod common;

use std::sync::{Arc, Mutex};

use fittrack_kit::{ApiError, CurrentUser, Role};
use fittrack_user::domain::{model::AccountStatus, ports::AuditLogSink};
use uuid::Uuid;

/// A log that holds only the entries it is told to (or none, when away).
#[derive(Default)]
struct PartialLog {
    refuse: Mutex<Vec<Uuid>>,
    away: Mutex<bool>,
    seen: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl AuditLogSink for PartialLog {
    async fn record(&self, signed: &[String]) -> anyhow::Result<Vec<Uuid>> {
        if *self.away.lock().expect("lock") {
            anyhow::bail!("connection refused");
        }
        self.seen
            .lock()
            .expect("lock")
            .extend(signed.iter().cloned());
        let refuse = self.refuse.lock().expect("lock").clone();
        Ok(signed
            .iter()
            .filter_map(|jws| {
                let (_, claims) = jws.split_once('.')?;
                let claims = claims.split('.').next()?;
                use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
                let claims: serde_json::Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
                claims["id"].as_str()?.parse().ok()
            })
            .filter(|id| !refuse.contains(id))
            .collect())
    }
}

#[tokio::test]
async fn entries_are_marked_delivered_only_once_the_log_holds_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("user.db").display());
    let db = fittrack_user::storage::connect(&url)
        .await
        .expect("database");
    let accounts = common::accounts(db);
    let target = accounts
        .register(common::registration("target@example.com"), "10.80.0.1")
        .await
        .map_err(ApiError::from)
        .expect("registered")
        .user
        .id;
    let admin = CurrentUser {
        id: Uuid::now_v7(),
        email: "admin@example.com".into(),
        roles: vec![Role::User, Role::Admin],
        issued_at_ms: 0,
        session_id: Uuid::now_v7(),
        expires_at: 0,
    };
    let (_, banned) = accounts
        .moderate_status(&admin, target, AccountStatus::Banned, None, None, None)
        .await
        .map_err(ApiError::from)
        .expect("banned");
    let (_, back) = accounts
        .moderate_status(&admin, target, AccountStatus::Active, None, None, None)
        .await
        .map_err(ApiError::from)
        .expect("reactivated");
    let pending = || async { accounts.store().pending_audit(10).await.expect("outbox") };
    assert_eq!(pending().await.len(), 2);

    // The log is away: nothing is marked.
    let log = Arc::new(PartialLog::default());
    *log.away.lock().expect("lock") = true;
    assert!(accounts.deliver_audit(log.as_ref(), 10).await.is_err());
    assert_eq!(pending().await.len(), 2);

    // The log holds one of the two: only that one is marked.
    *log.away.lock().expect("lock") = false;
    log.refuse.lock().expect("lock").push(back.id);
    assert!(accounts.deliver_audit(log.as_ref(), 10).await.is_err());
    let waiting: Vec<Uuid> = pending().await.iter().map(|r| r.id).collect();
    assert_eq!(waiting, [back.id]);
    assert!(!waiting.contains(&banned.id));

    // Then both; every entry went out signed (a JWS of our type).
    log.refuse.lock().expect("lock").clear();
    assert_eq!(
        accounts
            .deliver_audit(log.as_ref(), 10)
            .await
            .expect("delivered"),
        1
    );
    assert!(pending().await.is_empty());
    for jws in log.seen.lock().expect("lock").iter() {
        let header = jsonwebtoken::decode_header(jws).expect("a JWS");
        assert_eq!(
            header.typ.as_deref(),
            Some(fittrack_kit::audit::SIGNED_AUDIT_RECORD)
        );
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    }
}
