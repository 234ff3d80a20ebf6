//! Daily plans and erasure: a deleted account gets no plan, and a plan written
//! while the account is being erased is undone (written first, checked after,
//! as every writer racing the eraser does).

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use async_trait::async_trait;
use chrono::Utc;
use fittrack_ai::{
    coach::Coach,
    domain::{error::AiError, plans::Planner},
    gemini::{GeminiClient, GeminiConfig},
    storage::{embedded::EmbeddedAiStore, AiStore},
};
use fittrack_kit::erasure::{ErasedUsers, MemoryErasedUsers};
use uuid::Uuid;

/// Says "not erased" to the first `until` questions, "erased" after: the
/// mark lands while the plan is being written.
struct MarkedDuringWrite {
    asked: AtomicUsize,
    until: usize,
}

#[async_trait]
impl ErasedUsers for MarkedDuringWrite {
    async fn mark(&self, _: Uuid) -> anyhow::Result<()> {
        Ok(())
    }
    async fn is_erased(&self, _: Uuid) -> anyhow::Result<bool> {
        Ok(self.asked.fetch_add(1, Ordering::SeqCst) >= self.until)
    }
    async fn owe(
        &self,
        _: Uuid,
        _: &[&str],
        _: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        Ok(())
    }
    async fn settle(&self, _: Uuid, _: &str) -> anyhow::Result<()> {
        Ok(())
    }
    async fn outstanding(
        &self,
        _: &str,
        _: usize,
    ) -> anyhow::Result<fittrack_kit::erasure::Outstanding> {
        Ok(Default::default())
    }
}

async fn store(dir: &tempfile::TempDir) -> Arc<dyn AiStore> {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ai.db").display());
    Arc::new(EmbeddedAiStore::open(&url).await.expect("store"))
}

fn rules_coach() -> Arc<Coach> {
    Arc::new(Coach::new(
        GeminiClient::new(GeminiConfig::default()).expect("client"),
    ))
}

#[tokio::test]
async fn a_deleted_account_gets_no_plan_and_a_racing_plan_is_undone() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let today = Utc::now().date_naive();

    // Unmarked: a plan is made and kept.
    let marks = Arc::new(MemoryErasedUsers::default());
    let planner = Planner::new(store.clone(), rules_coach(), marks.clone());
    let kept = Uuid::new_v4();
    planner
        .plan_for(kept, today, None, false)
        .await
        .map_err(fittrack_kit::ApiError::from)
        .expect("a plan");
    assert!(store.daily_plan(kept, today).await.expect("read").is_some());

    // Marked before: refused, nothing written.
    let gone = Uuid::new_v4();
    marks.mark(gone).await.expect("mark");
    let refused = planner.plan_for(gone, today, None, false).await;
    assert!(matches!(refused, Err(AiError::AccountDeleted)));
    assert!(store.daily_plan(gone, today).await.expect("read").is_none());

    // Marked while the plan was written: refused, and the plan is undone.
    let racing = Planner::new(
        store.clone(),
        rules_coach(),
        Arc::new(MarkedDuringWrite {
            asked: AtomicUsize::new(0),
            until: 1,
        }),
    );
    let erased_meanwhile = Uuid::new_v4();
    let refused = racing.plan_for(erased_meanwhile, today, None, false).await;
    assert!(matches!(refused, Err(AiError::AccountDeleted)));
    assert!(store
        .daily_plan(erased_meanwhile, today)
        .await
        .expect("read")
        .is_none());
}
