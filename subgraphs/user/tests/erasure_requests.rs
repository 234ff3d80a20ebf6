//! Deleting an account asks every eraser for its erasure and records it as
//! owed by each until it settles; an admin's replay asks again, keeps the
//! first request's time and is audited. No eraser runs here, so what is owed
//! stays owed, as it does while an eraser is stuck.

mod common;

use std::sync::Arc;

use fittrack_kit::{
    erasure::{ErasedUsers, MemoryErasedUsers},
    events::ERASERS,
    queue::{memory::MemoryJobQueue, JobQueue},
    ApiError, CurrentUser, ErrorCode, Role,
};

#[tokio::test]
async fn a_deletion_is_owed_by_every_eraser_and_an_admin_replays_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = common::sqlite(&dir).await;
    let ledger = Arc::new(MemoryErasedUsers::default());
    let queues: Vec<(&'static str, Arc<dyn JobQueue>)> = ERASERS
        .iter()
        .map(|name| {
            let queue: Arc<dyn JobQueue> = Arc::new(MemoryJobQueue::new(name, Default::default()));
            (*name, queue)
        })
        .collect();
    let accounts = common::accounts(db)
        .with_erasure_marks(ledger.clone())
        .with_erasure_queues(queues.clone());
    let session = accounts
        .register(common::registration("ada@example.com"), "127.0.0.1")
        .await
        .map_err(ApiError::from)
        .expect("registered");
    let ada = common::caller(&session);
    accounts
        .delete_self(&ada, common::PASSWORD.into(), "127.0.0.1")
        .await
        .map_err(ApiError::from)
        .expect("deleted");

    let mut requested_at = Vec::new();
    for (name, queue) in &queues {
        let owed = ledger.outstanding(name, 10).await.expect("ledger");
        assert_eq!(owed.oldest.len(), 1, "{name}");
        assert_eq!(owed.oldest[0].0, ada.id, "{name}");
        requested_at.push(owed.oldest[0].1);
        assert_eq!(queue.stats().await.expect("stats").waiting, 1, "{name}");
    }

    let admin = CurrentUser {
        id: uuid::Uuid::now_v7(),
        roles: vec![Role::User, Role::Admin],
        ..ada.clone()
    };
    let code = |result: Result<usize, fittrack_user::domain::error::UserError>| {
        ApiError::from(result.expect_err("refused")).code()
    };
    assert_eq!(
        code(accounts.replay_erasure(&ada, ada.id, None).await),
        ErrorCode::Forbidden
    );
    let asked = accounts
        .replay_erasure(&admin, ada.id, Some("10.0.0.9".into()))
        .await
        .map_err(ApiError::from)
        .expect("replayed");
    assert_eq!(asked, 2);
    for ((name, queue), first) in queues.iter().zip(&requested_at) {
        let owed = ledger.outstanding(name, 10).await.expect("ledger");
        assert_eq!(
            owed.oldest,
            vec![(ada.id, *first)],
            "{name}: owed since the deletion"
        );
        assert_eq!(queue.stats().await.expect("stats").waiting, 2, "{name}");
    }
    let audit = accounts.store().pending_audit(10).await.expect("outbox");
    let replays: Vec<_> = audit
        .iter()
        .filter(|entry| entry.action == "REPLAY_ERASURE")
        .collect();
    assert_eq!(replays.len(), 1, "{audit:?}");
    assert_eq!(
        (replays[0].actor_id, replays[0].target_user_id),
        (Some(admin.id), Some(ada.id))
    );
    assert_eq!(replays[0].client_ip.as_deref(), Some("10.0.0.9"));

    // An account that exists is deleted, not replayed.
    let bob = accounts
        .register(common::registration("bob@example.com"), "127.0.0.1")
        .await
        .map_err(ApiError::from)
        .expect("registered");
    assert_eq!(
        code(accounts.replay_erasure(&admin, bob.user.id, None).await),
        ErrorCode::BadUserInput
    );
}
