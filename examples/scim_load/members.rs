//! The member PATCH phase (issue 11, item 5): PATCHes/s adding and removing
//! one member of a group of `--member-sizes` members (e.g. 10 and 10,000).
//!
//! Per size: a group is filled through PATCH (chunks of 500 members), then
//! `--member-clients` clients each alternate "add my own user" and "remove my
//! own user" (Okta's or Entra's request shapes), so the group stays between
//! its size and its size plus the number of clients. The answer is the full
//! resource (`--member-answer full`), the resource without members
//! (`exclude`: `?excludedAttributes=members`) or none (`minimal`: `Prefer:
//! return=minimal`, answered 204). Never measures anything else.

use std::time::Instant;

use serde_json::{Value, json};

use super::{
    Args, GROUP_SCHEMA, MAPPED_GROUPS, PATCH_SCHEMA, Sample, Target, create_users, send, user_ids,
    wait_for_outbox,
};

/// How the member PATCHes are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Answer {
    /// No projection: the whole group, members included.
    Full,
    /// `?excludedAttributes=members`.
    Exclude,
    /// `Prefer: return=minimal`: 204 No Content.
    Minimal,
}

/// Which IdP's request shapes to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// add `members` with a value list; remove `members[value eq "id"]`.
    Okta,
    /// `Add`/`Remove` of `members` with a value list (Entra's default dialect).
    Entra,
}

fn add_op(shape: Shape, user: &str) -> Value {
    match shape {
        Shape::Okta => {
            json!({"op": "add", "path": "members", "value": [{"value": user, "display": user}]})
        }
        Shape::Entra => json!({"op": "Add", "path": "members", "value": [{"value": user}]}),
    }
}

fn remove_op(shape: Shape, user: &str) -> Value {
    match shape {
        Shape::Okta => json!({"op": "remove", "path": format!("members[value eq \"{user}\"]")}),
        Shape::Entra => json!({"op": "Remove", "path": "members", "value": [{"value": user}]}),
    }
}

fn patch_body(ops: Vec<Value>) -> String {
    json!({"schemas": [PATCH_SCHEMA], "Operations": ops}).to_string()
}

/// The whole phase: seed users, then one measurement per size.
pub async fn run(
    args: &Args,
    client: &reqwest::Client,
    t: &Target,
    run: &str,
) -> anyhow::Result<()> {
    let largest = args.member_sizes.iter().copied().max().unwrap_or(0);
    let clients = args.member_clients.max(1);
    let needed = largest + clients;
    create_users("seed users", client, t, run, 0, needed, args.seed_clients).await;
    wait_for_outbox(t.store.as_ref(), !args.no_worker).await;
    let ids = user_ids(client, t, run, needed).await?;
    let (members, own) = ids.split_at(largest);
    println!(
        "member PATCH: {} shape, answer {:?}, {clients} clients, {} requests per size",
        match args.member_shape {
            Shape::Okta => "Okta",
            Shape::Entra => "Entra",
        },
        args.member_answer,
        args.patches
    );
    for (k, &size) in args.member_sizes.iter().enumerate() {
        let name = match MAPPED_GROUPS.get(k) {
            Some(m) if t.store.is_some() => (*m).to_owned(),
            _ => format!("member-group-{k}.{run}"),
        };
        let group = create_group(client, t, &name).await?;
        fill(client, t, &group, members.get(..size).unwrap_or(members)).await?;
        if let Some(d) = wait_for_outbox(t.store.as_ref(), !args.no_worker).await {
            println!(
                "  ({size} members added; outbox drained in {:.1} s)",
                d.as_secs_f64()
            );
        }
        churn(args, client, t, &group, size, own).await;
        wait_for_outbox(t.store.as_ref(), !args.no_worker).await;
    }
    Ok(())
}

async fn create_group(client: &reqwest::Client, t: &Target, name: &str) -> anyhow::Result<String> {
    let r = client
        .post(format!("{}/Groups", t.base))
        .bearer_auth(&t.token)
        .header("content-type", "application/scim+json")
        .body(json!({"schemas": [GROUP_SCHEMA], "displayName": name}).to_string())
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    body["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("creating group {name}: {status} {body}"))
}

/// Add `members` to the group, 500 per PATCH.
async fn fill(
    client: &reqwest::Client,
    t: &Target,
    group: &str,
    members: &[String],
) -> anyhow::Result<()> {
    for chunk in members.chunks(500) {
        let values: Vec<Value> = chunk.iter().map(|u| json!({"value": u})).collect();
        let r = client
            .patch(format!("{}/Groups/{group}", t.base))
            .bearer_auth(&t.token)
            .header("content-type", "application/scim+json")
            .query(&[("excludedAttributes", "members")])
            .body(patch_body(vec![
                json!({"op": "add", "path": "members", "value": values}),
            ]))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "filling the group: {}", r.status());
    }
    Ok(())
}

/// Each client alternates adding and removing its own user.
async fn churn(
    args: &Args,
    client: &reqwest::Client,
    t: &Target,
    group: &str,
    size: usize,
    own: &[String],
) {
    let clients = args.member_clients.max(1);
    let pairs = args.patches / 2 / clients;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for user in own.iter().take(clients) {
        let (c, url, token, user) = (
            client.clone(),
            format!("{}/Groups/{group}", t.base),
            t.token.clone(),
            user.clone(),
        );
        let (shape, answer) = (args.member_shape, args.member_answer);
        tasks.push(tokio::spawn(async move {
            let (mut add, mut remove, mut errors) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..pairs {
                for (op, lat) in [
                    (add_op(shape, &user), &mut add),
                    (remove_op(shape, &user), &mut remove),
                ] {
                    let mut req = c
                        .patch(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/scim+json")
                        .body(patch_body(vec![op]));
                    req = match answer {
                        Answer::Full => req,
                        Answer::Exclude => req.query(&[("excludedAttributes", "members")]),
                        Answer::Minimal => req.header("prefer", "return=minimal"),
                    };
                    let t0 = Instant::now();
                    match send(req).await {
                        Ok(()) => lat.push(t0.elapsed().as_micros() as u64),
                        Err(e) => errors.push(e),
                    }
                }
            }
            (add, remove, errors)
        }));
    }
    let (mut add, mut remove, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        let (a, r, e) = task.await.expect("a client task panicked");
        add.extend(a);
        remove.extend(r);
        errors.extend(e);
    }
    let elapsed = started.elapsed();
    let total = add.len() + remove.len();
    println!(
        "PATCH add/remove one member, group of {size}: {:.0} PATCHes/s ({total} in {:.1} s)",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    let first = errors.first().cloned();
    for (name, lat) in [("  add", add), ("  remove", remove)] {
        Sample {
            name: format!("{name} ({size})"),
            latencies_us: lat,
            errors: 0,
            first_error: None,
            // Both kinds share the elapsed time: each shows its own share.
            elapsed,
        }
        .report();
    }
    if !errors.is_empty() {
        println!(
            "  errors: {} (first: {})",
            errors.len(),
            first.unwrap_or_default()
        );
    }
}
