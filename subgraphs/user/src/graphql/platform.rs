//! This subgraph's part of the admin dashboard: the `PlatformStats` entity
//! (one instance, id `platform`) gains user figures here; other subgraphs add
//! theirs, and the router fetches the parts in parallel. Cached 60 s.

use std::{collections::BTreeMap, sync::Arc};

use async_graphql::{ComplexObject, Context, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use fittrack_kit::{auth::RoleGuard, cache::TtlCache, ApiError, Role};

use crate::domain::accounts::Accounts;

/// Platform-wide figures for admins; each subgraph contributes its fields.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct PlatformStats {
    pub id: ID,
}

#[derive(SimpleObject, Clone, serde::Serialize, serde::Deserialize)]
pub struct CountByKey {
    pub key: String,
    pub count: i64,
}

#[derive(SimpleObject, Clone, serde::Serialize, serde::Deserialize)]
pub struct UserPlatformStats {
    pub total: i64,
    pub active: i64,
    pub new_last_7_days: i64,
    // One entry per account status.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(4), None, None, None))]
    pub by_status: Vec<CountByKey>,
    // One entry per role.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(2), None, None, None))]
    pub by_role: Vec<CountByKey>,
}

/// Erasures of deleted accounts one subgraph has not finished: a growing
/// `pending` or an old `oldestRequestedAt` is an eraser that is stuck.
#[derive(SimpleObject, Clone)]
pub struct ErasureBacklog {
    /// The eraser: `user-deleted.activity`, `user-deleted.ai`.
    pub eraser: String,
    pub pending: i64,
    /// When the oldest pending erasure was requested.
    pub oldest_requested_at: Option<DateTime<Utc>>,
    /// The oldest pending (up to 20): what `replayErasure` takes.
    // At most 20.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(20), None, None, None))]
    pub oldest_user_ids: Vec<ID>,
}

/// Listed per eraser in [`ErasureBacklog::oldest_user_ids`].
const OLDEST_ERASURES_LISTED: usize = 20;

#[derive(SimpleObject, Clone)]
pub struct DailyCount {
    pub date: NaiveDate,
    pub count: i64,
}

/// The 60-second cache of the user part (Redis when configured).
pub type UserStatsCache = Arc<TtlCache<UserPlatformStats>>;

async fn compute(accounts: &Accounts) -> anyhow::Result<UserPlatformStats> {
    let store = accounts.store();
    let (groups, new_last_7_days) = tokio::try_join!(
        store.count_by_status_and_role(),
        store.count_created_since(Utc::now() - chrono::Duration::days(7))
    )?;
    let mut by_status: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_role: BTreeMap<String, i64> = BTreeMap::new();
    for (status, role, count) in &groups {
        *by_status.entry(status.clone()).or_default() += count;
        *by_role.entry(role.clone()).or_default() += count;
    }
    let to_list = |map: BTreeMap<String, i64>| {
        map.into_iter()
            .map(|(key, count)| CountByKey { key, count })
            .collect()
    };
    Ok(UserPlatformStats {
        total: groups.iter().map(|(_, _, c)| c).sum(),
        active: by_status.get("ACTIVE").copied().unwrap_or(0),
        new_last_7_days,
        by_status: to_list(by_status),
        by_role: to_list(by_role),
    })
}

#[ComplexObject]
impl PlatformStats {
    /// Accounts: totals, by status and role, sign-ups in the last 7 days.
    // Aggregations, cached for a minute: costed as such.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        directive = fittrack_kit::schema::cost::apply(100)
    )]
    async fn users(&self, ctx: &Context<'_>) -> async_graphql::Result<UserPlatformStats> {
        let accounts = ctx.data::<Accounts>()?;
        let cache = ctx.data::<UserStatsCache>()?;
        Ok(cache
            .get_or_try(|| compute(accounts))
            .await
            .map_err(ApiError::from)?)
    }

    /// Erasures of deleted accounts each subgraph still owes, read live (an
    /// alert condition: pending erasures older than a few minutes).
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        directive = fittrack_kit::schema::cost::apply(10),
        directive = fittrack_kit::schema::list_size::apply(Some(2), None, None, None)
    )]
    async fn erasures(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ErasureBacklog>> {
        let outstanding = ctx
            .data::<Accounts>()?
            .outstanding_erasures(OLDEST_ERASURES_LISTED)
            .await?;
        Ok(outstanding
            .into_iter()
            .map(|(eraser, owed)| ErasureBacklog {
                eraser: eraser.to_owned(),
                pending: owed.count as i64,
                oldest_requested_at: owed.oldest.first().map(|(_, at)| *at),
                oldest_user_ids: owed
                    .oldest
                    .iter()
                    .map(|(user, _)| ID(user.to_string()))
                    .collect(),
            })
            .collect())
    }

    /// New accounts per day over the last `days` days (1–366), oldest first.
    #[graphql(
        guard = "RoleGuard(Role::Admin)",
        directive = fittrack_kit::schema::list_size::apply(
            None,
            Some(vec!["days".into()]),
            None,
            Some(false)
        )
    )]
    async fn user_growth(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] days: i32,
    ) -> async_graphql::Result<Vec<DailyCount>> {
        if !(1..=366).contains(&days) {
            return Err(ApiError::bad_input("days", "days: must be between 1 and 366").into());
        }
        let today = Utc::now().date_naive();
        let first = today - chrono::Duration::days(i64::from(days) - 1);
        let since = first
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or_else(Utc::now);
        let created = ctx
            .data::<Accounts>()?
            .store()
            .created_since(since)
            .await
            .map_err(ApiError::from)?;
        let mut counts: BTreeMap<NaiveDate, i64> = (0..i64::from(days))
            .map(|d| (first + chrono::Duration::days(d), 0))
            .collect();
        for at in created {
            if let Some(count) = counts.get_mut(&at.date_naive()) {
                *count += 1;
            }
        }
        Ok(counts
            .into_iter()
            .map(|(date, count)| DailyCount { date, count })
            .collect())
    }
}

#[derive(Default)]
pub struct PlatformQuery;

#[Object]
impl PlatformQuery {
    /// Federation: `PlatformStats` references gain the user figures.
    #[graphql(entity)]
    async fn find_platform_stats_by_id(&self, id: ID) -> PlatformStats {
        PlatformStats { id }
    }
}
