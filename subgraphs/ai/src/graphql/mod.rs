//! The AI subgraph's GraphQL API: recommendations, daily plans, the live
//! subscription, federation joins onto `Activity` and `User`, admin dead letters.

pub mod platform;
mod types;

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_graphql::{
    connection::{Connection, Edge, EmptyFields},
    dataloader::{DataLoader, Loader},
    ComplexObject, Context, MergedObject, Object, Schema, Subscription, ID,
};
use chrono::{NaiveDate, Utc};
use fittrack_kit::{
    auth::{Authenticated, ContextAuthExt, RoleGuard},
    queue::JobQueue,
    ApiError, Role,
};
use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use crate::{
    bus::RecommendationBus,
    coach::Coach,
    domain::{
        error::AiError,
        model::{DailyPlan, Recommendation},
    },
    storage::{AiStore, RecommendationCursor},
};
pub use types::*;

pub const MAX_PAGE: usize = 100;
pub const DEFAULT_PAGE: usize = 20;
/// How long dataloaders gather keys before one batched store query.
pub const LOADER_DELAY: Duration = Duration::from_millis(5);

pub type RecommendationConnection =
    Connection<String, RecommendationObject, EmptyFields, EmptyFields>;
pub type DailyPlanConnection = Connection<String, DailyPlanObject, EmptyFields, EmptyFields>;

/// What resolvers need, shared by the API and the worker.
#[derive(Clone)]
pub struct AiContext {
    pub store: Arc<dyn AiStore>,
    pub coach: Arc<Coach>,
    pub bus: Arc<dyn RecommendationBus>,
    /// The activity event queue (dead letters live there).
    pub queue: Arc<dyn JobQueue>,
    /// This subgraph's part of the admin dashboard, cached 60 s.
    pub dashboard: platform::AiStatsCache,
    /// Breaker states reported by every process calling Gemini.
    pub breakers: Arc<crate::breakers::BreakerBoard>,
    /// Deleted users (kit::erasure): the worker undoes work done for them.
    pub erased: Arc<dyn fittrack_kit::erasure::ErasedUsers>,
}

fn page_size(first: Option<i32>) -> Result<usize, AiError> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n < 0 => Err(AiError::invalid("first", "must not be negative")),
        Some(n) => Ok((n as usize).min(MAX_PAGE)),
    }
}

fn internal(error: Arc<anyhow::Error>) -> ApiError {
    ApiError::from_shared(&error)
}

fn recommendation_connection(
    mut items: Vec<Recommendation>,
    limit: usize,
    has_previous: bool,
) -> RecommendationConnection {
    let has_next = items.len() > limit;
    items.truncate(limit);
    let mut connection = Connection::new(has_previous, has_next);
    connection.edges.extend(items.into_iter().map(|r| {
        Edge::new(
            fittrack_kit::cursor::encode(r.created_at, r.id),
            RecommendationObject::from(r),
        )
    }));
    connection
}

fn decode_cursor(after: Option<&str>) -> Result<Option<RecommendationCursor>, AiError> {
    after
        .map(|text| {
            fittrack_kit::cursor::decode(text)
                .map(|(created_at, id)| RecommendationCursor { created_at, id })
                .ok_or_else(|| AiError::invalid("after", "is not a cursor returned by this API"))
        })
        .transpose()
}

/// Recommendations by activity id.
pub struct RecommendationLoader(Arc<dyn AiStore>);

impl Loader<Uuid> for RecommendationLoader {
    type Value = Recommendation;
    type Error = Arc<anyhow::Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Recommendation>, Self::Error> {
        let found = self
            .0
            .recommendations_for_activities(keys)
            .await
            .map_err(Arc::new)?;
        Ok(found.into_iter().map(|r| (r.activity_id, r)).collect())
    }
}

/// First pages of recommendations by (user, page size).
pub struct UserRecommendationsLoader(Arc<dyn AiStore>);

impl Loader<(Uuid, usize)> for UserRecommendationsLoader {
    type Value = Vec<Recommendation>;
    type Error = Arc<anyhow::Error>;

    async fn load(
        &self,
        keys: &[(Uuid, usize)],
    ) -> Result<HashMap<(Uuid, usize), Vec<Recommendation>>, Self::Error> {
        let mut by_size: HashMap<usize, Vec<Uuid>> = HashMap::new();
        for (user, size) in keys {
            by_size.entry(*size).or_default().push(*user);
        }
        let mut out = HashMap::new();
        for (size, users) in by_size {
            let mut pages = self
                .0
                .first_recommendation_pages(&users, size + 1)
                .await
                .map_err(Arc::new)?;
            for user in users {
                out.insert((user, size), pages.remove(&user).unwrap_or_default());
            }
        }
        Ok(out)
    }
}

#[derive(Default)]
pub struct RecommendationQuery;

#[Object]
impl RecommendationQuery {
    /// The recommendation for one of your activities (admins: anyone's); null
    /// while it is being written.
    #[graphql(guard = "Authenticated")]
    async fn recommendation(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
    ) -> async_graphql::Result<Option<RecommendationObject>> {
        let viewer = ctx.current_user()?;
        let Ok(activity_id) = Uuid::parse_str(&activity_id) else {
            return Ok(None);
        };
        let found = ctx
            .data::<DataLoader<RecommendationLoader>>()?
            .load_one(activity_id)
            .await
            .map_err(internal)?;
        Ok(found
            .filter(|r| viewer.may_access(r.user_id))
            .map(Into::into))
    }

    /// Your recommendations, newest first.
    #[graphql(
        guard = "Authenticated",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn my_recommendations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<RecommendationConnection> {
        let viewer = ctx.current_user()?;
        let limit = page_size(first)?;
        let after = decode_cursor(after.as_deref())?;
        let items = ctx
            .data::<AiContext>()?
            .store
            .recommendations_page(viewer.id, after, limit + 1)
            .await
            .map_err(ApiError::from)?;
        Ok(recommendation_connection(items, limit, after.is_some()))
    }

    /// Your plan for `date`, if one was generated.
    #[graphql(guard = "Authenticated")]
    async fn daily_plan(
        &self,
        ctx: &Context<'_>,
        date: NaiveDate,
    ) -> async_graphql::Result<Option<DailyPlanObject>> {
        let viewer = ctx.current_user()?;
        let plan = ctx
            .data::<AiContext>()?
            .store
            .daily_plan(viewer.id, date)
            .await
            .map_err(ApiError::from)?;
        Ok(plan.map(Into::into))
    }

    /// Your plans, newest date first.
    #[graphql(
        guard = "Authenticated",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn daily_plans(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<DailyPlanConnection> {
        let viewer = ctx.current_user()?;
        let limit = page_size(first)?;
        let before = after
            .as_deref()
            .map(|text| {
                text.parse::<NaiveDate>()
                    .map_err(|_| AiError::invalid("after", "is not a cursor returned by this API"))
            })
            .transpose()?;
        let mut plans = ctx
            .data::<AiContext>()?
            .store
            .daily_plans_page(viewer.id, before, limit + 1)
            .await
            .map_err(ApiError::from)?;
        let has_next = plans.len() > limit;
        plans.truncate(limit);
        let mut connection = Connection::new(before.is_some(), has_next);
        connection.edges.extend(
            plans
                .into_iter()
                .map(|p| Edge::new(p.date.to_string(), DailyPlanObject::from(p))),
        );
        Ok(connection)
    }

    /// Jobs the worker gave up on, oldest first. Admins only.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::list_size::apply(
            None,
            Some(vec!["first".into()]),
            None,
            Some(false)
        )
    )]
    async fn dead_letters(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<DeadLetter>> {
        let limit = page_size(first)?;
        let letters = ctx
            .data::<AiContext>()?
            .queue
            .dead_letters(limit)
            .await
            .map_err(ApiError::from)?;
        Ok(letters.into_iter().map(Into::into).collect())
    }

    /// Federation: `Activity` references gain `recommendation`.
    #[graphql(entity)]
    async fn find_activity_by_id(&self, id: ID) -> ActivityRef {
        ActivityRef { id }
    }

    /// Federation: `User` references gain `recommendations`.
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> UserRef {
        UserRef { id }
    }
}

#[ComplexObject]
impl ActivityRef {
    /// The coaching for this activity (owner or admin); null until written.
    async fn recommendation(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<RecommendationObject>> {
        let Some(viewer) = ctx.current_user_opt() else {
            return Ok(None);
        };
        let Ok(activity_id) = Uuid::parse_str(&self.id) else {
            return Ok(None);
        };
        let found = ctx
            .data::<DataLoader<RecommendationLoader>>()?
            .load_one(activity_id)
            .await
            .map_err(internal)?;
        Ok(found
            .filter(|r| viewer.may_access(r.user_id))
            .map(Into::into))
    }
}

#[ComplexObject]
impl UserRef {
    /// This user's recommendations, newest first (the user themself or an admin).
    #[graphql(
        complexity = "fittrack_kit::schema::page_complexity(first, child_complexity)",
        directive = fittrack_kit::schema::connection_size::apply()
    )]
    async fn recommendations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<RecommendationConnection> {
        let viewer = ctx.current_user()?;
        let user_id = Uuid::parse_str(&self.id).map_err(|_| AiError::NotFound("User"))?;
        if !viewer.may_access(user_id) {
            return Err(ApiError::forbidden().into());
        }
        let limit = page_size(first)?;
        if let Some(after) = decode_cursor(after.as_deref())? {
            let items = ctx
                .data::<AiContext>()?
                .store
                .recommendations_page(user_id, Some(after), limit + 1)
                .await
                .map_err(ApiError::from)?;
            return Ok(recommendation_connection(items, limit, true));
        }
        let items = ctx
            .data::<DataLoader<UserRecommendationsLoader>>()?
            .load_one((user_id, limit))
            .await
            .map_err(internal)?
            .unwrap_or_default();
        Ok(recommendation_connection(items, limit, false))
    }
}

#[derive(Default)]
pub struct PlanMutation;

#[Object]
impl PlanMutation {
    /// Your plan for `date`: the stored one, unless `regenerate`. Written by
    /// Gemini, or by the rules when Gemini is unavailable.
    #[graphql(
        guard = "Authenticated",
        directive = fittrack_kit::schema::cost::apply(50)
    )]
    async fn generate_daily_plan(
        &self,
        ctx: &Context<'_>,
        date: NaiveDate,
        goal: Option<String>,
        // Nullable (absent = false): a `Boolean!` with a default rejects the null
        // that an unset nullable variable becomes on its way through the router.
        regenerate: Option<bool>,
    ) -> async_graphql::Result<DailyPlanObject> {
        let regenerate = regenerate.unwrap_or(false);
        let viewer = ctx.current_user()?;
        let goal = goal.map(|g| g.trim().to_owned()).filter(|g| !g.is_empty());
        if goal.as_ref().is_some_and(|g| g.chars().count() > 200) {
            return Err(AiError::invalid("goal", "must be at most 200 characters").into());
        }
        let today = Utc::now().date_naive();
        if (date - today).num_days().abs() > 366 {
            return Err(AiError::invalid("date", "must be within a year of today").into());
        }
        let ai = ctx.data::<AiContext>()?;
        // Counted before anything is read or generated: aliases count too.
        if let Err(limit) = ai
            .coach
            .admit_plan(viewer.id)
            .await
            .map_err(ApiError::from)?
        {
            return Err(AiError::RateLimited(limit.retry_after_secs).into());
        }
        if !regenerate {
            if let Some(plan) = ai
                .store
                .daily_plan(viewer.id, date)
                .await
                .map_err(ApiError::from)?
            {
                return Ok(plan.into());
            }
        }
        let history = ai
            .store
            .recent_activities(viewer.id, crate::worker::HISTORY_FOR_PROMPT)
            .await
            .map_err(ApiError::from)?;
        let (source, content) = ai.coach.plan(date, goal.as_deref(), &history).await;
        let plan = DailyPlan {
            id: Uuid::now_v7(),
            user_id: viewer.id,
            date,
            goal,
            source,
            content,
            created_at: Utc::now(),
        };
        let saved = ai
            .store
            .save_daily_plan(plan, regenerate)
            .await
            .map_err(ApiError::from)?;
        Ok(saved.into_inner().into())
    }

    /// Puts dead letters back on the queue; the ids that were found. Admins only.
    #[graphql(guard = "RoleGuard(Role::Admin)")]
    async fn replay_dead_letters(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<ID>> {
        let queue = &ctx.data::<AiContext>()?.queue;
        let mut replayed = Vec::new();
        for id in ids {
            if queue.replay(&id).await.map_err(ApiError::from)?.is_some() {
                replayed.push(id);
            }
        }
        Ok(replayed)
    }
}

#[derive(Default)]
pub struct RecommendationSubscription;

#[Subscription(name = "Subscription")]
impl RecommendationSubscription {
    /// Your new recommendations, as the worker writes them. At most
    /// 10 open at once per user (`RATE_LIMITED` past that).
    async fn recommendation_added(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<RecommendationObject>>>
    {
        let viewer = ctx.current_user()?.clone();
        // Held by the stream: given back however the subscription ends.
        let slot = open_subscriptions()
            .try_open(viewer.id, MAX_SUBSCRIPTIONS_PER_USER)
            .ok_or_else(|| {
                ApiError::rate_limited(
                    format!(
                        "At most {MAX_SUBSCRIPTIONS_PER_USER} live subscriptions per user; close one first"
                    ),
                    5,
                )
            })?;
        let bus = ctx.data::<AiContext>()?.bus.clone();
        let verifier = ctx.data_opt::<Arc<fittrack_kit::JwtVerifier>>().cloned();
        let items = bus.subscribe(viewer.id).map(move |recommendation| {
            let _held = &slot;
            RecommendationObject::from(recommendation)
        });
        // Ends with an error the client acts on when the token expires or
        // the session is revoked (logout, ban, password change …).
        Ok(fittrack_kit::auth::until_session_ends(
            items, verifier, viewer,
        ))
    }
}

/// Live subscriptions one user may hold on one AI replica: a phone, a browser
/// tab or two, with room to spare; a loop opening them is bounded.
pub const MAX_SUBSCRIPTIONS_PER_USER: usize = 10;

fn open_subscriptions() -> &'static fittrack_kit::ratelimit::OpenSlots<uuid::Uuid> {
    static OPEN: std::sync::OnceLock<fittrack_kit::ratelimit::OpenSlots<uuid::Uuid>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(Default::default)
}

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(RecommendationQuery, platform::PlatformQuery);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(PlanMutation);

pub type AiSchema = Schema<QueryRoot, MutationRoot, RecommendationSubscription>;

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, RecommendationSubscription> {
    fittrack_kit::schema::federated(
        QueryRoot::default(),
        MutationRoot::default(),
        RecommendationSubscription,
        // Lists multiply by `first` (kit::schema::page_complexity): a full 100-item page of recommendations with every field is ~2 600.
        10_000,
    )
    .enable_subscription_in_federation()
}

pub fn build_schema(context: AiContext) -> AiSchema {
    build_schema_with(context, LOADER_DELAY)
}

/// As [`build_schema`], with the dataloaders gathering keys for `loader_delay`
/// (the batching test widens it so a slow, cold debug run cannot split a batch).
pub fn build_schema_with(context: AiContext, loader_delay: Duration) -> AiSchema {
    let store = context.store.clone();
    builder()
        .data(
            DataLoader::new(RecommendationLoader(store.clone()), tokio::spawn).delay(loader_delay),
        )
        .data(DataLoader::new(UserRecommendationsLoader(store), tokio::spawn).delay(loader_delay))
        .data(context)
        .finish()
}

/// Federation 2 SDL, exported without any storage behind it.
pub fn sdl() -> String {
    fittrack_kit::schema::federation_sdl(&builder().finish())
}
