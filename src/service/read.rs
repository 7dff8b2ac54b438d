//! The read side of the SCIM use cases: rendering a stored resource (with
//! its members or groups, `meta`, projection), listing with filter, sort and
//! paging, and the root search across Users and Groups. Never writes.

use serde_json::{Map, Value, json};

use super::{ListPage, Rendered, SCAN_LIMIT, ScimService, ServiceError, etag};
use crate::scim::error::ScimError;
use crate::scim::filter;
use crate::scim::query::{self, ListQuery};
use crate::scim::resource::{self, Projection};
use crate::scim::schema::ResourceKind;
use crate::store::{MemberRef, StoreTx, StoredResource};

impl ScimService {
    /// `POST /.search` at the root: Users and Groups filtered, sorted and
    /// paged together.
    pub async fn search_all(&self, q: &ListQuery, base: &str) -> Result<ListPage, ServiceError> {
        let mut all_q = q.clone();
        all_q.start_index = 1;
        all_q.count = usize::MAX;
        all_q.sort_by = None;
        all_q.projection = Projection::default();
        let mut found: Vec<(ResourceKind, Map<String, Value>)> = Vec::new();
        for kind in crate::scim::schema::ALL_KINDS {
            let page = self.list(kind, &all_q, base).await?;
            found.extend(page.resources.into_iter().map(|r| (kind, r)));
        }
        if let Some(by) = &q.sort_by {
            found.sort_by(|(_, a), (_, b)| {
                let o = resource::compare_sort_values(
                    resource::sort_value(a, by),
                    resource::sort_value(b, by),
                    false,
                );
                match q.sort_order {
                    query::SortOrder::Ascending => o,
                    query::SortOrder::Descending => o.reverse(),
                }
            });
        }
        let total = found.len();
        let resources = found
            .into_iter()
            .skip(q.start_index.saturating_sub(1))
            .take(q.count)
            .map(|(kind, r)| resource::project(kind, &r, &q.projection))
            .collect();
        Ok(ListPage {
            total,
            start_index: q.start_index,
            resources,
        })
    }

    pub async fn list(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
        base: &str,
    ) -> Result<ListPage, ServiceError> {
        let mut tx = self.store.read().await?;
        let page = list_in(&mut tx, kind, q, base).await?;
        tx.commit().await?;
        Ok(page)
    }
}

/// Members are returned as the client wrote them: nothing is added.
pub(super) fn members_json(members: &[MemberRef]) -> Value {
    Value::Array(
        members
            .iter()
            .map(|m| Value::Object(m.doc.clone()))
            .collect(),
    )
}

/// The full representation: document, id, meta, and the derived `groups`
/// (Users) or `members` (Groups).
pub(super) async fn render(
    tx: &mut StoreTx,
    stored: &StoredResource,
    base: &str,
) -> Result<Rendered, ServiceError> {
    render_with(tx, stored, base, true).await
}

/// [`render`], with a group's members already known (no second read).
pub(super) async fn render_known(
    tx: &mut StoreTx,
    stored: &StoredResource,
    base: &str,
    members: Option<Vec<MemberRef>>,
) -> Result<Rendered, ServiceError> {
    render_rel(tx, stored, base, true, members).await
}

/// [`render`] without relations (none are read): a group without its
/// members, the answer to a client that excluded them; a user just created,
/// who is in no group.
pub(super) fn render_without_members(stored: &StoredResource, base: &str) -> Rendered {
    let mut body = Map::new();
    fill_body(&mut body, stored);
    finish(body, stored, base)
}

async fn render_with(
    tx: &mut StoreTx,
    stored: &StoredResource,
    base: &str,
    relations: bool,
) -> Result<Rendered, ServiceError> {
    render_rel(tx, stored, base, relations, None).await
}

/// `known`: a group's members, when the caller has them (else read).
async fn render_rel(
    tx: &mut StoreTx,
    stored: &StoredResource,
    base: &str,
    relations: bool,
    known: Option<Vec<MemberRef>>,
) -> Result<Rendered, ServiceError> {
    let kind = stored.kind;
    let mut body = Map::new();
    fill_body(&mut body, stored);
    if relations {
        match kind {
            ResourceKind::Group => {
                let members = match known {
                    Some(m) => m,
                    None => tx.members(&stored.id).await?,
                };
                if !members.is_empty() {
                    body.insert("members".into(), members_json(&members));
                }
            }
            ResourceKind::User => {
                let groups = tx.groups_of(&stored.id).await?;
                if !groups.is_empty() {
                    let items: Vec<Value> = groups
                        .into_iter()
                        .map(|(gid, display)| {
                            let mut o = json!({
                                "value": gid,
                                "$ref": format!("{base}/Groups/{gid}"),
                                "type": "direct",
                            });
                            if let (Some(d), Some(map)) = (display, o.as_object_mut()) {
                                map.insert("display".into(), Value::String(d));
                            }
                            o
                        })
                        .collect();
                    body.insert("groups".into(), Value::Array(items));
                }
            }
        }
    }
    Ok(finish(body, stored, base))
}

/// `schemas`, `id` and the stored document.
fn fill_body(body: &mut Map<String, Value>, stored: &StoredResource) {
    body.insert(
        "schemas".into(),
        stored
            .doc
            .get("schemas")
            .cloned()
            .unwrap_or_else(|| json!([stored.kind.core().id])),
    );
    body.insert("id".into(), Value::String(stored.id.clone()));
    for (k, v) in &stored.doc {
        if k != "schemas" {
            body.insert(k.clone(), v.clone());
        }
    }
}

/// Add `meta`.
fn finish(mut body: Map<String, Value>, stored: &StoredResource, base: &str) -> Rendered {
    let kind = stored.kind;
    body.insert(
        "meta".into(),
        json!({
            "resourceType": kind.name(),
            "created": stored.created,
            "lastModified": stored.last_modified,
            "location": format!("{base}{}/{}", kind.endpoint(), stored.id),
            "version": etag(stored.version),
        }),
    );
    Rendered {
        body,
        version: stored.version,
    }
}

/// Whether rendering needs members/groups for this query.
fn needs_relations(kind: ResourceKind, q: &ListQuery) -> bool {
    let name = match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    };
    let wanted_in_output = !q.projection.excludes(kind, name);
    let in_filter = q.filter.as_ref().is_some_and(|f| query::mentions(f, name));
    let in_sort = q
        .sort_by
        .as_ref()
        .is_some_and(|p| p.name.eq_ignore_ascii_case(name));
    wanted_in_output || in_filter || in_sort
}

async fn list_in(
    tx: &mut StoreTx,
    kind: ResourceKind,
    q: &ListQuery,
    base: &str,
) -> Result<ListPage, ServiceError> {
    let relations = needs_relations(kind, q);
    let offset = q.start_index.saturating_sub(1);
    // Fast path: no filter, no sort: page in the database.
    if q.filter.is_none() && q.sort_by.is_none() {
        let total = usize::try_from(tx.count_resources(kind).await?).unwrap_or(0);
        let rows = if q.count == 0 {
            Vec::new()
        } else {
            tx.page_resources(
                kind,
                i64::try_from(offset).unwrap_or(i64::MAX),
                i64::try_from(q.count).unwrap_or(i64::MAX),
            )
            .await?
        };
        let mut resources = Vec::with_capacity(rows.len());
        for r in &rows {
            let full = render_with(tx, r, base, relations).await?;
            resources.push(resource::project(kind, &full.body, &q.projection));
        }
        return Ok(ListPage {
            total,
            start_index: q.start_index,
            resources,
        });
    }
    let candidates = match q.index_key(kind) {
        Some(key) => {
            let ids = tx.find_ids(kind, &key).await?;
            tx.get_resources(kind, &ids).await?
        }
        None => {
            if tx.count_resources(kind).await? > SCAN_LIMIT {
                return Err(ScimError::bad_request(
                    crate::scim::error::ScimType::TooMany,
                    format!(
                        "this filter is not answered from an index and more than {SCAN_LIMIT} resources are stored; filter on userName, externalId, id, emails.value or displayName"
                    ),
                )
                .into());
            }
            tx.all_resources(kind).await?
        }
    };
    let mut matched: Vec<Map<String, Value>> = Vec::new();
    for c in &candidates {
        let full = render_with(tx, c, base, relations).await?;
        let keep = match &q.filter {
            Some(f) => filter::matches(f, &Value::Object(full.body.clone()), &kind),
            None => true,
        };
        if keep {
            matched.push(full.body);
        }
    }
    if let Some(by) = &q.sort_by {
        query::sort(kind, &mut matched, by, q.sort_order);
    }
    let total = matched.len();
    let resources = matched
        .into_iter()
        .skip(offset)
        .take(q.count)
        .map(|r| resource::project(kind, &r, &q.projection))
        .collect();
    Ok(ListPage {
        total,
        start_index: q.start_index,
        resources,
    })
}

/// Apply a projection to a single rendered resource.
pub fn project(
    kind: ResourceKind,
    rendered: &Rendered,
    projection: &Projection,
) -> Map<String, Value> {
    resource::project(kind, &rendered.body, projection)
}
