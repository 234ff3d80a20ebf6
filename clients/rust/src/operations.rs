//! Query types generated at compile time from the canonical operations in
//! `clients/operations/` and checked against `schema/api.graphql` (the composed
//! supergraph's client-facing schema): a field the schema lacks is a build error.

#![allow(clippy::all, missing_docs)]

use graphql_client::GraphQLQuery;

// The schema's custom scalars, as graphql_client expects them in scope.
pub type DateTime = chrono::DateTime<chrono::Utc>;
pub type NaiveDate = chrono::NaiveDate;
pub type NaiveDateTime = chrono::NaiveDateTime;
#[allow(clippy::upper_case_acronyms)]
pub type JSON = serde_json::Value;

// One struct per operation (graphql_client reads each attribute literally).

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Auth.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct Register;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Auth.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct Login;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Auth.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct RefreshToken;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Profile.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct Me;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Activities.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct LogActivity;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Activities.graphql",
    response_derives = "Debug, Clone, PartialEq, Serialize",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct MyActivities;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Activities.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct MyActivityStats;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Recommendations.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct MyRecommendations;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Recommendations.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct RecommendationAdded;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/DailyPlan.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct DailyPlan;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Admin.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct AdminDashboard;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Imports.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct StartImport;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Imports.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct UploadImportChunk;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Imports.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct FinishImport;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Imports.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct ImportStatus;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Imports.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct ActivityPage;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/Originals.graphql",
    response_derives = "Debug, Clone, PartialEq",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct ActivityOriginalFile;

#[derive(GraphQLQuery)]
#[graphql(
    schema_path = "../../schema/api.graphql",
    query_path = "../operations/ExportMyData.graphql",
    response_derives = "Debug, Clone, PartialEq, Serialize",
    variables_derives = "Debug, Clone",
    skip_serializing_none
)]
pub struct ExportMyData;
