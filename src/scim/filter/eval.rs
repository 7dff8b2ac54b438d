//! Evaluating a [`Filter`] against a resource stored as JSON, with the
//! schema knowledge of an [`EvalContext`] (caseExact). Never panics on any
//! JSON shape.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::DateTime;
use serde_json::{Map, Number, Value};

use super::parse::starts_with_ignore_ascii_case;
use super::*;

/// Schema knowledge needed to evaluate filters.
pub trait EvalContext {
    /// True when the attribute's values compare case-sensitively (schema `caseExact`).
    ///
    /// Names are passed as written in the filter, so implementations should compare them
    /// case-insensitively. Inside a value filter such as `emails[value eq "x"]`, `name` is the
    /// multi-valued complex attribute (`emails`, with its `uri`) and `sub` is the attribute
    /// named inside the brackets (`value`).
    fn case_exact(&self, uri: Option<&str>, name: &str, sub: Option<&str>) -> bool;
}

/// Whether `resource` (a resource object as stored) satisfies `filter`.
///
/// Attribute names and schema URNs match object keys case-insensitively. A path qualified
/// with a URN looks inside the extension object stored under that URN; for a core schema URN
/// (or a URN listed in the resource's `schemas` but not stored as an object key) it looks at the
/// top level. An unqualified path looks only at the top level, never into extensions.
///
/// A comparison is true when any value of a multi-valued attribute matches; elements of a
/// multi-valued complex attribute are compared through their `value` sub-attribute unless a
/// sub-attribute is named. `ne` is exactly `not (eq)`, so it holds for missing attributes.
/// `eq null` holds when the attribute has no value (missing, `null`, or an array holding
/// nothing but nulls); `pr` holds when it has a value other than `null`, `""`, `[]` or `{}`.
/// Strings compare case-insensitively (Unicode lowercase) unless [`EvalContext::case_exact`]
/// says otherwise; `gt`/`ge`/`lt`/`le` compare RFC 3339 date-times as instants and other strings
/// lexicographically. Numbers compare numerically (integers exactly), booleans support only
/// `eq`/`ne`, and values of different JSON types never compare equal. A value path holds when
/// some object element of the attribute satisfies the inner filter.
///
/// Evaluation recurses over the tree; trees returned by [`parse`] are at most [`MAX_DEPTH`] deep.
pub fn matches(filter: &Filter, resource: &Value, ctx: &dyn EvalContext) -> bool {
    match filter {
        Filter::Compare { path, op, value } => compare_attribute(resource, path, *op, value, ctx),
        Filter::Present(path) => resolve(resource, path).into_iter().any(is_present),
        Filter::And(left, right) => matches(left, resource, ctx) && matches(right, resource, ctx),
        Filter::Or(left, right) => matches(left, resource, ctx) || matches(right, resource, ctx),
        Filter::Not(inner) => !matches(inner, resource, ctx),
        Filter::ValuePath { path, filter } => value_path_matches(resource, path, filter, ctx),
    }
}

/// Answers `case_exact` inside a value filter by qualifying with the outer attribute.
struct ElementContext<'a> {
    outer: &'a dyn EvalContext,
    uri: Option<&'a str>,
    name: &'a str,
}

impl EvalContext for ElementContext<'_> {
    fn case_exact(&self, _uri: Option<&str>, name: &str, _sub: Option<&str>) -> bool {
        self.outer.case_exact(self.uri, self.name, Some(name))
    }
}

fn value_path_matches(
    resource: &Value,
    path: &AttrPath,
    inner: &Filter,
    ctx: &dyn EvalContext,
) -> bool {
    let element_ctx = ElementContext {
        outer: ctx,
        uri: path.uri.as_deref(),
        name: &path.name,
    };
    resolve(resource, path)
        .into_iter()
        .flat_map(elements)
        .filter(|element| element.is_object())
        .any(|element| matches(inner, element, &element_ctx))
}

/// The elements of a multi-valued value, or the value itself when it is singular.
fn elements(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

fn compare_attribute(
    resource: &Value,
    path: &AttrPath,
    op: CompareOp,
    expected: &CompValue,
    ctx: &dyn EvalContext,
) -> bool {
    if op == CompareOp::Ne {
        return !compare_attribute(resource, path, CompareOp::Eq, expected, ctx);
    }
    let values = resolve(resource, path);
    if *expected == CompValue::Null {
        return op == CompareOp::Eq && values.into_iter().all(is_unassigned);
    }
    let case_exact = ctx.case_exact(path.uri.as_deref(), &path.name, path.sub.as_deref());
    comparable_values(&values)
        .into_iter()
        .any(|actual| compare_value(actual, op, expected, case_exact))
}

/// The raw values a path designates: the attribute itself, or its sub-attribute in the
/// attribute object or in each element of the attribute array.
fn resolve<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(value) = attribute(resource, path.uri.as_deref(), &path.name) else {
        return Vec::new();
    };
    let Some(sub) = path.sub.as_deref() else {
        return vec![value];
    };
    match value {
        Value::Object(map) => find_key(map, sub).into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|map| find_key(map, sub))
            .collect(),
        _ => Vec::new(),
    }
}

/// Looks up attribute `name`, qualified by schema `uri`, in `resource`.
fn attribute<'a>(resource: &'a Value, uri: Option<&str>, name: &str) -> Option<&'a Value> {
    let object = resource.as_object()?;
    let Some(uri) = uri else {
        return find_key(object, name);
    };
    if let Some(extension) = find_key(object, uri) {
        return extension.as_object().and_then(|ext| find_key(ext, name));
    }
    if let Some(whole) = find_key(object, &format!("{uri}:{name}")) {
        // e.g. `urn:...:enterprise:2.0:User pr`, which splits as uri `urn:...:2.0`, name `User`.
        return Some(whole);
    }
    if is_resource_schema(object, uri) {
        find_key(object, name)
    } else {
        None
    }
}

/// Whether `uri` names a schema whose attributes are stored at the resource's top level.
fn is_resource_schema(object: &Map<String, Value>, uri: &str) -> bool {
    starts_with_ignore_ascii_case(uri, CORE_SCHEMA_PREFIX)
        || find_key(object, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|schemas| {
                schemas
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|schema| schema.eq_ignore_ascii_case(uri))
            })
}

/// Case-insensitive key lookup (exact match first).
fn find_key<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// The scalars to compare: array elements are compared one by one, complex elements through
/// their `value` sub-attribute.
fn comparable_values<'a>(values: &[&'a Value]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    for value in values {
        match value {
            Value::Array(items) => out.extend(items.iter().filter_map(element_value)),
            other => out.push(*other),
        }
    }
    out
}

fn element_value(element: &Value) -> Option<&Value> {
    match element {
        Value::Object(map) => find_key(map, "value"),
        other => Some(other),
    }
}

fn has_content(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(has_content),
        other => has_content(other),
    }
}

fn is_unassigned(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().all(Value::is_null),
        _ => false,
    }
}

/// Compares one attribute value with the filter's value (`op` is never `ne` here in practice,
/// but `ne` is answered consistently as "differs").
fn compare_value(actual: &Value, op: CompareOp, expected: &CompValue, case_exact: bool) -> bool {
    match (actual, expected) {
        (Value::String(actual), CompValue::Str(expected)) => {
            compare_strings(actual, expected, op, case_exact)
        }
        (Value::Number(actual), CompValue::Num(expected)) => {
            number_order(actual, expected).is_some_and(|order| op.holds_for(order))
        }
        (Value::Bool(actual), CompValue::Bool(expected)) => match op {
            CompareOp::Eq => actual == expected,
            CompareOp::Ne => actual != expected,
            _ => false,
        },
        _ => false,
    }
}

fn compare_strings(actual: &str, expected: &str, op: CompareOp, case_exact: bool) -> bool {
    if op.is_ordering()
        && let Some(order) = instant_order(actual, expected)
    {
        return op.holds_for(order);
    }
    let actual = fold_case(actual, case_exact);
    let expected = fold_case(expected, case_exact);
    match op {
        CompareOp::Co => actual.contains(expected.as_ref()),
        CompareOp::Sw => actual.starts_with(expected.as_ref()),
        CompareOp::Ew => actual.ends_with(expected.as_ref()),
        _ => op.holds_for(actual.cmp(&expected)),
    }
}

fn fold_case(s: &str, case_exact: bool) -> Cow<'_, str> {
    if case_exact {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// Orders two strings as instants when both are RFC 3339 date-times.
fn instant_order(a: &str, b: &str) -> Option<Ordering> {
    let a = DateTime::parse_from_rfc3339(a).ok()?;
    let b = DateTime::parse_from_rfc3339(b).ok()?;
    Some(a.cmp(&b))
}

/// Orders two numbers, exactly when both are integers.
fn number_order(a: &Number, b: &Number) -> Option<Ordering> {
    match (exact_integer(a), exact_integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn exact_integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}
