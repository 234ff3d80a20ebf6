//! Daily plans: reading them, and asking for one (`domain::plans::Planner`).

use async_graphql::{Context, Object};
use chrono::NaiveDate;
use fittrack_kit::{
    auth::{Authenticated, ContextAuthExt},
    pagination::Page,
    ApiError,
};

use super::{page_size, AiContext, DailyPlanConnection, DailyPlanObject};
use crate::domain::{error::AiError, plans::Planner};

#[derive(Default)]
pub struct PlanQuery;

#[Object]
impl PlanQuery {
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
        let plans = ctx
            .data::<AiContext>()?
            .store
            .daily_plans_page(viewer.id, before, limit + 1)
            .await
            .map_err(ApiError::from)?;
        Ok(Page::from_overfetch(plans, limit).into_connection(
            before.is_some(),
            |p| p.date.to_string(),
            DailyPlanObject::from,
        ))
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
        let viewer = ctx.current_user()?;
        let plan = ctx
            .data::<Planner>()?
            .plan_for(viewer.id, date, goal, regenerate.unwrap_or(false))
            .await?;
        Ok(plan.into())
    }
}
