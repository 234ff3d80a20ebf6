//! What every subgraph's GraphQL schema shares: Federation 2, one depth limit,
//! the cost directives the router's demand control reads, and the SDL that
//! composition reads.
//!
//! Cost is counted the same way at both ends. The router (hive-router's demand
//! control) estimates each operation from `@listSize`/`@cost` in the supergraph
//! and refuses it before any subgraph is called. Each subgraph also refuses on
//! its own (async-graphql's complexity, multiplied by `first` through
//! [`page_complexity`]), because a subgraph may be reached without the router.

use async_graphql::{
    ObjectType, Positioned, SDLExportOptions, Schema, SchemaBuilder, SubscriptionType,
};

/// The deepest selection any subgraph accepts.
pub const MAX_DEPTH: usize = 16;

/// The page size a list field assumes when `first` is not given (also the
/// router's `demand_control.default_list_size`).
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// The largest page any list field returns.
pub const MAX_PAGE_SIZE: usize = 100;

// `@listSize` (Federation 2.9 / IBM cost spec): how many items a list field
// returns, for the router's cost estimate. A connection names its slicing
// argument (`first`) and its list fields (`sizedFields: ["edges", "nodes"]`),
// but no `assumedSize`: hive-router prefers `assumedSize` to the argument's
// value, and without `first` it counts `default_list_size` (router.yaml: 20,
// our default page). Short lists of known size set only `assumedSize`. (Plain comments: a doc comment would be
// exported as a description of the definition that `federation_sdl` drops.)
#[async_graphql::TypeDirective(name = "listSize", location = "FieldDefinition")]
pub fn list_size(
    assumed_size: Option<i32>,
    slicing_arguments: Option<Vec<String>>,
    sized_fields: Option<Vec<String>>,
    require_one_slicing_argument: Option<bool>,
) {
}

/// `@listSize` for a Relay connection sliced by `first` (its `edges` and
/// `nodes` are the page): `#[graphql(directive = connection_size::apply())]`.
/// Written by hand rather than by `TypeDirective` so call sites carry no
/// arguments; it registers and renders as `list_size`.
#[allow(non_camel_case_types)]
pub struct connection_size;

impl async_graphql::TypeDirective for connection_size {
    fn name(&self) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("listSize")
    }

    fn register(&self, registry: &mut async_graphql::registry::Registry) {
        async_graphql::TypeDirective::register(&list_size, registry);
    }
}

impl async_graphql::registry::location_traits::Directive_At_FIELD_DEFINITION for connection_size {}

impl connection_size {
    pub fn apply() -> async_graphql::registry::MetaDirectiveInvocation {
        list_size::apply(
            None,
            Some(vec!["first".into()]),
            Some(vec!["edges".into(), "nodes".into()]),
            Some(false),
        )
    }
}

// `@cost(weight:)`: a field that costs more than the default (a password check,
// a model call).
#[async_graphql::TypeDirective(name = "cost", location = "FieldDefinition")]
pub fn cost(weight: i32) {}

/// Complexity of a page of `first` items (default [`DEFAULT_PAGE_SIZE`], capped at
/// [`MAX_PAGE_SIZE`]) whose items cost `child` each, for
/// `#[graphql(complexity = "…")]`.
pub fn page_complexity(first: Option<i32>, child: usize) -> usize {
    let items = first.map_or(DEFAULT_PAGE_SIZE, |n| {
        usize::try_from(n).unwrap_or(0).min(MAX_PAGE_SIZE)
    });
    items.max(1).saturating_mul(child).saturating_add(1)
}

/// A federated schema builder with the shared limits; `max_complexity` is the
/// subgraph's own (it depends on how wide its lists are).
pub fn federated<Q, M, S>(
    query: Q,
    mutation: M,
    subscription: S,
    max_complexity: usize,
) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let builder = Schema::build(query, mutation, subscription)
        .enable_federation()
        .extension(InputRules)
        .extension(NameOperation)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(max_complexity);
    if crate::config::is_production() {
        // Nothing to map the schema with: it is published to the router only.
        builder.disable_introspection().disable_suggestions()
    } else {
        builder
    }
}

/// Representations one `_entities` request may ask for. The router's largest
/// fetch is a page of 100 (`first` is capped there) below a page of 100,
/// and those are deduplicated; more is no query of ours.
pub const MAX_ENTITY_REPRESENTATIONS: usize = 1_000;

/// The rules on input that no type can express, checked once the document
/// is parsed and before anything resolves, in every subgraph:
/// - [`check_entities`]: an `_entities` field's `representations` list
///   (inline or in a variable) holds at most [`MAX_ENTITY_REPRESENTATIONS`]:
///   complexity does not count list arguments, and each one is a lookup;
/// - [`check_text`]: no text holds U+0000 (NUL). PostgreSQL cannot store it
///   in `text` or `jsonb` (the statement fails, which would be an internal
///   error half-way through a use case), and no field of ours has a use for
///   it; one rule here covers every argument of every subgraph.
///
/// A refusal is a request error (no path), which
/// `kit::server::finish_errors` codes `BAD_USER_INPUT`.
struct InputRules;

impl async_graphql::extensions::ExtensionFactory for InputRules {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(InputRules)
    }
}

#[async_graphql::async_trait::async_trait]
impl async_graphql::extensions::Extension for InputRules {
    async fn parse_query(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        query: &str,
        variables: &async_graphql::Variables,
        next: async_graphql::extensions::NextParseQuery<'_>,
    ) -> async_graphql::ServerResult<async_graphql::parser::types::ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let selection_sets = document
            .operations
            .iter()
            .map(|(_, operation)| &operation.node.selection_set.node)
            .chain(
                document
                    .fragments
                    .values()
                    .map(|fragment| &fragment.node.selection_set.node),
            );
        // Each argument is resolved once (the router sends `_entities`'
        // representations in a variable, up to a thousand of them).
        for selections in selection_sets {
            each_argument(selections, variables, &mut |field, argument, value| {
                check_entities(field, argument, value)?;
                check_text(field, argument, value)
            })?;
        }
        // Text not reached through a field argument (a variable used only
        // in a directive, or not at all) is still refused.
        if let Some((name, _)) = variables.iter().find(|(_, value)| holds_nul(value)) {
            return Err(nul_error(&format!("variable `${name}`"), None));
        }
        Ok(document)
    }
}

/// Names the operation a request runs for metrics
/// ([`crate::metrics::OperationSlot`], put in the request's data by
/// `kit::server`): its type and first root field. The slot is filled only
/// once the document validated, so the name is a field the schema has,
/// never a client's free choice (an operation name is).
struct NameOperation;

impl async_graphql::extensions::ExtensionFactory for NameOperation {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(NamingOperation::default())
    }
}

/// [`NameOperation`] for one request: each operation of the document, by
/// name, as `(type, root field)`.
#[derive(Default)]
struct NamingOperation {
    candidates: std::sync::Mutex<Vec<(Option<String>, &'static str, String)>>,
}

impl NamingOperation {
    fn publish(&self, ctx: &async_graphql::extensions::ExtensionContext<'_>, name: Option<&str>) {
        let Some(slot) = ctx.data_opt::<crate::metrics::OperationSlot>() else {
            return;
        };
        let candidates = self
            .candidates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let chosen = match name {
            Some(name) => candidates
                .iter()
                .find(|(candidate, ..)| candidate.as_deref() == Some(name)),
            None if candidates.len() == 1 => candidates.first(),
            None => None,
        };
        if let Some((_, kind, root)) = chosen {
            slot.set(kind, root);
        }
    }
}

#[async_graphql::async_trait::async_trait]
impl async_graphql::extensions::Extension for NamingOperation {
    async fn parse_query(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        query: &str,
        variables: &async_graphql::Variables,
        next: async_graphql::extensions::NextParseQuery<'_>,
    ) -> async_graphql::ServerResult<async_graphql::parser::types::ExecutableDocument> {
        use async_graphql::parser::types::{OperationType, Selection};
        let document = next.run(ctx, query, variables).await?;
        let candidates = document
            .operations
            .iter()
            .map(|(name, operation)| {
                let kind = match operation.node.ty {
                    OperationType::Query => "query",
                    OperationType::Mutation => "mutation",
                    OperationType::Subscription => "subscription",
                };
                let root = operation
                    .node
                    .selection_set
                    .node
                    .items
                    .iter()
                    .find_map(|selection| match &selection.node {
                        Selection::Field(field) => Some(field.node.name.node.to_string()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "fragment".to_owned());
                (name.map(|name| name.to_string()), kind, root)
            })
            .collect();
        *self
            .candidates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = candidates;
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextValidation<'_>,
    ) -> Result<async_graphql::ValidationResult, Vec<async_graphql::ServerError>> {
        let result = next.run(ctx).await?;
        // One operation: named here (subscriptions never reach `execute`).
        self.publish(ctx, None);
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: async_graphql::extensions::NextExecute<'_>,
    ) -> async_graphql::Response {
        // Several operations: the one the request chose.
        self.publish(ctx, operation_name);
        next.run(ctx, operation_name).await
    }
}

/// Calls `visit` with every field argument in `selections` (nested fields
/// and inline fragments included; fragment definitions are walked on their
/// own), resolved against `variables`. An argument naming a variable that is
/// not there is left to validation.
fn each_argument(
    selections: &async_graphql::parser::types::SelectionSet,
    variables: &async_graphql::Variables,
    visit: &mut impl FnMut(
        &Positioned<async_graphql::parser::types::Field>,
        &Positioned<async_graphql::Name>,
        Positioned<&async_graphql::Value>,
    ) -> async_graphql::ServerResult<()>,
) -> async_graphql::ServerResult<()> {
    use async_graphql::parser::types::Selection;
    for selection in &selections.items {
        match &selection.node {
            Selection::Field(field) => {
                for (name, value) in &field.node.arguments {
                    let resolved = value
                        .node
                        .clone()
                        .into_const_with(|name| variables.get(&name).cloned().ok_or(()));
                    if let Ok(resolved) = resolved {
                        visit(field, name, Positioned::new(&resolved, value.pos))?;
                    }
                }
                each_argument(&field.node.selection_set.node, variables, visit)?
            }
            Selection::InlineFragment(fragment) => {
                each_argument(&fragment.node.selection_set.node, variables, visit)?
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}

fn check_entities(
    field: &Positioned<async_graphql::parser::types::Field>,
    argument: &Positioned<async_graphql::Name>,
    value: Positioned<&async_graphql::Value>,
) -> async_graphql::ServerResult<()> {
    if field.node.name.node != "_entities" || argument.node != "representations" {
        return Ok(());
    }
    let count = match value.node {
        async_graphql::Value::List(items) => items.len(),
        _ => 0,
    };
    if count > MAX_ENTITY_REPRESENTATIONS {
        return Err(async_graphql::ServerError::new(
            format!(
                "Too many representations in `_entities`: {count}, at most {MAX_ENTITY_REPRESENTATIONS}"
            ),
            Some(field.pos),
        ));
    }
    Ok(())
}

fn check_text(
    field: &Positioned<async_graphql::parser::types::Field>,
    argument: &Positioned<async_graphql::Name>,
    value: Positioned<&async_graphql::Value>,
) -> async_graphql::ServerResult<()> {
    if holds_nul(value.node) {
        return Err(nul_error(
            &format!("argument `{}` of `{}`", argument.node, field.node.name.node),
            Some(value.pos),
        ));
    }
    Ok(())
}

fn holds_nul(value: &async_graphql::Value) -> bool {
    use async_graphql::Value;
    match value {
        Value::String(text) => text.contains('\0'),
        Value::List(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(name, value)| name.contains('\0') || holds_nul(value)),
        _ => false,
    }
}

fn nul_error(what: &str, pos: Option<async_graphql::Pos>) -> async_graphql::ServerError {
    async_graphql::ServerError::new(
        format!("Text may not contain the NUL character (U+0000): {what}"),
        pos,
    )
}

/// The Federation 2 SDL of `schema`, as `fittrack compose` exports it.
///
/// async-graphql writes Federation 2.5 and declares the cost directives as
/// custom ones; composition needs them as Federation 2.9's own, imported by
/// `@link`, so the header is rewritten and their definitions dropped.
pub fn federation_sdl<Q, M, S>(schema: &Schema<Q, M, S>) -> String
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    let sdl = schema.sdl_with_options(SDLExportOptions::new().federation().compose_directive());
    with_cost_directives(&sdl)
}

fn with_cost_directives(sdl: &str) -> String {
    let mut out = String::with_capacity(sdl.len() + 64);
    for line in sdl.lines() {
        if line.starts_with("directive @listSize(") || line.starts_with("directive @cost(") {
            continue;
        }
        let line = line
            .replace(
                "\"https://specs.apollo.dev/federation/v2.5\"",
                "\"https://specs.apollo.dev/federation/v2.9\"",
            )
            .replace(
                "\"@requiresScopes\"]",
                "\"@requiresScopes\", \"@cost\", \"@listSize\"]",
            );
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_complexity_multiplies_by_the_page_and_caps_it() {
        assert_eq!(page_complexity(None, 3), 20 * 3 + 1);
        assert_eq!(page_complexity(Some(100), 3), 301);
        assert_eq!(page_complexity(Some(1_000_000), 3), 301);
        assert_eq!(page_complexity(Some(-5), 3), 4);
    }

    struct EchoQuery;

    #[async_graphql::Object]
    impl EchoQuery {
        async fn echo(&self, text: String, tags: Option<Vec<String>>) -> String {
            let _ = tags;
            text
        }
    }

    async fn run(query: &str, variables: serde_json::Value) -> async_graphql::Response {
        let schema = federated(
            EchoQuery,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
            100,
        )
        .finish();
        schema
            .execute(
                async_graphql::Request::new(query)
                    .variables(async_graphql::Variables::from_json(variables)),
            )
            .await
    }

    #[tokio::test]
    async fn text_with_nul_is_refused_inline_in_variables_and_in_lists() {
        for (query, variables) in [
            (r#"{ echo(text: "a\u0000b") }"#, serde_json::json!({})),
            (
                "query($t: String!) { echo(text: $t) }",
                serde_json::json!({"t": "a\u{0}"}),
            ),
            (
                r#"query($t: String!) { echo(text: "ok", tags: ["x", $t]) }"#,
                serde_json::json!({"t": "\u{0}"}),
            ),
            (
                "query($unused: String) { echo(text: \"ok\") }",
                serde_json::json!({"unused": "\u{0}"}),
            ),
        ] {
            let response = run(query, variables).await;
            assert_eq!(response.errors.len(), 1, "{query}: {:?}", response.errors);
            let error = &response.errors[0];
            assert!(error.message.contains("NUL"), "{query}: {}", error.message);
            // No path: finish_errors codes it BAD_USER_INPUT.
            assert!(error.path.is_empty(), "{query}");
        }
    }

    #[tokio::test]
    async fn text_without_nul_passes() {
        let response = run(
            r#"{ echo(text: "tab\there, é, 💪") }"#,
            serde_json::json!({}),
        )
        .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
    }

    #[test]
    fn cost_directives_become_federation_imports() {
        let sdl = "directive @listSize(assumedSize: Int) on FIELD_DEFINITION\n\
                   extend schema @link(\n\
                   \turl: \"https://specs.apollo.dev/federation/v2.5\",\n\
                   \timport: [\"@key\", \"@requiresScopes\"]\n)\n";
        let out = with_cost_directives(sdl);
        assert!(!out.contains("directive @listSize"));
        assert!(out.contains("federation/v2.9"));
        assert!(out.contains("\"@cost\", \"@listSize\"]"));
    }
}
