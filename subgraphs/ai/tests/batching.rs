//! `Activity.recommendation` and `User.recommendations` cost one store query
//! per request level, whatever the number of references.

mod support;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use chrono::NaiveDate;
use fittrack_ai::{
    bus::LocalBus,
    coach::Coach,
    domain::model::{ActivitySummary, DailyPlan, Recommendation},
    gemini::{GeminiClient, GeminiConfig},
    graphql::{build_schema_with, AiContext},
    storage::{embedded::EmbeddedAiStore, AiStore, Intake, RecommendationCursor, Saved},
};
use fittrack_kit::{
    queue::{memory::MemoryJobQueue, QueueOptions},
    CurrentUser, Role,
};
use serde_json::json;
use uuid::Uuid;

/// Counts the queries the resolvers make.
struct Counting {
    inner: EmbeddedAiStore,
    calls: AtomicU64,
}

impl Counting {
    fn hit(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl AiStore for Counting {
    async fn take_in_activity(&self, a: &ActivitySummary, n: usize) -> anyhow::Result<Intake> {
        self.inner.take_in_activity(a, n).await
    }
    async fn forget_activity(&self, id: Uuid) -> anyhow::Result<bool> {
        self.inner.forget_activity(id).await
    }
    async fn recent_activities(&self, u: Uuid, n: usize) -> anyhow::Result<Vec<ActivitySummary>> {
        self.hit();
        self.inner.recent_activities(u, n).await
    }
    async fn save_recommendation(
        &self,
        r: Recommendation,
    ) -> anyhow::Result<Option<Saved<Recommendation>>> {
        self.inner.save_recommendation(r).await
    }
    async fn recommendations_for_activities(
        &self,
        ids: &[Uuid],
    ) -> anyhow::Result<Vec<Recommendation>> {
        self.hit();
        self.inner.recommendations_for_activities(ids).await
    }
    async fn recommendations_page(
        &self,
        u: Uuid,
        after: Option<RecommendationCursor>,
        n: usize,
    ) -> anyhow::Result<Vec<Recommendation>> {
        self.hit();
        self.inner.recommendations_page(u, after, n).await
    }
    async fn first_recommendation_pages(
        &self,
        users: &[Uuid],
        n: usize,
    ) -> anyhow::Result<HashMap<Uuid, Vec<Recommendation>>> {
        self.hit();
        self.inner.first_recommendation_pages(users, n).await
    }
    async fn daily_plan(&self, u: Uuid, d: NaiveDate) -> anyhow::Result<Option<DailyPlan>> {
        self.hit();
        self.inner.daily_plan(u, d).await
    }
    async fn save_daily_plan(
        &self,
        p: DailyPlan,
        replace: bool,
    ) -> anyhow::Result<Saved<DailyPlan>> {
        self.inner.save_daily_plan(p, replace).await
    }
    async fn daily_plans_page(
        &self,
        u: Uuid,
        before: Option<NaiveDate>,
        n: usize,
    ) -> anyhow::Result<Vec<DailyPlan>> {
        self.hit();
        self.inner.daily_plans_page(u, before, n).await
    }
    async fn forget_user(&self, u: Uuid) -> anyhow::Result<()> {
        self.inner.forget_user(u).await
    }
    async fn recommendation_counts(
        &self,
    ) -> anyhow::Result<HashMap<fittrack_ai::domain::model::Source, i64>> {
        self.inner.recommendation_counts().await
    }
    async fn ping(&self) -> anyhow::Result<()> {
        self.inner.ping().await
    }
}

#[tokio::test]
async fn joins_cost_one_query_per_level_for_1_10_and_100_references() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("ai.db").display());
    let store = Arc::new(Counting {
        inner: EmbeddedAiStore::open(&url).await.expect("store"),
        calls: AtomicU64::new(0),
    });
    let context = AiContext {
        metrics: fittrack_kit::metrics::Metrics::new("ai"),
        store: store.clone(),
        coach: Arc::new(Coach::new(
            GeminiClient::new(GeminiConfig::default()).expect("client"),
        )),
        bus: Arc::new(LocalBus::default()),
        queue: Arc::new(MemoryJobQueue::new("batching", QueueOptions::default())),
        dashboard: fittrack_kit::cache::local_dashboard(),
        breakers: fittrack_ai::breakers::BreakerBoard::local(),
        erased: fittrack_kit::erasure::MemoryErasedUsers::shared(),
    };
    // What is counted is queries per batch, not how fast a cold debug build
    // resolves 200 representations: a window no machine outruns.
    let schema = build_schema_with(context, std::time::Duration::from_millis(200));

    let mut pairs = Vec::new();
    for _ in 0..100 {
        let (user, activity) = (Uuid::new_v4(), Uuid::new_v4());
        store
            .save_recommendation(Recommendation {
                activity_id: activity,
                ..support::recommendation(user)
            })
            .await
            .expect("save");
        pairs.push((user, activity));
    }
    let admin = CurrentUser {
        id: Uuid::new_v4(),
        email: "root@example.com".into(),
        roles: vec![Role::Admin],
        issued_at_ms: 0,
        session_id: Uuid::new_v4(),
        expires_at: i64::MAX,
    };
    let query = "query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Activity { recommendation { summary } } ... on User { recommendations(first: 3) { edges { node { id } } } } } }";
    let mut counts = Vec::new();
    for n in [1usize, 10, 100] {
        let mut reps = Vec::new();
        for (user, activity) in &pairs[..n] {
            reps.push(json!({"__typename": "Activity", "id": activity}));
            reps.push(json!({"__typename": "User", "id": user}));
        }
        store.calls.store(0, Ordering::SeqCst);
        let response = schema
            .execute(
                async_graphql::Request::new(query)
                    .variables(async_graphql::Variables::from_json(json!({"reps": reps})))
                    .data(admin.clone()),
            )
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().expect("json");
        let entities = data["_entities"].as_array().expect("list");
        assert_eq!(entities.len(), 2 * n);
        assert!(entities
            .iter()
            .step_by(2)
            .all(|a| a["recommendation"]["summary"] == "s"));
        assert!(entities
            .iter()
            .skip(1)
            .step_by(2)
            .all(|u| u["recommendations"]["edges"].as_array().map(Vec::len) == Some(1)));
        counts.push(store.calls.load(Ordering::SeqCst));
    }
    // One query for the activities' recommendations, one for the users' pages.
    assert_eq!(
        counts,
        vec![2, 2, 2],
        "store queries for 1/10/100 references"
    );
}
