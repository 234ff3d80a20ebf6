//! Breaking changes between two API schemas: what would make an existing,
//! valid client operation fail or read the wrong thing.
//!
//! Breaking: a type, field, argument, input field, enum value or union member
//! removed; a type's kind changed; an output field's type changed (other than
//! becoming non-null); an argument's or input field's type changed (other than
//! becoming nullable); a new required argument or input field without default.
//! Additions are not breaking.

use std::collections::BTreeSet;

use apollo_compiler::{
    ast::{InputValueDefinition, Type},
    schema::ExtendedType,
    Node, Schema,
};

/// One breaking change; `path` is what the acknowledgement file names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BreakingChange {
    /// `Type`, `Type.field`, `Type.field(arg:)` or `Enum.VALUE`.
    pub path: String,
    pub message: String,
}

fn kind(ty: &ExtendedType) -> &'static str {
    match ty {
        ExtendedType::Scalar(_) => "scalar",
        ExtendedType::Object(_) => "object",
        ExtendedType::Interface(_) => "interface",
        ExtendedType::Union(_) => "union",
        ExtendedType::Enum(_) => "enum",
        ExtendedType::InputObject(_) => "input object",
    }
}

/// An output may become non-null: `T` → `T!` is safe, nothing else is.
fn output_compatible(old: &Type, new: &Type) -> bool {
    old == new || (!old.is_non_null() && new.is_non_null() && &new.clone().nullable() == old)
}

/// An input may become nullable: `T!` → `T` is safe, nothing else is.
fn input_compatible(old: &Type, new: &Type) -> bool {
    output_compatible(new, old)
}

type Fields = apollo_compiler::collections::IndexMap<
    apollo_compiler::Name,
    apollo_compiler::schema::Component<apollo_compiler::schema::FieldDefinition>,
>;

/// The fields of an object or interface type.
fn fields_of(ty: &ExtendedType) -> Option<&Fields> {
    match ty {
        ExtendedType::Object(o) => Some(&o.fields),
        ExtendedType::Interface(i) => Some(&i.fields),
        _ => None,
    }
}

fn required(value: &InputValueDefinition) -> bool {
    value.ty.is_non_null() && value.default_value.is_none()
}

fn compare_inputs<'a>(
    path: &str,
    old: impl Iterator<Item = &'a Node<InputValueDefinition>>,
    new: impl Iterator<Item = &'a Node<InputValueDefinition>>,
    what: &str,
    out: &mut Vec<BreakingChange>,
) {
    let old: Vec<_> = old.collect();
    let new: Vec<_> = new.collect();
    for before in &old {
        let at = format!("{path}({}:)", before.name);
        match new.iter().find(|after| after.name == before.name) {
            None => out.push(BreakingChange {
                path: at,
                message: format!("{what} `{}` removed", before.name),
            }),
            Some(after) if !input_compatible(&before.ty, &after.ty) => out.push(BreakingChange {
                path: at,
                message: format!(
                    "{what} `{}` changed from {} to {}",
                    before.name, before.ty, after.ty
                ),
            }),
            Some(_) => {}
        }
    }
    for after in &new {
        if required(after) && !old.iter().any(|before| before.name == after.name) {
            out.push(BreakingChange {
                path: format!("{path}({}:)", after.name),
                message: format!("required {what} `{}` added", after.name),
            });
        }
    }
}

/// The breaking changes from `old` to `new`, sorted.
pub fn breaking_changes(old: &Schema, new: &Schema) -> Vec<BreakingChange> {
    let mut out = Vec::new();
    for (name, before) in &old.types {
        if before.is_built_in() {
            continue;
        }
        let Some(after) = new.types.get(name) else {
            out.push(BreakingChange {
                path: name.to_string(),
                message: format!("{} `{name}` removed", kind(before)),
            });
            continue;
        };
        if kind(before) != kind(after) {
            out.push(BreakingChange {
                path: name.to_string(),
                message: format!("`{name}` changed from {} to {}", kind(before), kind(after)),
            });
            continue;
        }
        if let (Some(old_fields), Some(new_fields)) = (fields_of(before), fields_of(after)) {
            for (field, old_def) in old_fields {
                let path = format!("{name}.{field}");
                let Some(new_def) = new_fields.get(field) else {
                    out.push(BreakingChange {
                        message: format!("field `{path}` removed"),
                        path,
                    });
                    continue;
                };
                if !output_compatible(&old_def.ty, &new_def.ty) {
                    out.push(BreakingChange {
                        message: format!("`{path}` changed from {} to {}", old_def.ty, new_def.ty),
                        path: path.clone(),
                    });
                }
                compare_inputs(
                    &path,
                    old_def.arguments.iter(),
                    new_def.arguments.iter(),
                    "argument",
                    &mut out,
                );
            }
        }
        match (before, after) {
            (ExtendedType::InputObject(o), ExtendedType::InputObject(n)) => compare_inputs(
                name,
                o.fields.values().map(|f| &f.node),
                n.fields.values().map(|f| &f.node),
                "input field",
                &mut out,
            ),
            (ExtendedType::Enum(o), ExtendedType::Enum(n)) => {
                for value in o.values.keys() {
                    if !n.values.contains_key(value) {
                        out.push(BreakingChange {
                            path: format!("{name}.{value}"),
                            message: format!("enum value `{name}.{value}` removed"),
                        });
                    }
                }
            }
            (ExtendedType::Union(o), ExtendedType::Union(n)) => {
                let members: BTreeSet<_> = n.members.iter().map(|m| m.name.as_str()).collect();
                for member in &o.members {
                    if !members.contains(member.name.as_str()) {
                        out.push(BreakingChange {
                            path: name.to_string(),
                            message: format!("`{}` removed from union `{name}`", member.name),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out.sort();
    out
}

/// Paths acknowledged in `schema/breaking-changes.txt`: one per line, the path
/// first, then ` — why` (blank lines and `#` comments ignored).
pub fn acknowledged(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(sdl: &str) -> Schema {
        Schema::parse_and_validate(sdl, "test.graphql")
            .map(|valid| valid.into_inner())
            .map_err(|e| e.errors.to_string())
            .expect("valid sdl")
    }

    const BASE: &str = r#"
        type Query { me: User, users(first: Int): [User!]! }
        type User { id: ID!, name: String, role: Role! }
        enum Role { USER ADMIN }
        input Filter { name: String, limit: Int! }
    "#;

    #[test]
    fn additions_and_safe_tightening_are_not_breaking() {
        let next = r#"
            type Query { me: User!, users(first: Int, after: String): [User!]!, extra: Int }
            type User { id: ID!, name: String!, role: Role!, email: String }
            enum Role { USER ADMIN GUEST }
            input Filter { name: String, limit: Int, tag: String }
            type New { id: ID! }
        "#;
        assert_eq!(breaking_changes(&schema(BASE), &schema(next)), vec![]);
    }

    #[test]
    fn removals_and_incompatible_changes_are_breaking() {
        let next = r#"
            type Query { me: User, users(first: Int!): [User] }
            type User { id: ID!, role: String! }
            enum Role { USER }
            input Filter { limit: Int!, tag: String! }
        "#;
        let paths: Vec<String> = breaking_changes(&schema(BASE), &schema(next))
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(
            paths,
            vec![
                "Filter(name:)",
                "Filter(tag:)",
                "Query.users",
                "Query.users(first:)",
                "Role.ADMIN",
                "User.name",
                "User.role",
            ]
        );
    }

    #[test]
    fn acknowledgements_are_the_first_word_of_each_line() {
        let text = "# header\n\nUser.name — renamed to displayName (clients updated)\n";
        assert_eq!(acknowledged(text), BTreeSet::from(["User.name".to_owned()]));
    }
}
