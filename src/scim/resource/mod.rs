//! Resource documents: canonical form, projection and sorting.
//!
//! A stored resource is a JSON object whose attribute names are spelled as in
//! the schema, whose values have the schema's types, and which holds neither
//! read-only attributes (`id`, `meta`, `groups`: the server computes them) nor
//! `password` (accepted on write, never stored). Unknown attributes inside an
//! unregistered extension URN are kept as sent. [`normalize`] is the only way
//! into that form; [`project`] applies `attributes`/`excludedAttributes` and the
//! `returned` characteristic on the way out. Pure: no I/O.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{AttrPath, EvalContext};
use super::schema::{AttrType, AttributeDef, Mutability, ResourceKind, Returned};

/// Case-insensitive key lookup in a JSON object.
pub fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The key actually used in `obj` for `key`, compared case-insensitively.
pub fn key_ci(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()
}

impl EvalContext for ResourceKind {
    fn case_exact(&self, uri: Option<&str>, name: &str, sub: Option<&str>) -> bool {
        let Some(def) = self.attribute(uri, name) else {
            return false;
        };
        match sub {
            Some(s) => def.sub(s).is_some_and(|d| d.case_exact),
            None => def.case_exact,
        }
    }
}

/// Bring a client-supplied resource into canonical form.
///
/// Read-only attributes and `password` are dropped, as RFC 7644 section 3.3
/// says a server ignores read-only values on create and replace. Unknown
/// attributes of the core schema are dropped; unknown extension URNs are kept.
pub fn normalize(kind: ResourceKind, input: &Value) -> Result<Map<String, Value>, ScimError> {
    let obj = input
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the resource must be a JSON object"))?;
    check_schemas(kind, obj)?;
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if is_urn_key(key) {
            normalize_urn_key(kind, key, value, &mut out)?;
            continue;
        }
        let Some(def) = kind.attribute(None, key) else {
            tracing::debug!(attribute = %key, "ignoring an attribute that is not in the schema");
            continue;
        };
        put(&mut out, def, value)?;
    }
    check_required(kind, &out)?;
    if kind == ResourceKind::User {
        check_identifiers(&out)?;
    }
    out.insert("schemas".into(), Value::Array(schemas_for(kind, &out)));
    Ok(out)
}

/// `userName` and the email values identify a person to the IdP and to
/// Snyk: one with a control character (CR, LF, NUL, ESC, ...) is refused,
/// never stored nor sent on.
fn check_identifiers(doc: &Map<String, Value>) -> Result<(), ScimError> {
    let has_control = |v: &Value| v.as_str().is_some_and(|s| s.chars().any(char::is_control));
    if doc.get("userName").is_some_and(has_control) {
        return Err(ScimError::invalid_value(
            "userName contains a control character",
        ));
    }
    if let Some(Value::Array(emails)) = doc.get("emails") {
        for (i, e) in emails.iter().enumerate() {
            if e.get("value").is_some_and(has_control) {
                return Err(ScimError::invalid_value(format!(
                    "emails[{i}].value contains a control character"
                )));
            }
        }
    }
    Ok(())
}

/// An attribute key that names a schema (`urn:…`). Never slices inside a
/// character (found by fuzzing: `key[..4]` panicked on a multi-byte key).
fn is_urn_key(key: &str) -> bool {
    key.len() > 4 && key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// Sort `schemas` out of the way: it must name the core schema when present.
fn check_schemas(kind: ResourceKind, obj: &Map<String, Value>) -> Result<(), ScimError> {
    let Some(schemas) = get_ci(obj, "schemas") else {
        return Ok(());
    };
    let list = schemas
        .as_array()
        .ok_or_else(|| ScimError::invalid_syntax("schemas must be an array of URNs"))?;
    let names_core = list.iter().any(|s| {
        s.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(kind.core().id))
    });
    if !names_core {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must include {}",
            kind.core().id
        )));
    }
    Ok(())
}

/// A top-level key starting with `urn:`: a whole extension object, a core
/// attribute written with its schema URN, or an extension attribute written as
/// `urn:...:attr` (Entra's aadOptscim062020 dialect does both).
fn normalize_urn_key(
    kind: ResourceKind,
    key: &str,
    value: &Value,
    out: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    if let Some(ext) = kind.extension(key) {
        if value.is_null() {
            return Ok(());
        }
        let inner = value
            .as_object()
            .ok_or_else(|| ScimError::invalid_value(format!("{} must be an object", ext.id)))?;
        for (k, v) in inner {
            match ext.attribute(k) {
                Some(def) => {
                    let slot = out
                        .entry(ext.id.to_owned())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Some(m) = slot.as_object_mut() {
                        put(m, def, v)?;
                    }
                }
                None => {
                    tracing::debug!(attribute = %k, schema = ext.id, "ignoring an unknown extension attribute");
                }
            }
        }
        if out
            .get(ext.id)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            out.remove(ext.id);
        }
        return Ok(());
    }
    if key.eq_ignore_ascii_case(kind.core().id) {
        // A core-schema object: its members are core attributes.
        if let Some(inner) = value.as_object() {
            for (k, v) in inner {
                if let Some(def) = kind.attribute(None, k) {
                    put(out, def, v)?;
                }
            }
        }
        return Ok(());
    }
    if let Ok(path) = AttrPath::parse(key)
        && let Some(uri) = path.uri.as_deref()
        && let Some(def) = kind.attribute(Some(uri), &path.name)
    {
        let target_schema = kind.extension(uri).map(|s| s.id);
        let mut v = value.clone();
        if let Some(sub) = &path.sub {
            let mut m = Map::new();
            m.insert(sub.clone(), v);
            v = Value::Object(m);
        }
        return match target_schema {
            Some(ext) => {
                let slot = out
                    .entry(ext.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                match slot.as_object_mut() {
                    Some(m) => merge_put(m, def, &v),
                    None => Ok(()),
                }
            }
            None => merge_put(out, def, &v),
        };
    }
    // An unregistered extension: kept verbatim.
    if !value.is_null() {
        out.insert(key.to_owned(), value.clone());
    }
    Ok(())
}

/// `put`, but a complex singular value is merged with what is there.
fn merge_put(out: &mut Map<String, Value>, def: &AttributeDef, v: &Value) -> Result<(), ScimError> {
    if def.is_complex()
        && !def.multi_valued
        && let (Some(Value::Object(existing)), Some(new)) =
            (out.get(def.name).cloned(), v.as_object())
    {
        let mut merged = existing;
        for (k, v) in new {
            merged.insert(k.clone(), v.clone());
        }
        return put(out, def, &Value::Object(merged));
    }
    put(out, def, v)
}

/// Store `value` under the attribute's canonical name, coerced to its type.
fn put(out: &mut Map<String, Value>, def: &AttributeDef, value: &Value) -> Result<(), ScimError> {
    if matches!(def.mutability, Mutability::ReadOnly | Mutability::WriteOnly) {
        // id, meta, groups, password: never part of the stored document.
        return Ok(());
    }
    match coerce_attribute(def, value)? {
        Some(v) => {
            out.insert(def.name.to_owned(), v);
        }
        None => {
            out.remove(def.name);
        }
    }
    Ok(())
}

/// A hash of a JSON value that agrees with `Value`'s equality (object keys
/// in any order hash the same).
fn value_hash(v: &Value) -> u64 {
    fn feed(v: &Value, h: &mut impl Hasher) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.to_string()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(a) => {
                (4u8, a.len()).hash(h);
                a.iter().for_each(|x| feed(x, h));
            }
            Value::Object(m) => {
                (5u8, m.len()).hash(h);
                // Order-independent: combine the entries' own hashes.
                let mut sum = 0u64;
                for (k, x) in m {
                    let mut e = DefaultHasher::new();
                    k.hash(&mut e);
                    feed(x, &mut e);
                    sum = sum.wrapping_add(e.finish());
                }
                sum.hash(h);
            }
        }
    }
    let mut h = DefaultHasher::new();
    feed(v, &mut h);
    h.finish()
}

/// Coerce a whole attribute value; `None` means unassigned.
pub fn coerce_attribute(def: &AttributeDef, value: &Value) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if def.multi_valued {
        let Value::Array(items) = value else {
            return Err(ScimError::invalid_value(format!(
                "{} is multi-valued: its value must be an array",
                def.name
            )));
        };
        let mut out: Vec<Value> = Vec::with_capacity(items.len());
        // Duplicates are dropped; candidates are found by hash so that a
        // group of thousands of members is not compared pairwise.
        let mut seen: HashMap<u64, Vec<usize>> = HashMap::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(def, item, def.name)? {
                let bucket = seen.entry(value_hash(&v)).or_default();
                if !bucket.iter().any(|&i| out[i] == v) {
                    bucket.push(out.len());
                    out.push(v);
                }
            }
        }
        if def.is_complex() {
            keep_one_primary(&mut out);
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    if value.is_array() {
        return Err(ScimError::invalid_value(format!(
            "{} is single-valued; an array was given",
            def.name
        )));
    }
    coerce_single(def, value, def.name)
}

fn coerce_single(
    def: &AttributeDef,
    value: &Value,
    what: &str,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if !def.is_complex() {
        return coerce_simple(def.kind, value, what).map(Some);
    }
    // Entra may send a bare id for a complex attribute with a `value`
    // sub-attribute (the enterprise `manager`): read it as {"value": id}.
    let wrapped;
    let value = match value {
        Value::String(_) if !def.multi_valued && def.sub("value").is_some() => {
            wrapped = serde_json::json!({ "value": value });
            &wrapped
        }
        other => other,
    };
    let obj = value.as_object().ok_or_else(|| {
        ScimError::invalid_value(format!("{what} must be an object with sub-attributes"))
    })?;
    let mut out = Map::new();
    for (k, v) in obj {
        let Some(sub) = def.sub(k) else {
            continue;
        };
        if sub.mutability == Mutability::ReadOnly && def.name != "members" {
            continue;
        }
        if v.is_null() {
            continue;
        }
        let label = format!("{what}.{}", sub.name);
        if v.is_array() {
            return Err(ScimError::invalid_value(format!(
                "{label} must not be an array"
            )));
        }
        out.insert(sub.name.to_owned(), coerce_simple(sub.kind, v, &label)?);
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn coerce_simple(kind: AttrType, value: &Value, what: &str) -> Result<Value, ScimError> {
    let wrong = |expected: &str| {
        ScimError::invalid_value(format!(
            "{what} must be {expected}; got {}",
            type_name(value)
        ))
    };
    match kind {
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(_) => Ok(value.clone()),
            _ => Err(wrong("a string")),
        },
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(value.clone()),
            // Entra's default PATCH dialect sends "True"/"False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong("a boolean")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(value.clone()),
            _ => Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(value.clone()),
            _ => Err(wrong("a number")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
                Ok(value.clone())
            }
            _ => Err(wrong("an RFC 3339 date-time string")),
        },
        AttrType::Complex => Err(wrong("a simple value")),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// At most one value of a multi-valued attribute is primary: the first one wins.
fn keep_one_primary(values: &mut [Value]) {
    let mut seen = false;
    for v in values.iter_mut() {
        if let Some(o) = v.as_object_mut()
            && o.get("primary") == Some(&Value::Bool(true))
        {
            if seen {
                o.insert("primary".into(), Value::Bool(false));
            }
            seen = true;
        }
    }
}

fn check_required(kind: ResourceKind, out: &Map<String, Value>) -> Result<(), ScimError> {
    for def in kind.core().attributes.iter().filter(|d| d.required) {
        let present = match out.get(def.name) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
            None => false,
        };
        if !present {
            return Err(ScimError::invalid_value(format!(
                "{} is required",
                def.name
            )));
        }
    }
    Ok(())
}

/// The `schemas` list: the core schema and every extension present.
fn schemas_for(kind: ResourceKind, out: &Map<String, Value>) -> Vec<Value> {
    let mut schemas = vec![Value::String(kind.core().id.to_owned())];
    for key in out.keys() {
        if is_urn_key(key) {
            schemas.push(Value::String(key.clone()));
        }
    }
    schemas
}

/// Which attributes a response carries (RFC 7644 section 3.4.2.5).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

impl Projection {
    /// Parse the comma-separated query parameters.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        Ok(Self {
            attributes: parse_path_list(attributes)?,
            excluded: parse_path_list(excluded)?,
        })
    }

    pub fn from_lists(attributes: &[String], excluded: &[String]) -> Result<Self, ScimError> {
        let parse = |l: &[String]| -> Result<Vec<AttrPath>, ScimError> {
            l.iter().map(|s| parse_one_path(s)).collect()
        };
        Ok(Self {
            attributes: parse(attributes)?,
            excluded: parse(excluded)?,
        })
    }

    /// True when `members` is asked to be left out (saves loading members).
    pub fn excludes(&self, kind: ResourceKind, name: &str) -> bool {
        let named = |p: &AttrPath| {
            p.sub.is_none()
                && p.name.eq_ignore_ascii_case(name)
                && is_core_uri(kind, p.uri.as_deref())
        };
        if self.excluded.iter().any(named) {
            return true;
        }
        !self.attributes.is_empty()
            && !self
                .attributes
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(name) && is_core_uri(kind, p.uri.as_deref()))
    }
}

fn is_core_uri(kind: ResourceKind, uri: Option<&str>) -> bool {
    uri.is_none_or(|u| u.eq_ignore_ascii_case(kind.core().id))
}

fn parse_path_list(list: Option<&str>) -> Result<Vec<AttrPath>, ScimError> {
    list.map(|l| {
        l.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_one_path)
            .collect()
    })
    .unwrap_or_else(|| Ok(Vec::new()))
}

fn parse_one_path(s: &str) -> Result<AttrPath, ScimError> {
    AttrPath::parse(s.trim())
        .map_err(|e| ScimError::invalid_path(format!("{s:?} is not an attribute path: {e}")))
}

/// Does this path name a whole extension schema (`urn:...:2.0:User`)?
fn whole_extension(kind: ResourceKind, p: &AttrPath) -> Option<&'static str> {
    let uri = p.uri.as_deref()?;
    if p.sub.is_some() {
        return None;
    }
    let full = format!("{uri}:{}", p.name);
    kind.extension(&full).map(|s| s.id)
}

/// Apply the projection and the `returned` rules to a full resource
/// representation (with `id`, `meta`, `schemas`).
pub fn project(
    kind: ResourceKind,
    full: &Map<String, Value>,
    projection: &Projection,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in full {
        if key == "schemas" || key == "id" {
            out.insert(key.clone(), value.clone());
            continue;
        }
        if let Some(ext) = kind.extension(key) {
            if let Some(inner) = value.as_object() {
                let kept = project_extension(kind, ext.id, inner, projection);
                if !kept.is_empty() {
                    out.insert(key.clone(), Value::Object(kept));
                }
            }
            continue;
        }
        let def = kind.attribute(None, key);
        if let Some(v) = project_attribute(kind, None, key, def, value, projection) {
            out.insert(key.clone(), v);
        }
    }
    out
}

fn project_extension(
    kind: ResourceKind,
    ext: &'static str,
    inner: &Map<String, Value>,
    projection: &Projection,
) -> Map<String, Value> {
    let whole_named =
        |list: &[AttrPath]| list.iter().any(|p| whole_extension(kind, p) == Some(ext));
    if whole_named(&projection.excluded) {
        return Map::new();
    }
    let as_requested = if whole_named(&projection.attributes) {
        Projection {
            attributes: Vec::new(),
            excluded: projection.excluded.clone(),
        }
    } else {
        projection.clone()
    };
    let mut out = Map::new();
    for (k, v) in inner {
        let def = kind.attribute(Some(ext), k);
        if let Some(v) = project_attribute(kind, Some(ext), k, def, v, &as_requested) {
            out.insert(k.clone(), v);
        }
    }
    out
}

fn path_matches(kind: ResourceKind, p: &AttrPath, uri: Option<&str>, name: &str) -> bool {
    if !p.name.eq_ignore_ascii_case(name) {
        return false;
    }
    match (p.uri.as_deref(), uri) {
        (None, None) => true,
        (Some(pu), None) => pu.eq_ignore_ascii_case(kind.core().id),
        (Some(pu), Some(u)) => pu.eq_ignore_ascii_case(u),
        // Extension attributes may be named without their URN when unambiguous.
        (None, Some(_)) => kind.attribute(None, name).is_none(),
    }
}

fn project_attribute(
    kind: ResourceKind,
    uri: Option<&str>,
    name: &str,
    def: Option<&AttributeDef>,
    value: &Value,
    projection: &Projection,
) -> Option<Value> {
    let returned = def.map_or(Returned::Default, |d| d.returned);
    match returned {
        Returned::Never => return None,
        Returned::Always => return Some(value.clone()),
        Returned::Default | Returned::Request => {}
    }
    let excluded_whole = projection
        .excluded
        .iter()
        .any(|p| p.sub.is_none() && path_matches(kind, p, uri, name));
    if excluded_whole {
        return None;
    }
    let mut v = if projection.attributes.is_empty() {
        if returned == Returned::Request {
            return None;
        }
        value.clone()
    } else {
        let asked: Vec<&AttrPath> = projection
            .attributes
            .iter()
            .filter(|p| path_matches(kind, p, uri, name))
            .collect();
        if asked.is_empty() {
            return None;
        }
        if asked.iter().any(|p| p.sub.is_none()) {
            value.clone()
        } else {
            let subs: Vec<&str> = asked.iter().filter_map(|p| p.sub.as_deref()).collect();
            keep_subs(value, &subs)?
        }
    };
    let excluded_subs: Vec<&str> = projection
        .excluded
        .iter()
        .filter(|p| path_matches(kind, p, uri, name))
        .filter_map(|p| p.sub.as_deref())
        .collect();
    if !excluded_subs.is_empty() {
        v = drop_subs(&v, &excluded_subs)?;
    }
    Some(v)
}

type ObjectMap<'a> = &'a dyn Fn(&Map<String, Value>) -> Map<String, Value>;

fn map_objects(value: &Value, f: ObjectMap<'_>) -> Option<Value> {
    match value {
        Value::Object(o) => {
            let m = f(o);
            (!m.is_empty()).then_some(Value::Object(m))
        }
        Value::Array(a) => {
            let items: Vec<Value> = a
                .iter()
                .filter_map(|i| i.as_object().map(f))
                .filter(|m| !m.is_empty())
                .map(Value::Object)
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        _ => None,
    }
}

fn keep_subs(value: &Value, subs: &[&str]) -> Option<Value> {
    map_objects(value, &|o| {
        o.iter()
            .filter(|(k, _)| subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

fn drop_subs(value: &Value, subs: &[&str]) -> Option<Value> {
    map_objects(value, &|o| {
        o.iter()
            .filter(|(k, _)| !subs.iter().any(|s| s.eq_ignore_ascii_case(k)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    })
}

/// The value a resource sorts by for `sortBy` (RFC 7644 section 3.4.2.3):
/// for a multi-valued attribute, the primary value, else the first.
pub fn sort_value<'a>(resource: &'a Map<String, Value>, path: &AttrPath) -> Option<&'a Value> {
    let holder = match path.uri.as_deref() {
        Some(u) => match get_ci(resource, u) {
            Some(Value::Object(o)) => o,
            _ => resource,
        },
        None => resource,
    };
    let v = get_ci(holder, &path.name)?;
    let v = match v {
        Value::Array(items) => items
            .iter()
            .find(|i| i.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| items.first())?,
        other => other,
    };
    let v = match (&path.sub, v) {
        (Some(sub), Value::Object(o)) => get_ci(o, sub)?,
        (None, Value::Object(o)) => get_ci(o, "value")?,
        (_, other) => other,
    };
    (!v.is_null()).then_some(v)
}

/// Compare two sort values; missing values sort last in ascending order.
pub fn compare_sort_values(a: Option<&Value>, b: Option<&Value>, case_exact: bool) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => compare_values(a, b, case_exact),
    }
}

fn compare_values(a: &Value, b: &Value, case_exact: bool) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            if let (Ok(dx), Ok(dy)) = (
                chrono::DateTime::parse_from_rfc3339(x),
                chrono::DateTime::parse_from_rfc3339(y),
            ) {
                return dx.cmp(&dy);
            }
            if case_exact {
                x.cmp(y)
            } else {
                x.to_lowercase().cmp(&y.to_lowercase())
            }
        }
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests;
