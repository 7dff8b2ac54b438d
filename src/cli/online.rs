//! `check-config --online`: the configuration checked against live Snyk,
//! changing nothing (GET calls only): the token is accepted, every mapped org
//! is in `snyk.group_id`'s group, every `role_public_id` is a role of the
//! group, and the token's user may grant the role. One line per mapping,
//! named by its line in the file; exit 2 on any problem, 1 when Snyk could
//! not be asked. Also `status`'s lines about the token and the blocked call
//! kinds (`print_api_health`).
//!
//! Grantability: Snyk refuses a role above the caller's own ("Cannot assign
//! higher privilege role") but publishes no "may I grant" call. The check
//! reads the token's user (`GET /user/me`) in the group's member list: a
//! group admin, or an admin of the mapped org, may grant every org role; a
//! known non-admin mapping `ADMIN` is a problem; anything else (a custom role
//! granted by a non-admin, a user the list does not show) is "not confirmed",
//! never a problem, since only Snyk knows the custom role's permissions.
//!
//! The token check is `GET /v1/user/me` (Snyk's v1 "Get my details"; not in
//! the reference table, so only a 401 counts as a rejected token: any other
//! failure of it leaves the judgement to the group calls that follow).
//!
//! It never prints the token.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{Config, Mapping};
use crate::domain::SnykRole;
use crate::snyk::{GroupMember, GroupOrg, GroupRole, SnykClient, SnykError, wire};

/// What the token's user is, as far as the group's member list tells.
enum Standing {
    GroupAdmin,
    /// Org name -> the user's role there.
    Orgs(BTreeMap<String, SnykRole>),
    Unknown(String),
}

/// The outcome of one read: the value, or why not (a problem when Snyk
/// answered, "could not ask" when it did not).
fn read<T>(
    what: &str,
    r: Result<T, SnykError>,
    problems: &mut bool,
    unreachable: &mut bool,
) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            match &e {
                SnykError::Transient { .. } | SnykError::RateLimited { .. } => *unreachable = true,
                _ => *problems = true,
            }
            println!("{what}: {}", e.summary());
            None
        }
    }
}

pub async fn check(config: &Config, file: &Path) -> ExitCode {
    let Some(token) = config.snyk.token.clone() else {
        println!("online: not checked: no snyk.token (or SNYK_TOKEN) to ask Snyk with");
        return ExitCode::from(2);
    };
    let client = match SnykClient::new(
        &config.snyk.api_url,
        Some(token),
        Duration::from_secs(config.snyk.timeout_secs),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot build the HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut problems, mut unreachable) = (false, false);
    let (me, _) = client.user_me().await;
    let me_id = match me {
        Ok(m) => {
            println!("token: accepted ({} answered)", wire::user_me().kind());
            m.id
        }
        Err(SnykError::Unauthorized { status }) => {
            println!("token: rejected by Snyk ({status}); renew snyk.token / SNYK_TOKEN");
            return ExitCode::from(2);
        }
        Err(SnykError::Transient { message, .. }) => {
            eprintln!("error: could not reach Snyk at snyk.api_url: {message}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            println!(
                "token: {}: {}; judged by the calls below",
                wire::user_me().kind(),
                e.summary()
            );
            None
        }
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines = crate::config::mapping_lines(&text);
    let Some(group) = config.snyk.group_id.clone() else {
        println!(
            "not checked (no snyk.group_id): whether each org is in the group, whether each role_public_id exists, whether the token's user may grant the roles"
        );
        for (i, m) in config.mappings.iter().enumerate() {
            println!(
                "{}: {} -> org {} as {}: org, role and grant not checked",
                place(file, &lines, i),
                quoted(m),
                m.org_id,
                m.role
            );
        }
        return ExitCode::SUCCESS;
    };
    let (orgs, _) = client.list_group_orgs(&group).await;
    let orgs = read(
        &format!("group {group} orgs"),
        orgs,
        &mut problems,
        &mut unreachable,
    );
    let needs_roles = config
        .mappings
        .iter()
        .any(|m| matches!(m.role, SnykRole::Custom(_)));
    let roles = if needs_roles {
        let (r, _) = client.list_group_roles(&group).await;
        read(
            &format!("group {group} roles"),
            r,
            &mut problems,
            &mut unreachable,
        )
    } else {
        Some(Vec::new())
    };
    let standing = match &me_id {
        None => Standing::Unknown("Snyk named no user for the token".into()),
        Some(id) => {
            let (members, _) = client.list_group_members(&group).await;
            match members {
                Ok(list) => standing_of(&list, id),
                Err(e) => Standing::Unknown(format!("the group's member list: {}", e.summary())),
            }
        }
    };
    for (i, m) in config.mappings.iter().enumerate() {
        let (found, bad) = judge(m, &group, orgs.as_deref(), roles.as_deref(), &standing);
        problems |= bad;
        println!(
            "{}: {} -> org {} as {}: {} ({})",
            place(file, &lines, i),
            quoted(m),
            m.org_id,
            m.role,
            if bad { "PROBLEM" } else { "ok" },
            found.join("; ")
        );
    }
    if problems {
        ExitCode::from(2)
    } else if unreachable {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn quoted(m: &Mapping) -> String {
    format!("{:?}", m.group.as_str())
}

/// `FILE:LINE` of the i-th mapping, else `FILE: mappings[i]`.
fn place(file: &Path, lines: &[usize], i: usize) -> String {
    match lines.get(i) {
        Some(l) => format!("{}:{l}", file.display()),
        None => format!("{}: mappings[{i}]", file.display()),
    }
}

fn standing_of(members: &[GroupMember], me: &str) -> Standing {
    let Some(m) = members.iter().find(|m| m.id == me) else {
        return Standing::Unknown("the token's user is not in the group's member list".into());
    };
    if m.group_role.as_deref() == Some("admin") {
        return Standing::GroupAdmin;
    }
    Standing::Orgs(m.orgs.iter().map(|o| (o.name.clone(), o.role())).collect())
}

/// What was found for one mapping, and whether any of it is a problem.
fn judge(
    m: &Mapping,
    group: &str,
    orgs: Option<&[GroupOrg]>,
    roles: Option<&[GroupRole]>,
    standing: &Standing,
) -> (Vec<String>, bool) {
    let mut found = Vec::new();
    let mut bad = false;
    let org = orgs.and_then(|list| {
        list.iter()
            .find(|o| o.id.eq_ignore_ascii_case(m.org_id.as_str()))
    });
    match (orgs, org) {
        (None, _) => found.push("org not checked (the group's orgs could not be read)".into()),
        (Some(_), Some(o)) => found.push(format!("org {:?} is in group {group}", o.name)),
        (Some(_), None) => {
            bad = true;
            found.push(format!("org is not in group {group} (or does not exist)"));
        }
    }
    if let SnykRole::Custom(id) = &m.role {
        match roles.map(|r| r.iter().find(|r| r.public_id.eq_ignore_ascii_case(id))) {
            None => found.push("role not checked (the group's roles could not be read)".into()),
            Some(Some(r)) => found.push(format!("role {:?} exists", r.name)),
            Some(None) => {
                bad = true;
                found.push(format!("role_public_id is not a role of group {group}"));
            }
        }
    }
    let here = org.and_then(|o| match standing {
        Standing::Orgs(roles) => roles.get(&o.name).cloned(),
        _ => None,
    });
    match (standing, here) {
        (Standing::GroupAdmin, _) => {
            found.push("grantable: the token's user is a group admin".into())
        }
        (_, Some(SnykRole::Admin)) => {
            found.push("grantable: the token's user is an admin of this org".into())
        }
        (_, Some(own)) if m.role == SnykRole::Admin => {
            bad = true;
            found.push(format!("not grantable: the token's user is {own} in this org and Snyk refuses a role above the caller's own"));
        }
        (_, Some(own)) => found.push(format!(
            "grantable: not confirmed (the token's user is {own} in this org)"
        )),
        (Standing::Unknown(why), None) => found.push(format!("grantable: not confirmed ({why})")),
        (Standing::Orgs(_), None) => found
            .push("grantable: not confirmed (the token's user is not a member of this org)".into()),
    }
    (found, bad)
}

/// `status`'s lines about the token's expiry and the blocked call kinds.
pub async fn print_api_health(store: &crate::store::Store, dry_run: bool) -> anyhow::Result<()> {
    use crate::clock::Clock as _;
    let now = crate::clock::SystemClock.now().timestamp_millis();
    let (token, blocked) = crate::api_health::load(store).await?;
    let (level, text) = crate::api_health::token_component(token.as_ref(), dry_run, now);
    println!("snyk token expiry [{}]: {text}", level.as_str());
    if blocked.is_empty() {
        println!("snyk calls blocked: none");
    } else {
        println!(
            "snyk calls blocked (Snyk answered 410 Gone or sent Sunset / Deprecation; not sent, work kept queued; see docs/operations.md):"
        );
        for b in &blocked {
            println!(
                "  {}: {} since {}",
                b.kind,
                b.reason,
                crate::health::when(b.at, now)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GroupName, SnykOrgId};
    use crate::snyk::GroupMemberOrg;

    const ORG: &str = "6b7a7c5e-1111-4c4c-9d9d-0000000000a1";

    fn mapping(role: SnykRole) -> Mapping {
        Mapping {
            group: GroupName::parse("g").expect("group"),
            org_id: SnykOrgId::parse(ORG).expect("org"),
            role,
        }
    }

    fn orgs() -> Vec<GroupOrg> {
        vec![GroupOrg {
            id: ORG.into(),
            name: "Org A".into(),
        }]
    }

    fn member(group_role: Option<&str>, org_role: Option<&str>) -> Vec<GroupMember> {
        vec![GroupMember {
            id: "me".into(),
            email: None,
            orgs: org_role
                .map(|r| {
                    vec![GroupMemberOrg {
                        name: "Org A".into(),
                        role: Some(r.into()),
                    }]
                })
                .unwrap_or_default(),
            group_role: group_role.map(str::to_owned),
        }]
    }

    fn bad(m: &Mapping, standing: &Standing, roles: &[GroupRole]) -> (bool, String) {
        let (found, bad) = judge(m, "G", Some(&orgs()), Some(roles), standing);
        (bad, found.join("; "))
    }

    #[test]
    fn grantability_is_refuted_only_by_a_known_non_admin_granting_admin() {
        let admin = mapping(SnykRole::Admin);
        let custom = mapping(SnykRole::Custom("r-1".into()));
        let role = GroupRole {
            name: "Dev".into(),
            public_id: "r-1".into(),
            custom_role: Some(true),
        };
        let group_admin = standing_of(&member(Some("admin"), None), "me");
        let org_admin = standing_of(&member(None, Some("admin")), "me");
        let collaborator = standing_of(&member(None, Some("collaborator")), "me");
        let stranger = standing_of(&member(None, None), "someone-else");
        assert!(!bad(&admin, &group_admin, &[]).0);
        assert!(!bad(&admin, &org_admin, &[]).0);
        let (b, text) = bad(&admin, &collaborator, &[]);
        assert!(b && text.contains("not grantable"), "{text}");
        let (b, text) = bad(&custom, &collaborator, std::slice::from_ref(&role));
        assert!(!b && text.contains("not confirmed"), "{text}");
        let (b, text) = bad(&admin, &stranger, &[]);
        assert!(!b && text.contains("not confirmed"), "{text}");
        let (b, text) = bad(&custom, &group_admin, &[]);
        assert!(b && text.contains("role_public_id"), "{text}");
    }

    #[test]
    fn an_org_outside_the_group_is_a_problem_and_missing_reads_are_not() {
        let m = mapping(SnykRole::Collaborator);
        let standing = Standing::GroupAdmin;
        let (found, bad) = judge(&m, "G", Some(&[]), Some(&[]), &standing);
        assert!(bad && found[0].contains("not in group"), "{found:?}");
        let (found, bad) = judge(&m, "G", None, None, &standing);
        assert!(!bad && found[0].contains("not checked"), "{found:?}");
    }
}
