//! Names in the operator's words, for `status`, `plan`, `status --user` and
//! `/status`: a SCIM user by userName and email (not by the SCIM id alone),
//! a Snyk org by its Snyk name next to its id (`name (id)`, the id alone
//! when the name is not known). Org names come from `GET /group/{id}/orgs`,
//! remembered in the store whenever it is read ([`Engine::refresh_org_names`]
//! and reconciliation's group view).
//!
//! These views are behind local access (the CLI) or the admin token (the
//! page), so they may show emails. This module must never feed a log line
//! (emails in logs go through `telemetry`'s hashing), and no decision of the
//! bridge reads a name.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::engine::Engine;
use super::mapping;
use crate::scim::schema::ResourceKind;
use crate::snyk::SnykError;
use crate::store::{Store, StoreError, StoreTx};

/// How an operator knows a SCIM user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserNames {
    /// The SCIM `userName`; `None` when the user is deleted.
    pub user_name: Option<String>,
    /// The email the bridge knows the user by in Snyk (for a deleted user,
    /// the one its applied access was granted to).
    pub email: Option<String>,
}

impl UserNames {
    /// `userName <email>`, or one of them when the other is missing or the
    /// same; the SCIM id when neither is known.
    pub fn label(&self, id: &str) -> String {
        match (&self.user_name, &self.email) {
            (Some(u), Some(e)) if u.eq_ignore_ascii_case(e) => e.clone(),
            (Some(u), Some(e)) => format!("{u} <{e}>"),
            (Some(u), None) => u.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => format!("SCIM user {id}"),
        }
    }
}

/// The names of some users and of every org whose name is known.
#[derive(Debug, Clone, Default)]
pub struct Names {
    users: HashMap<String, UserNames>,
    orgs: BTreeMap<String, String>,
}

impl Names {
    /// The names of `user_ids` and every known org name, in one snapshot.
    pub async fn load<'a>(
        store: &Store,
        user_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, StoreError> {
        let mut tx = store.read().await?;
        let names = Self::load_in(&mut tx, user_ids).await?;
        tx.commit().await?;
        Ok(names)
    }

    pub async fn load_in<'a>(
        tx: &mut StoreTx,
        user_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, StoreError> {
        let orgs = tx.org_names().await?;
        let ids: BTreeSet<&str> = user_ids.into_iter().collect();
        let mut users = HashMap::new();
        for id in ids {
            let names = match tx.get_resource(ResourceKind::User, id).await? {
                Some(r) => UserNames {
                    user_name: r
                        .doc
                        .get("userName")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned),
                    email: mapping::email_of(&r.doc).map(|e| e.as_str().to_owned()),
                },
                // Deleted: the email its applied access was granted to.
                None => UserNames {
                    user_name: None,
                    email: tx
                        .access_of_user(id)
                        .await?
                        .into_iter()
                        .next()
                        .map(|a| a.email),
                },
            };
            users.insert(id.to_owned(), names);
        }
        Ok(Self { users, orgs })
    }

    /// A user's names (both `None` when unknown).
    pub fn user(&self, id: &str) -> UserNames {
        self.users.get(id).cloned().unwrap_or_default()
    }

    /// A user as an operator reads it (see [`UserNames::label`]).
    pub fn user_label(&self, id: &str) -> String {
        self.user(id).label(id)
    }

    /// The org's Snyk name, when known.
    pub fn org_name(&self, id: &str) -> Option<&str> {
        self.orgs.get(id).map(String::as_str)
    }

    /// `name (id)`, or the id alone when the name is not known.
    pub fn org_label(&self, id: &str) -> String {
        org_label(self.org_name(id), id)
    }
}

/// `name (id)`, or the id alone (also when the name is the id itself).
pub fn org_label(name: Option<&str>, id: &str) -> String {
    match name {
        Some(n) if !n.is_empty() && n != id => format!("{n} ({id})"),
        _ => id.to_owned(),
    }
}

impl Engine {
    /// Read the group's orgs (`GET /group/{id}/orgs`, with `snyk.group_id`)
    /// and remember their names for the operator's views. Best effort: a
    /// failure is logged and changes nothing. Without a token (a dry run may
    /// have none) nothing is sent.
    pub async fn refresh_org_names(&self) {
        let Some(group) = self.settings.group_id.as_deref() else {
            return;
        };
        if !self.client.has_token() {
            return;
        }
        let (orgs, trace) = self.paced(self.client.list_group_orgs(group)).await;
        match orgs {
            Ok(orgs) => {
                let pairs: Vec<(String, String)> =
                    orgs.into_iter().map(|o| (o.id, o.name)).collect();
                if let Err(e) = self.remember_org_names(&pairs).await {
                    tracing::warn!(error = %e, "the org names could not be stored");
                }
            }
            Err(SnykError::NotSent) => {}
            Err(e) => {
                tracing::warn!(error = %e.summary(), snyk_request_id = ?trace.request_id, "the group's org list cannot be read: orgs are shown by id only");
            }
        }
    }

    /// Remember (org id, name) pairs Snyk listed.
    pub(super) async fn remember_org_names(
        &self,
        pairs: &[(String, String)],
    ) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        tx.remember_org_names(pairs, now).await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_users_and_orgs_as_an_operator_knows_them() {
        let both = UserNames {
            user_name: Some("ann".into()),
            email: Some("ann@example.com".into()),
        };
        assert_eq!(both.label("u-1"), "ann <ann@example.com>");
        let same = UserNames {
            user_name: Some("Ann@Example.com".into()),
            email: Some("ann@example.com".into()),
        };
        assert_eq!(same.label("u-1"), "ann@example.com");
        let gone = UserNames {
            user_name: None,
            email: Some("ann@example.com".into()),
        };
        assert_eq!(gone.label("u-1"), "ann@example.com");
        assert_eq!(UserNames::default().label("u-1"), "SCIM user u-1");
        assert_eq!(org_label(Some("Platform"), "o-1"), "Platform (o-1)");
        assert_eq!(org_label(None, "o-1"), "o-1");
        assert_eq!(org_label(Some("o-1"), "o-1"), "o-1");
    }
}
