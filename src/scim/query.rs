//! List requests: parameters (RFC 7644 sections 3.4.2 and 3.4.3), the index a
//! filter can be answered from, sorting and paging. Pure: no I/O.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, AttrPath, CompValue, CompareOp, EvalContext, Filter};
use super::resource::{Projection, compare_sort_values, get_ci, sort_value};
use super::schema::{ResourceKind, SEARCH_REQUEST};

/// An index a filter can be answered from, instead of scanning every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKey {
    Id(String),
    /// userName (Users) or displayName (Groups), lower-cased.
    NameLc(String),
    /// displayName, lower-cased.
    DisplayLc(String),
    ExternalId(String),
    /// emails.value, lower-cased.
    EmailLc(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// A parsed list or search request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    pub projection: Projection,
}

impl ListQuery {
    /// From query-string parameters (names compared case-insensitively).
    pub fn from_params(
        params: &HashMap<String, String>,
        max_results: usize,
    ) -> Result<Self, ScimError> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            get(name)
                .map(|v| {
                    v.trim().parse::<i64>().map_err(|_| {
                        ScimError::invalid_value(format!("{name} must be an integer, got {v:?}"))
                    })
                })
                .transpose()
        };
        Self::build(
            get("filter"),
            int("startIndex")?,
            int("count")?,
            get("sortBy"),
            get("sortOrder"),
            Projection::parse(get("attributes"), get("excludedAttributes"))?,
            max_results,
        )
    }

    /// From a `POST /.search` body.
    pub fn from_search_body(body: &Value, max_results: usize) -> Result<Self, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("the search request must be a JSON object"))?;
        if let Some(s) = get_ci(obj, "schemas") {
            let ok = s
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(SEARCH_REQUEST)));
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "schemas must be [\"{SEARCH_REQUEST}\"]"
                )));
            }
        }
        let text = |name: &str| -> Result<Option<&str>, ScimError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
            }
        };
        let int = |name: &str| -> Result<Option<i64>, ScimError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer"))),
            }
        };
        let list = |name: &str| -> Result<Vec<String>, ScimError> {
            match get_ci(obj, name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_owned).ok_or_else(|| {
                            ScimError::invalid_value(format!("{name} must be an array of strings"))
                        })
                    })
                    .collect(),
                Some(Value::String(s)) => Ok(s.split(',').map(|x| x.trim().to_owned()).collect()),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "{name} must be an array of strings"
                ))),
            }
        };
        let projection =
            Projection::from_lists(&list("attributes")?, &list("excludedAttributes")?)?;
        Self::build(
            text("filter")?,
            int("startIndex")?,
            int("count")?,
            text("sortBy")?,
            text("sortOrder")?,
            projection,
            max_results,
        )
    }

    fn build(
        filter: Option<&str>,
        start_index: Option<i64>,
        count: Option<i64>,
        sort_by: Option<&str>,
        sort_order: Option<&str>,
        projection: Projection,
        max_results: usize,
    ) -> Result<Self, ScimError> {
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            None => None,
            Some(f) => {
                Some(filter::parse(f).map_err(|e| ScimError::invalid_filter(format!("{e}")))?)
            }
        };
        let start_index = usize::try_from(start_index.unwrap_or(1).max(1)).unwrap_or(1);
        let count = match count {
            None => max_results,
            Some(c) => usize::try_from(c.max(0)).unwrap_or(0).min(max_results),
        };
        let sort_by = sort_by
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                AttrPath::parse(s)
                    .map_err(|e| ScimError::invalid_value(format!("sortBy {s:?}: {e}")))
            })
            .transpose()?;
        let sort_order = match sort_order.map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => SortOrder::Ascending,
            Some("descending") => SortOrder::Descending,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be ascending or descending, got {other:?}"
                )));
            }
        };
        Ok(Self {
            filter,
            start_index,
            count,
            sort_by,
            sort_order,
            projection,
        })
    }

    /// Does this query need every matching resource in memory (a filter
    /// without an index, or sorting), rather than a page read from the store?
    pub fn index_key(&self, kind: ResourceKind) -> Option<IndexKey> {
        self.filter.as_ref().and_then(|f| index_key(kind, f))
    }
}

fn is_core(kind: ResourceKind, path: &AttrPath) -> bool {
    path.uri
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(kind.core().id))
}

/// The index that narrows `f` to a candidate set, if there is one. Candidates
/// are still checked against the whole filter, so a key may over-select.
pub fn index_key(kind: ResourceKind, f: &Filter) -> Option<IndexKey> {
    match f {
        Filter::And(a, b) => index_key(kind, a).or_else(|| index_key(kind, b)),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(v),
        } if is_core(kind, path) => {
            let name = path.name.to_ascii_lowercase();
            match (
                name.as_str(),
                path.sub.as_deref().map(str::to_ascii_lowercase).as_deref(),
                kind,
            ) {
                ("id", None, _) => Some(IndexKey::Id(v.clone())),
                ("externalid", None, _) => Some(IndexKey::ExternalId(v.clone())),
                ("username", None, ResourceKind::User) => Some(IndexKey::NameLc(v.to_lowercase())),
                ("displayname", None, ResourceKind::Group) => {
                    Some(IndexKey::NameLc(v.to_lowercase()))
                }
                ("displayname", None, ResourceKind::User) => {
                    Some(IndexKey::DisplayLc(v.to_lowercase()))
                }
                ("emails", None | Some("value"), ResourceKind::User) => {
                    Some(IndexKey::EmailLc(v.to_lowercase()))
                }
                _ => None,
            }
        }
        Filter::ValuePath { path, filter } if is_core(kind, path) && kind == ResourceKind::User => {
            if path.name.eq_ignore_ascii_case("emails") {
                email_in_value_filter(filter).map(IndexKey::EmailLc)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn email_in_value_filter(f: &Filter) -> Option<String> {
    match f {
        Filter::And(a, b) => email_in_value_filter(a).or_else(|| email_in_value_filter(b)),
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(v),
        } if path.name.eq_ignore_ascii_case("value") && path.sub.is_none() => {
            Some(v.to_lowercase())
        }
        _ => None,
    }
}

/// Does the filter name this top-level attribute anywhere?
pub fn mentions(f: &Filter, name: &str) -> bool {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => mentions(a, name) || mentions(b, name),
        Filter::Not(a) => mentions(a, name),
        Filter::Compare { path, .. } | Filter::Present(path) | Filter::ValuePath { path, .. } => {
            path.name.eq_ignore_ascii_case(name)
        }
    }
}

/// Sort full representations in place by the query's `sortBy`.
pub fn sort(
    kind: ResourceKind,
    resources: &mut [Map<String, Value>],
    by: &AttrPath,
    order: SortOrder,
) {
    let case_exact = kind.case_exact(by.uri.as_deref(), &by.name, by.sub.as_deref());
    resources.sort_by(|a, b| {
        let o = compare_sort_values(sort_value(a, by), sort_value(b, by), case_exact);
        match order {
            SortOrder::Ascending => o,
            SortOrder::Descending => o.reverse(),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: ResourceKind, f: &str) -> Option<IndexKey> {
        index_key(kind, &filter::parse(f).expect("filter"))
    }

    #[test]
    fn indexed_filters() {
        use IndexKey::*;
        let u = ResourceKind::User;
        let g = ResourceKind::Group;
        let cases: Vec<(ResourceKind, &str, Option<IndexKey>)> = vec![
            (
                u,
                r#"userName eq "Ann@X.com""#,
                Some(NameLc("ann@x.com".into())),
            ),
            (u, r#"USERNAME EQ "a""#, Some(NameLc("a".into()))),
            (
                u,
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a""#,
                Some(NameLc("a".into())),
            ),
            (u, r#"externalId eq "E1""#, Some(ExternalId("E1".into()))),
            (u, r#"id eq "x""#, Some(Id("x".into()))),
            (u, r#"emails.value eq "A@x""#, Some(EmailLc("a@x".into()))),
            (
                u,
                r#"emails[type eq "work" and value eq "A@x"]"#,
                Some(EmailLc("a@x".into())),
            ),
            (u, r#"displayName eq "Ann""#, Some(DisplayLc("ann".into()))),
            // Entra's matching-attribute form, read as a value path.
            (
                u,
                r#"emails[type eq "work"].value eq "A@x""#,
                Some(EmailLc("a@x".into())),
            ),
            (
                g,
                r#"displayName eq "Admins""#,
                Some(NameLc("admins".into())),
            ),
            (
                u,
                r#"active eq true and userName eq "a""#,
                Some(NameLc("a".into())),
            ),
            (u, r#"userName eq "a" or userName eq "b""#, None),
            (u, r#"userName co "a""#, None),
            (u, r#"not (userName eq "a")"#, None),
            (g, r#"userName eq "a""#, None),
        ];
        for (kind, f, want) in cases {
            assert_eq!(key(kind, f), want, "{f}");
        }
    }

    #[test]
    fn entra_value_path_with_sub_attribute_matches_like_the_bracket_form() {
        use crate::scim::filter::matches;
        let user = serde_json::json!({"emails": [
            {"value": "home@x.com", "type": "home"},
            {"value": "work@x.com", "type": "work"}]});
        let dotted =
            filter::parse(r#"emails[type eq "work"].value eq "WORK@x.com""#).expect("parses");
        let bracket =
            filter::parse(r#"emails[type eq "work" and value eq "WORK@x.com"]"#).expect("parses");
        assert_eq!(dotted, bracket);
        assert!(matches(&dotted, &user, &ResourceKind::User));
        let wrong =
            filter::parse(r#"emails[type eq "work"].value eq "home@x.com""#).expect("parses");
        assert!(!matches(&wrong, &user, &ResourceKind::User));
        assert!(filter::parse(r#"emails[type eq "work"]. eq "x""#).is_err());
    }

    #[test]
    fn paging_parameters_are_clamped() {
        let mut p = HashMap::new();
        p.insert("startIndex".to_owned(), "-4".to_owned());
        p.insert("COUNT".to_owned(), "5000".to_owned());
        let q = ListQuery::from_params(&p, 1000).expect("valid");
        assert_eq!((q.start_index, q.count), (1, 1000));
        p.insert("COUNT".to_owned(), "-1".to_owned());
        assert_eq!(ListQuery::from_params(&p, 1000).expect("valid").count, 0);
        p.insert("sortOrder".to_owned(), "sideways".to_owned());
        assert!(ListQuery::from_params(&p, 1000).is_err());
    }

    #[test]
    fn a_bad_filter_is_invalid_filter() {
        let mut p = HashMap::new();
        p.insert("filter".to_owned(), "userName eq".to_owned());
        let e = ListQuery::from_params(&p, 10).expect_err("invalid");
        assert_eq!(
            e.scim_type,
            Some(crate::scim::error::ScimType::InvalidFilter)
        );
    }
}
