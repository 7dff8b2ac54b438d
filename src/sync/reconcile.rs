//! Reconciliation: read live Snyk state for every org where the bridge holds
//! access, judge each applied state against it (`sync::judge`, pure), and
//! write the verdicts: first logins adopted, hand removals forgotten, role
//! drift recorded (and, with `repair`, queued to be put back).
//!
//! It runs beside the worker, so it never overwrites an access row that
//! changed after it read it (compare-and-set), and it never sends a write.

use std::collections::{BTreeSet, HashMap};

use super::engine::{
    Engine, META_LAST_RECONCILE_AT, META_LAST_RECONCILE_RESULT, ReconcileReport, UNLOCATED_REASON,
    access_row, applied_of,
};
use super::judge::{self, GroupSight, Sight, Verdict};
use super::planner::Applied;
use crate::snyk::{GroupMember, OrgMember, PendingProvision, SnykError, Trace};
use crate::store::{AccessState, StoreError};

/// What `GET /org/{id}/provision` and `GET /org/{id}/members` list.
#[derive(Debug, Clone, Default)]
pub struct OrgLists {
    pub pending: Vec<PendingProvision>,
    pub members: Vec<OrgMember>,
}

/// The group's members (with their orgs by name) and the names of its orgs.
#[derive(Debug, Clone, Default)]
pub struct GroupView {
    pub members: Vec<GroupMember>,
    /// org id -> name
    pub org_names: HashMap<String, String>,
}

/// Everything known about one org, ready to judge with.
pub struct OrgSight<'a> {
    lists: &'a OrgLists,
    group: Option<GroupSight<'a>>,
}

impl<'a> OrgSight<'a> {
    /// The group view counts only when it names this org.
    pub fn new(lists: &'a OrgLists, group: Option<&'a GroupView>, org: &str) -> Self {
        let group = group.and_then(|g| {
            g.org_names.get(org).map(|name| GroupSight {
                members: &g.members,
                org_name: name,
            })
        });
        Self { lists, group }
    }

    pub fn sight(&self) -> Sight<'_> {
        Sight {
            pending: &self.lists.pending,
            members: &self.lists.members,
            group: self.group,
        }
    }
}

type Failed = (SnykError, Trace);

impl Engine {
    /// The group view, when `snyk.group_id` is set: `GET /group/{id}/members`
    /// and `GET /group/{id}/orgs` (the member list names orgs by name).
    pub(super) async fn group_view(&self) -> Result<Option<GroupView>, Failed> {
        let Some(group) = self.settings.group_id.as_deref() else {
            return Ok(None);
        };
        let (members, trace) = self.paced(self.client.list_group_members(group)).await;
        let members = members.map_err(|e| (e, trace))?;
        let (orgs, trace) = self.paced(self.client.list_group_orgs(group)).await;
        let org_names = match orgs {
            Ok(orgs) => {
                let pairs: Vec<(String, String)> =
                    orgs.into_iter().map(|o| (o.id, o.name)).collect();
                // For the operator's views (`sync::names`); best effort.
                if let Err(e) = self.remember_org_names(&pairs).await {
                    tracing::warn!(error = %e, "the org names could not be stored");
                }
                pairs.into_iter().collect()
            }
            Err(SnykError::Permanent { status, .. }) => {
                tracing::warn!(status, snyk_request_id = ?trace.request_id, "the group's org list cannot be read: admins cannot be found after their first login");
                HashMap::new()
            }
            Err(e) => return Err((e, trace)),
        };
        Ok(Some(GroupView { members, org_names }))
    }

    /// The pending provisions and the (non-admin) members of one org.
    pub(super) async fn org_lists(&self, org: &str) -> Result<OrgLists, Failed> {
        let (pending, trace) = self.paced(self.client.list_provisions(org)).await;
        let pending = pending.map_err(|e| (e, trace))?;
        let (members, trace) = self.paced(self.client.list_org_members(org)).await;
        let members = members.map_err(|e| (e, trace))?;
        Ok(OrgLists { pending, members })
    }

    /// Compare live Snyk state with applied access: adopt first logins, drop
    /// access that vanished, and report role drift. With `repair`, drifted
    /// roles are queued to be put back.
    pub async fn reconcile(&self, repair: bool) -> Result<ReconcileReport, StoreError> {
        let (report, _) = self.observe(true, repair).await?;
        // After the judged reads: names for the operator's views only.
        self.refresh_org_names().await;
        let now = self.now();
        crate::metrics::record_reconcile(report.drift, now);
        let result = format!(
            "{} first logins adopted, {} grants gone from Snyk, {} roles drifted, {} users not findable after login, {} orgs unreadable{}",
            report.adopted,
            report.vanished,
            report.drift,
            report.unlocated,
            report.errors.len(),
            report
                .errors
                .first()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        let mut tx = self.store.write().await?;
        tx.set_meta(META_LAST_RECONCILE_AT, &now.to_string())
            .await?;
        tx.set_meta(META_LAST_RECONCILE_RESULT, &result).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Read live Snyk state for every org the bridge has access in and work
    /// out the applied state it implies. With `write`, store it (and queue the
    /// affected targets); without, only return it (for `plan`).
    pub(super) async fn observe(
        &self,
        write: bool,
        repair: bool,
    ) -> Result<(ReconcileReport, HashMap<(String, String), Option<Applied>>), StoreError> {
        let mut report = ReconcileReport::default();
        let mut adjusted: HashMap<(String, String), Option<Applied>> = HashMap::new();
        let orgs: BTreeSet<String> = {
            let mut tx = self.store.read().await?;
            let counts = tx.access_counts().await?;
            tx.commit().await?;
            counts.into_iter().map(|(org, _, _)| org).collect()
        };
        if orgs.is_empty() {
            return Ok((report, adjusted));
        }
        // Per org: the stored rows first, then Snyk's lists, so a row written
        // after the lists were read is never judged against them.
        let mut group: Option<(i64, Option<GroupView>)> = None;
        for org in orgs {
            let read_at = self.now();
            let rows = {
                let mut tx = self.store.read().await?;
                let rows = tx.access_in_org(&org).await?;
                tx.commit().await?;
                rows
            };
            let lists = match self.org_lists(&org).await {
                Ok(l) => l,
                Err((e, trace)) => {
                    tracing::warn!(org = %org, error = %e.summary(), snyk_request_id = ?trace.request_id, "could not read the org from Snyk");
                    report.errors.push(format!("{org}: {e}"));
                    continue;
                }
            };
            // The group list (two calls) only when a row is not settled by the
            // org's own lists, and read after the rows as well.
            let unsettled = rows.iter().any(|r| {
                let listed = lists.members.iter().any(|m| {
                    r.snyk_user_id.as_deref() == Some(m.id.as_str())
                        || m.email
                            .as_deref()
                            .is_some_and(|e| e.eq_ignore_ascii_case(&r.email))
                });
                let pending = lists
                    .pending
                    .iter()
                    .any(|p| p.email.eq_ignore_ascii_case(&r.email));
                r.state != AccessState::External && !listed && !pending
            });
            if unsettled
                && self.settings.group_id.is_some()
                && group.as_ref().is_none_or(|(at, _)| *at < read_at)
            {
                let at = self.now();
                match self.group_view().await {
                    Ok(g) => group = Some((at, g)),
                    Err((e, trace)) => {
                        tracing::warn!(org = %org, error = %e.summary(), snyk_request_id = ?trace.request_id, "could not read the group's members from Snyk");
                        report.errors.push(format!("{org}: group members: {e}"));
                        continue;
                    }
                }
            }
            let view = group.as_ref().and_then(|(_, g)| g.as_ref());
            let sight = OrgSight::new(&lists, view, &org);
            let now = self.now();
            let mut tx = if write {
                Some(self.store.write().await?)
            } else {
                None
            };
            for row in rows {
                let applied = match applied_of(&row) {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::error!(error = %e, "stored access is unreadable: not reconciled");
                        continue;
                    }
                };
                let next: Option<Option<Applied>> = match judge::judge(&applied, &sight.sight()) {
                    Verdict::Unchanged => {
                        if let (Some(tx), Applied::Member { .. }) = (tx.as_mut(), &applied) {
                            tx.clear_drift(&row.user_id, &org).await?;
                        }
                        if matches!(applied, Applied::Unlocated { .. }) {
                            report.unlocated += 1;
                        }
                        None
                    }
                    Verdict::Pending => Some(Some(Applied::Pending {
                        email: applied.email().clone(),
                        role: applied.role().clone(),
                    })),
                    Verdict::Member { snyk_user_id, role } => {
                        report.adopted += 1;
                        tracing::info!(user = %row.user_id, org = %org, snyk_user = %snyk_user_id, "first login seen: adopting the member");
                        Some(Some(Applied::Member {
                            snyk_user_id,
                            email: applied.email().clone(),
                            role,
                        }))
                    }
                    Verdict::Drift {
                        snyk_user_id,
                        observed,
                    } => {
                        report.drift += 1;
                        tracing::warn!(user = %row.user_id, org = %org, expected = %applied.role(), actual = %observed, "role drift: changed in Snyk by hand");
                        if let Some(tx) = tx.as_mut() {
                            tx.record_drift(
                                &row.user_id,
                                &org,
                                &applied.role().to_string(),
                                &observed.to_string(),
                                now,
                            )
                            .await?;
                        }
                        (repair || !write).then(|| {
                            Some(Applied::Member {
                                snyk_user_id,
                                email: applied.email().clone(),
                                role: observed,
                            })
                        })
                    }
                    Verdict::Gone => {
                        report.vanished += 1;
                        Some(None)
                    }
                    Verdict::Unlocated => {
                        report.unlocated += 1;
                        tracing::warn!(user = %row.user_id, org = %org, email = %self.log_email(applied.email()), "{UNLOCATED_REASON}");
                        Some(Some(Applied::Unlocated {
                            email: applied.email().clone(),
                            role: applied.role().clone(),
                        }))
                    }
                };
                let Some(new_state) = next else { continue };
                if let Some(tx) = tx.as_mut() {
                    let new_row = new_state
                        .as_ref()
                        .map(|a| access_row(&row.user_id, &org, a, now));
                    if !tx
                        .replace_access_if_unchanged(&row, new_row.as_ref())
                        .await?
                    {
                        // The worker changed it since: its state is newer.
                        continue;
                    }
                    tx.enqueue_target(&row.user_id, &org, now).await?;
                }
                adjusted.insert((row.user_id.clone(), org.clone()), new_state);
            }
            if let Some(tx) = tx {
                tx.commit().await?;
            }
        }
        if write {
            self.notify.ring();
        }
        Ok((report, adjusted))
    }
}
