//! `/Bulk` (RFC 7644 section 3.7): many operations in one request, with
//! `bulkId` references between them and `failOnErrors`.
//!
//! Each operation runs as its own use case (its own transaction), as the RFC
//! does not make a bulk request atomic. Operations whose data refers to a
//! `bulkId:` not yet created wait for it; references that never resolve
//! (unknown or circular) fail with 409.

use serde_json::{Map, Value, json};

use super::{IfMatch, ScimService, ServiceError};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::resource::get_ci;
use crate::scim::schema::{BULK_REQUEST, BULK_RESPONSE, ResourceKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

#[derive(Debug)]
struct BulkOp {
    method: Method,
    bulk_id: Option<String>,
    path: String,
    version: Option<String>,
    data: Option<Value>,
}

/// Run a bulk request; the error is for the request as a whole.
pub async fn run(
    service: &ScimService,
    body: &Value,
    max_operations: usize,
    base: &str,
) -> Result<Value, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the bulk request must be a JSON object"))?;
    let schemas_ok = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(BULK_REQUEST)));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must be [\"{BULK_REQUEST}\"]"
        )));
    }
    let fail_on_errors =
        match get_ci(obj, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                ScimError::invalid_value("failOnErrors must be a positive integer")
            })?),
        };
    let raw_ops = get_ci(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be an array"))?;
    if raw_ops.len() > max_operations {
        return Err(ScimError::new(
            413,
            Some(ScimType::TooMany),
            format!(
                "a bulk request may carry at most {max_operations} operations; this one has {}",
                raw_ops.len()
            ),
        ));
    }
    let ops: Vec<BulkOp> = raw_ops
        .iter()
        .enumerate()
        .map(|(i, o)| parse_op(i, o))
        .collect::<Result<_, _>>()?;
    // bulkIds name operations: two with one id would make references ambiguous.
    let mut seen = std::collections::HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        if let Some(b) = &op.bulk_id
            && !seen.insert(b.as_str())
        {
            return Err(ScimError::invalid_value(format!(
                "Operations[{i}].bulkId {b:?} is used by an earlier operation; each bulkId must be unique"
            )));
        }
    }

    let mut results: Vec<Option<Value>> = vec![None; ops.len()];
    let mut ids: Map<String, Value> = Map::new();
    let mut errors: u64 = 0;
    loop {
        let mut progressed = false;
        for (i, op) in ops.iter().enumerate() {
            if results.get(i).is_some_and(Option::is_some) {
                continue;
            }
            if fail_on_errors.is_some_and(|limit| errors >= limit) {
                break;
            }
            let Some(data) = resolve_refs(op.data.as_ref(), &ids) else {
                continue; // waits for a bulkId created later
            };
            let path = match resolve_path(&op.path, &ids) {
                Some(p) => p,
                None => continue,
            };
            let outcome = execute(service, op, &path, data.as_ref(), base).await;
            if let (Ok(Done { id: Some(id), .. }), Some(bid)) = (&outcome, &op.bulk_id) {
                ids.insert(bid.clone(), Value::String(id.clone()));
            }
            if outcome.is_err() {
                errors += 1;
            }
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(response_entry(op, outcome, base));
            }
            progressed = true;
        }
        if !progressed || fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
    }
    let stopped = fail_on_errors.is_some_and(|limit| errors >= limit);
    let mut out = Vec::new();
    for (op, r) in ops.iter().zip(results) {
        match r {
            Some(v) => out.push(v),
            None if stopped => {}
            None => {
                let e = ScimError::new(
                    409,
                    Some(ScimType::InvalidValue),
                    "this operation refers to a bulkId that is unknown or part of a circular reference",
                );
                out.push(response_entry(op, Err(e), base));
            }
        }
    }
    Ok(json!({"schemas": [BULK_RESPONSE], "Operations": out}))
}

fn parse_op(i: usize, v: &Value) -> Result<BulkOp, ScimError> {
    let o = v
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{i}] must be an object")))?;
    let method = match get_ci(o, "method")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("PATCH") => Method::Patch,
        Some("DELETE") => Method::Delete,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].method must be POST, PUT, PATCH or DELETE"
            )));
        }
    };
    let text = |k: &str| get_ci(o, k).and_then(Value::as_str).map(str::to_owned);
    let path = text("path")
        .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{i}].path is required")))?;
    let bulk_id = text("bulkId");
    if method == Method::Post && bulk_id.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}]: a POST needs a bulkId"
        )));
    }
    let data = get_ci(o, "data").cloned();
    if method != Method::Delete && data.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}].data is required"
        )));
    }
    Ok(BulkOp {
        method,
        bulk_id,
        path,
        version: text("version"),
        data,
    })
}

/// Replace every `"bulkId:X"` string; `None` while some X is not created yet.
fn resolve_refs(data: Option<&Value>, ids: &Map<String, Value>) -> Option<Option<Value>> {
    fn walk(v: &Value, ids: &Map<String, Value>) -> Option<Value> {
        match v {
            Value::String(s) => match s.strip_prefix("bulkId:") {
                Some(bid) => ids.get(bid).cloned(),
                None => Some(v.clone()),
            },
            Value::Array(a) => a
                .iter()
                .map(|x| walk(x, ids))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            Value::Object(o) => o
                .iter()
                .map(|(k, x)| walk(x, ids).map(|y| (k.clone(), y)))
                .collect::<Option<Map<_, _>>>()
                .map(Value::Object),
            other => Some(other.clone()),
        }
    }
    match data {
        None => Some(None),
        Some(d) => walk(d, ids).map(Some),
    }
}

fn resolve_path(path: &str, ids: &Map<String, Value>) -> Option<String> {
    match path.split_once("bulkId:") {
        None => Some(path.to_owned()),
        Some((head, bid)) => ids
            .get(bid)
            .and_then(Value::as_str)
            .map(|id| format!("{head}{id}")),
    }
}

fn target(path: &str) -> Result<(ResourceKind, Option<String>), ScimError> {
    let trimmed = path.trim_start_matches('/');
    let (collection, id) = match trimmed.split_once('/') {
        Some((c, id)) => (c, Some(id.to_owned())),
        None => (trimmed, None),
    };
    let kind = match collection {
        "Users" => ResourceKind::User,
        "Groups" => ResourceKind::Group,
        _ => {
            return Err(ScimError::invalid_path(format!(
                "{path:?} is not /Users or /Groups"
            )));
        }
    };
    Ok((kind, id.filter(|i| !i.is_empty())))
}

/// What one successful operation did.
#[derive(Debug)]
struct Done {
    status: u16,
    kind: ResourceKind,
    id: Option<String>,
    version: Option<i64>,
}

/// Run one operation.
async fn execute(
    service: &ScimService,
    op: &BulkOp,
    path: &str,
    data: Option<&Value>,
    base: &str,
) -> Result<Done, ScimError> {
    let (kind, id) = target(path)?;
    let if_match = IfMatch::parse(op.version.as_deref());
    let null = Value::Null;
    let data = data.unwrap_or(&null);
    let need_id = || {
        id.clone()
            .ok_or_else(|| ScimError::invalid_path(format!("{path:?} names no resource")))
    };
    let done = |status: u16, id: Option<String>, version: Option<i64>| Done {
        status,
        kind,
        id,
        version,
    };
    let result: Result<Done, ServiceError> = match op.method {
        Method::Post => {
            if id.is_some() {
                return Err(ScimError::invalid_path("POST goes to /Users or /Groups"));
            }
            service
                .create(kind, data, base)
                .await
                .map(|r| done(201, id_of(&r.body), Some(r.version)))
        }
        Method::Put => {
            let id = need_id()?;
            service
                .replace(kind, &id, data, &if_match, base)
                .await
                .map(|r| done(200, Some(id), Some(r.version)))
        }
        Method::Patch => {
            let id = need_id()?;
            service
                .patch(kind, &id, data, &if_match, base, false)
                .await
                .map(|r| done(200, Some(id), Some(r.version)))
        }
        Method::Delete => {
            let id = need_id()?;
            service
                .delete(kind, &id, &if_match)
                .await
                .map(|()| done(204, Some(id), None))
        }
    };
    result.map_err(ScimError::from)
}

fn id_of(body: &Map<String, Value>) -> Option<String> {
    body.get("id").and_then(Value::as_str).map(str::to_owned)
}

fn response_entry(op: &BulkOp, outcome: Result<Done, ScimError>, base: &str) -> Value {
    let mut entry = Map::new();
    entry.insert("method".into(), json!(op.method.as_str()));
    if let Some(b) = &op.bulk_id {
        entry.insert("bulkId".into(), json!(b));
    }
    match outcome {
        Ok(done) => {
            if let Some(id) = &done.id {
                entry.insert(
                    "location".into(),
                    json!(format!("{base}{}/{id}", done.kind.endpoint())),
                );
            }
            if let Some(v) = done.version {
                entry.insert("version".into(), json!(super::etag(v)));
            }
            entry.insert("status".into(), json!(done.status.to_string()));
        }
        Err(e) => {
            // RFC 7644 3.7.3: location is required except for a failed POST.
            if op.method != Method::Post {
                entry.insert("location".into(), json!(format!("{base}{}", op.path)));
            }
            entry.insert("status".into(), json!(e.status.to_string()));
            entry.insert("response".into(), e.to_json());
        }
    }
    Value::Object(entry)
}
