//! The PATCH engine (RFC 7644 section 3.5.2), with the dialects real IdPs send.
//!
//! [`parse`] turns a PatchOp body into [`Operation`]s; [`apply`] applies them,
//! all or nothing, to a canonical resource document (see `scim::resource`).
//! Accepted besides the RFC: capitalised `op` values and `"True"`/`"False"`
//! strings (Entra's default dialect), members removed by a `value` array
//! (Entra), one no-path op whose value object has dotted and URN keys (Entra's
//! aadOptscim062020), no-path `{"active": false}` (Okta), and read-only `id`
//! inside a no-path replace value (Okta's group rename), which is ignored.
//! Pure: no I/O. The caller re-normalises the document afterwards, which
//! coerces types and checks required attributes.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, CompValue, CompareOp, EvalContext, Filter, PatchPath};
use super::resource::{coerce_attribute, get_ci, key_ci};
use super::schema::{AttributeDef, Mutability, PATCH_OP, ResourceKind};

pub mod members;

/// Most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// Parse a PatchOp request body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body must be a JSON object"))?;
    if let Some(schemas) = get_ci(obj, "schemas") {
        let ok = schemas
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(PATCH_OP)));
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must be [\"{PATCH_OP}\"]"
            )));
        }
    }
    let ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be an array"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("Operations must not be empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::new(
            413,
            Some(super::error::ScimType::TooMany),
            format!("at most {MAX_OPERATIONS} operations per PATCH"),
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, o)| parse_one(i, o))
        .collect()
}

fn parse_one(i: usize, op: &Value) -> Result<Operation, ScimError> {
    let obj = op
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{i}] must be an object")))?;
    let kind = match get_ci(obj, "op")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
    {
        Some(s) if s == "add" => OpKind::Add,
        Some(s) if s == "replace" => OpKind::Replace,
        Some(s) if s == "remove" => OpKind::Remove,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].op must be add, replace or remove"
            )));
        }
    };
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(
            filter::parse_patch_path(s.trim())
                .map_err(|e| ScimError::invalid_path(format!("Operations[{i}].path {s:?}: {e}")))?,
        ),
        Some(_) => {
            return Err(ScimError::invalid_path(format!(
                "Operations[{i}].path must be a string"
            )));
        }
    };
    let value = get_ci(obj, "value").cloned();
    match (kind, &path, &value) {
        (OpKind::Remove, None, _) => Err(ScimError::no_target(format!(
            "Operations[{i}]: remove needs a path"
        ))),
        (OpKind::Add | OpKind::Replace, _, None) => Err(ScimError::invalid_value(format!(
            "Operations[{i}]: {} needs a value",
            if kind == OpKind::Add {
                "add"
            } else {
                "replace"
            }
        ))),
        (OpKind::Add | OpKind::Replace, None, Some(v)) if !v.is_object() => {
            Err(ScimError::invalid_value(format!(
                "Operations[{i}]: without a path the value must be an object of attributes"
            )))
        }
        _ => Ok(Operation {
            op: kind,
            path,
            value,
        }),
    }
}

/// Apply operations in order to `doc`; on error `doc` is left untouched.
pub fn apply(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    ops: &[Operation],
) -> Result<(), ScimError> {
    let mut work = doc.clone();
    for op in ops {
        apply_one(kind, &mut work, op)?;
    }
    *doc = work;
    Ok(())
}

fn apply_one(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    op: &Operation,
) -> Result<(), ScimError> {
    match (&op.path, &op.value) {
        (None, Some(Value::Object(values))) => {
            for (key, v) in values {
                apply_keyed(kind, doc, op.op, key, v)?;
            }
            Ok(())
        }
        (None, _) => Err(ScimError::invalid_value(
            "a value object is required without a path",
        )),
        (Some(path), value) if whole_extension(kind, path).is_some() => apply_whole_extension(
            kind,
            doc,
            op.op,
            whole_extension(kind, path),
            value.as_ref(),
        ),
        (Some(path), value) if unregistered_extension(kind, path).is_some() => apply_unregistered(
            doc,
            op.op,
            path,
            unregistered_extension(kind, path),
            value.as_ref(),
        ),
        (Some(path), value) => {
            let target = Target::resolve(kind, path)?;
            target.check_mutability(op.op)?;
            target.apply(doc, op.op, value.as_ref())
        }
    }
}

/// The URN of a path into an extension this server does not know (kept
/// verbatim, as on create): `urn:example:custom:2.0:User:costCode`.
fn unregistered_extension(kind: ResourceKind, path: &PatchPath) -> Option<String> {
    let uri = path.attr.uri.as_deref()?;
    let known = uri.eq_ignore_ascii_case(kind.core().id) || kind.extension(uri).is_some();
    let whole = kind
        .extension(&format!("{uri}:{}", path.attr.name))
        .is_some();
    (!known && !whole && path.filter.is_none() && path.sub_after_filter.is_none())
        .then(|| uri.to_owned())
}

/// Set or remove `name` (or `name.sub`) inside an unregistered extension object.
fn apply_unregistered(
    doc: &mut Map<String, Value>,
    op: OpKind,
    path: &PatchPath,
    uri: Option<String>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(uri) = uri else { return Ok(()) };
    let key = key_ci(doc, &uri).unwrap_or(uri);
    if op != OpKind::Remove && !doc.contains_key(&key) {
        doc.insert(key.clone(), Value::Object(Map::new()));
    }
    let Some(Value::Object(ext)) = doc.get_mut(&key) else {
        return Ok(());
    };
    let name = key_ci(ext, &path.attr.name).unwrap_or_else(|| path.attr.name.clone());
    match (&path.attr.sub, op) {
        (None, OpKind::Remove) => {
            ext.remove(&name);
        }
        (None, _) => {
            ext.insert(name, value.cloned().unwrap_or(Value::Null));
        }
        (Some(sub), OpKind::Remove) => {
            if let Some(Value::Object(inner)) = ext.get_mut(&name)
                && let Some(k) = key_ci(inner, sub)
            {
                inner.remove(&k);
            }
        }
        (Some(sub), _) => {
            let slot = ext.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(inner) = slot {
                inner.insert(sub.clone(), value.cloned().unwrap_or(Value::Null));
            }
        }
    }
    if ext.is_empty() {
        doc.remove(&key);
    }
    Ok(())
}

/// A path that names a whole extension schema, e.g.
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
fn whole_extension(kind: ResourceKind, path: &PatchPath) -> Option<&'static str> {
    let attr = &path.attr;
    if attr.sub.is_some() || path.filter.is_some() || path.sub_after_filter.is_some() {
        return None;
    }
    let uri = attr.uri.as_deref()?;
    kind.extension(&format!("{uri}:{}", attr.name))
        .map(|s| s.id)
}

fn apply_whole_extension(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    op: OpKind,
    ext: Option<&'static str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(ext) = ext else { return Ok(()) };
    if op == OpKind::Remove {
        if let Some(k) = key_ci(doc, ext) {
            doc.remove(&k);
        }
        return Ok(());
    }
    let Some(Value::Object(values)) = value else {
        return Err(ScimError::invalid_value(format!(
            "the value for {ext} must be an object"
        )));
    };
    if op == OpKind::Replace
        && let Some(k) = key_ci(doc, ext)
    {
        doc.remove(&k);
    }
    for (k, v) in values {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        apply_keyed(kind, doc, op, &format!("{ext}:{k}"), v)?;
    }
    Ok(())
}

/// One key of a no-path value object: a plain attribute, an extension object,
/// or (Entra) a dotted / URN-prefixed path.
fn apply_keyed(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    op: OpKind,
    key: &str,
    v: &Value,
) -> Result<(), ScimError> {
    if key.eq_ignore_ascii_case("schemas") {
        return Ok(());
    }
    if let Some(ext) = kind.extension(key) {
        let Some(inner) = v.as_object() else {
            return Err(ScimError::invalid_value(format!(
                "{} must be an object",
                ext.id
            )));
        };
        for (k, iv) in inner {
            if k.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let path = format!("{}:{k}", ext.id);
            apply_keyed(kind, doc, op, &path, iv)?;
        }
        return Ok(());
    }
    if key.eq_ignore_ascii_case(kind.core().id) {
        // A core-schema object: its members are core attributes.
        let Some(inner) = v.as_object() else {
            return Err(ScimError::invalid_value(format!("{key} must be an object")));
        };
        for (k, iv) in inner {
            apply_keyed(kind, doc, op, k, iv)?;
        }
        return Ok(());
    }
    let path = filter::parse_patch_path(key)
        .map_err(|e| ScimError::invalid_path(format!("attribute {key:?}: {e}")))?;
    if let Some(uri) = unregistered_extension(kind, &path) {
        if v.is_object() {
            // A whole object under an unregistered URN: kept verbatim, as on create.
            let slot = key_ci(doc, key).unwrap_or_else(|| key.to_owned());
            match (op, doc.get_mut(&slot), v) {
                (OpKind::Add, Some(Value::Object(existing)), Value::Object(new)) => {
                    for (k, nv) in new {
                        existing.insert(k.clone(), nv.clone());
                    }
                }
                _ => {
                    doc.insert(slot, v.clone());
                }
            }
            return Ok(());
        }
        return apply_unregistered(doc, op, &path, Some(uri), Some(v));
    }
    let target = match Target::resolve(kind, &path) {
        Ok(t) => t,
        Err(e) if path.filter.is_none() && path.sub_after_filter.is_none() => {
            // Unknown attribute in a value object: ignored, as on create.
            tracing::debug!(attribute = %key, error = %e.detail, "PATCH ignores an unknown attribute");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if matches!(target.def.map(|d| d.mutability), Some(Mutability::ReadOnly)) {
        // Okta sends {"id": ..., "displayName": ...} to rename a group.
        return Ok(());
    }
    target.apply(doc, op, Some(v))
}

/// A resolved PATCH target.
struct Target<'p> {
    /// The extension object holding the attribute, if any.
    container: Option<&'static str>,
    /// The attribute key for unknown extension attributes (no definition).
    name: String,
    def: Option<&'static AttributeDef>,
    sub: Option<&'static AttributeDef>,
    filter: Option<&'p Filter>,
}

impl<'p> Target<'p> {
    fn resolve(kind: ResourceKind, path: &'p PatchPath) -> Result<Self, ScimError> {
        let attr = &path.attr;
        let uri = attr.uri.as_deref();
        let container = match uri {
            None => None,
            Some(u) if u.eq_ignore_ascii_case(kind.core().id) => None,
            Some(u) => match kind.extension(u) {
                Some(ext) => Some(ext.id),
                None => {
                    return Err(ScimError::invalid_path(format!(
                        "{u} is not a schema of {}",
                        kind.name()
                    )));
                }
            },
        };
        let def = kind.attribute(uri, &attr.name).ok_or_else(|| {
            ScimError::invalid_path(format!("{} has no attribute {:?}", kind.name(), attr.name))
        })?;
        let sub_name = match (&attr.sub, &path.sub_after_filter) {
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_path(
                    "a path has at most one sub-attribute",
                ));
            }
            (Some(s), None) | (None, Some(s)) => Some(s),
            (None, None) => None,
        };
        let sub = match sub_name {
            None => None,
            Some(s) => Some(def.sub(s).ok_or_else(|| {
                ScimError::invalid_path(format!("{} has no sub-attribute {s:?}", def.name))
            })?),
        };
        if path.filter.is_some() && !def.multi_valued {
            return Err(ScimError::invalid_path(format!(
                "{} is single-valued: a value filter cannot select from it",
                def.name
            )));
        }
        Ok(Self {
            container,
            name: def.name.to_owned(),
            def: Some(def),
            sub,
            filter: path.filter.as_ref(),
        })
    }

    fn check_mutability(&self, op: OpKind) -> Result<(), ScimError> {
        let m = match (self.sub, self.def) {
            (Some(s), Some(d)) if d.mutability == Mutability::ReadWrite => s.mutability,
            (_, Some(d)) => d.mutability,
            (_, None) => Mutability::ReadWrite,
        };
        match m {
            Mutability::ReadOnly => Err(ScimError::mutability(format!(
                "{} is read-only",
                self.label()
            ))),
            Mutability::Immutable if op != OpKind::Add && self.sub.is_some() => Err(
                ScimError::mutability(format!("{} is immutable", self.label())),
            ),
            Mutability::Immutable | Mutability::ReadWrite | Mutability::WriteOnly => Ok(()),
        }
    }

    fn label(&self) -> String {
        match self.sub {
            Some(s) => format!("{}.{}", self.name, s.name),
            None => self.name.clone(),
        }
    }

    /// The object that holds the attribute, created when `create` is set.
    fn holder<'d>(
        &self,
        doc: &'d mut Map<String, Value>,
        create: bool,
    ) -> Option<&'d mut Map<String, Value>> {
        match self.container {
            None => Some(doc),
            Some(ext) => {
                let key = key_ci(doc, ext).unwrap_or_else(|| ext.to_owned());
                if create && !doc.contains_key(&key) {
                    doc.insert(key.clone(), Value::Object(Map::new()));
                }
                doc.get_mut(&key)?.as_object_mut()
            }
        }
    }

    fn apply(
        &self,
        doc: &mut Map<String, Value>,
        op: OpKind,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let Some(def) = self.def else {
            return Ok(());
        };
        if def.mutability == Mutability::WriteOnly {
            // password: accepted, never stored.
            return Ok(());
        }
        let create = op != OpKind::Remove;
        let Some(holder) = self.holder(doc, create) else {
            return Ok(());
        };
        let key = key_ci(holder, def.name).unwrap_or_else(|| def.name.to_owned());
        match (op, self.filter, self.sub, def.multi_valued) {
            (OpKind::Remove, None, None, true) if value.is_some() => {
                remove_listed(holder, &key, def, value);
                Ok(())
            }
            (OpKind::Remove, None, None, _) => {
                holder.remove(&key);
                Ok(())
            }
            (OpKind::Remove, None, Some(sub), false) => {
                if let Some(Value::Object(o)) = holder.get_mut(&key)
                    && let Some(k) = key_ci(o, sub.name)
                {
                    o.remove(&k);
                }
                Ok(())
            }
            (OpKind::Remove, None, Some(sub), true) => {
                for item in elements_mut(holder, &key) {
                    if let Some(k) = key_ci(item, sub.name) {
                        item.remove(&k);
                    }
                }
                Ok(())
            }
            (OpKind::Remove, Some(f), sub, _) => {
                let ctx = ElementCtx { def };
                match sub {
                    None => {
                        if let Some(Value::Array(items)) = holder.get_mut(&key) {
                            items.retain(|i| !filter::matches(f, i, &ctx));
                        }
                    }
                    Some(sub) => {
                        for item in elements_mut(holder, &key) {
                            if filter::matches(f, &Value::Object(item.clone()), &ctx)
                                && let Some(k) = key_ci(item, sub.name)
                            {
                                item.remove(&k);
                            }
                        }
                    }
                }
                Ok(())
            }
            (_, None, None, _) => set_whole(holder, &key, def, op, value),
            (_, None, Some(sub), false) => {
                let v = value.cloned().unwrap_or(Value::Null);
                let slot = holder
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(o) = slot {
                    let k = key_ci(o, sub.name).unwrap_or_else(|| sub.name.to_owned());
                    o.insert(k, v);
                }
                Ok(())
            }
            (_, None, Some(sub), true) => {
                let v = value.cloned().unwrap_or(Value::Null);
                let items = elements_mut(holder, &key);
                if items.is_empty() {
                    let mut m = Map::new();
                    m.insert(sub.name.to_owned(), v);
                    holder.insert(key, Value::Array(vec![Value::Object(m)]));
                } else {
                    for item in items {
                        item.insert(sub.name.to_owned(), v.clone());
                    }
                }
                Ok(())
            }
            (_, Some(f), sub, _) => set_filtered(holder, &key, def, f, sub, op, value),
        }
    }
}

/// The objects of a multi-valued complex attribute.
fn elements_mut<'a>(
    holder: &'a mut Map<String, Value>,
    key: &str,
) -> Vec<&'a mut Map<String, Value>> {
    match holder.get_mut(key) {
        Some(Value::Array(items)) => items.iter_mut().filter_map(Value::as_object_mut).collect(),
        _ => Vec::new(),
    }
}

/// Entra removes members with `{"op":"Remove","path":"members","value":[{"value":"id"}]}`.
fn remove_listed(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    value: Option<&Value>,
) {
    let listed: Vec<Value> = match value {
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    };
    let Some(Value::Array(items)) = holder.get_mut(key) else {
        return;
    };
    items.retain(|item| !listed.iter().any(|l| same_element(def, item, l)));
    if items.is_empty() {
        holder.remove(key);
    }
}

/// Two values of a multi-valued attribute are the same element when their
/// `value` sub-attributes are equal (case per schema), or when equal as JSON.
fn same_element(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    let value_of = |v: &Value| v.as_object().and_then(|o| get_ci(o, "value").cloned());
    match (value_of(a), value_of(b)) {
        (Some(Value::String(x)), Some(Value::String(y))) => {
            let exact = def.sub("value").is_some_and(|s| s.case_exact);
            if exact {
                x == y
            } else {
                x.to_lowercase() == y.to_lowercase()
            }
        }
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn set_whole(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let v = value.cloned().unwrap_or(Value::Null);
    if def.multi_valued {
        let new_items: Vec<Value> = match v {
            Value::Array(a) => a,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        if op == OpKind::Replace {
            holder.insert(key.to_owned(), Value::Array(new_items));
            return Ok(());
        }
        let slot = holder
            .entry(key.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            *slot = Value::Array(Vec::new());
        }
        if let Value::Array(items) = slot {
            for n in new_items {
                if new_primary(&n) {
                    clear_primary(items);
                }
                match items.iter_mut().find(|i| same_element(def, i, &n)) {
                    Some(existing) if def.is_complex() => merge_objects(existing, &n),
                    Some(_) => {}
                    None => items.push(n),
                }
            }
        }
        return Ok(());
    }
    if def.is_complex()
        && let (Some(Value::Object(existing)), Value::Object(new)) = (holder.get_mut(key), &v)
    {
        for (k, nv) in new {
            let ek = key_ci(existing, k).unwrap_or_else(|| k.clone());
            existing.insert(ek, nv.clone());
        }
        return Ok(());
    }
    holder.insert(key.to_owned(), v);
    Ok(())
}

fn merge_objects(existing: &mut Value, new: &Value) {
    if let (Value::Object(e), Value::Object(n)) = (existing, new) {
        for (k, v) in n {
            let ek = key_ci(e, k).unwrap_or_else(|| k.clone());
            e.insert(ek, v.clone());
        }
    }
}

fn new_primary(v: &Value) -> bool {
    v.as_object()
        .and_then(|o| get_ci(o, "primary"))
        .is_some_and(|p| {
            p == &Value::Bool(true) || p.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
        })
}

fn clear_primary(items: &mut [Value]) {
    for i in items.iter_mut().filter_map(Value::as_object_mut) {
        if let Some(k) = key_ci(i, "primary") {
            i.insert(k, Value::Bool(false));
        }
    }
}

fn set_filtered(
    holder: &mut Map<String, Value>,
    key: &str,
    def: &AttributeDef,
    f: &Filter,
    sub: Option<&AttributeDef>,
    op: OpKind,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let ctx = ElementCtx { def };
    let v = value.cloned().unwrap_or(Value::Null);
    let setting_primary = match sub {
        Some(s) => s.name == "primary" && coerce_bool(&v),
        None => new_primary(&v),
    };
    let slot = holder
        .entry(key.to_owned())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    let Value::Array(items) = slot else {
        return Ok(());
    };
    let matched: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, i)| filter::matches(f, i, &ctx))
        .map(|(n, _)| n)
        .collect();
    if setting_primary {
        for (n, item) in items.iter_mut().enumerate() {
            if !matched.contains(&n)
                && let Some(o) = item.as_object_mut()
                && let Some(k) = key_ci(o, "primary")
            {
                o.insert(k, Value::Bool(false));
            }
        }
    }
    if matched.is_empty() {
        // Entra sends `emails[type eq "work"].value` for a user with no work
        // email yet: build the element from the filter's equalities.
        let Some(mut element) = element_from_filter(f, def) else {
            return Err(ScimError::no_target(format!(
                "no value of {} matches the filter {f}",
                def.name
            )));
        };
        match sub {
            Some(s) => {
                element.insert(s.name.to_owned(), v);
            }
            None => {
                if let Value::Object(o) = &v {
                    for (k, nv) in o {
                        element.insert(k.clone(), nv.clone());
                    }
                }
            }
        }
        items.push(Value::Object(element));
        return Ok(());
    }
    for n in matched {
        let Some(item) = items.get_mut(n) else {
            continue;
        };
        match sub {
            Some(s) => {
                if let Some(o) = item.as_object_mut() {
                    let k = key_ci(o, s.name).unwrap_or_else(|| s.name.to_owned());
                    o.insert(k, v.clone());
                }
            }
            None if op == OpKind::Add => merge_objects(item, &v),
            None => *item = v.clone(),
        }
    }
    Ok(())
}

fn coerce_bool(v: &Value) -> bool {
    v == &Value::Bool(true) || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// `type eq "work"` (and-chains of equalities) become `{"type": "work"}`.
fn element_from_filter(f: &Filter, def: &AttributeDef) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    collect_equalities(f, def, &mut out)?;
    Some(out)
}

fn collect_equalities(f: &Filter, def: &AttributeDef, out: &mut Map<String, Value>) -> Option<()> {
    match f {
        Filter::And(a, b) => {
            collect_equalities(a, def, out)?;
            collect_equalities(b, def, out)
        }
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() && path.uri.is_none() => {
            let sub = def.sub(&path.name)?;
            let v = match value {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Num(n) => Value::Number(n.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Null => return None,
            };
            out.insert(sub.name.to_owned(), v);
            Some(())
        }
        _ => None,
    }
}

/// Evaluates a value filter against one element of a multi-valued attribute.
struct ElementCtx<'a> {
    def: &'a AttributeDef,
}

impl EvalContext for ElementCtx<'_> {
    fn case_exact(&self, _uri: Option<&str>, name: &str, sub: Option<&str>) -> bool {
        let inner = sub.unwrap_or(name);
        self.def.sub(inner).is_some_and(|s| s.case_exact)
    }
}

/// Re-check a patched value of one attribute (used by tests and callers that
/// want an early, precise error before whole-document normalisation).
pub fn check_value(def: &AttributeDef, value: &Value) -> Result<(), ScimError> {
    coerce_attribute(def, value).map(|_| ())
}

#[cfg(test)]
mod tests;
