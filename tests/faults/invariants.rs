//! What must hold once the faults are healed and the load has stopped, read
//! from the data (through the API as its users see it, and from the queue),
//! not from the status codes the load saw.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::{
    load::{call, call_ok, Finished, Outcome, SimUser, Wall, LOGIN, REGISTER},
    stack::FaultStack,
    support::PASSWORD,
};

/// A stream-published recommendation counts as delivered if the subscriber
/// received it, or if it was created while the subscriber knew it was not
/// subscribed: inside a gap, widened by this much on each side (the event may
/// have been lost just before the subscriber was told).
fn gap_margin() -> chrono::Duration {
    chrono::Duration::seconds(5)
}
/// Longest the system may take to finish the work in flight once healed.
const SETTLE: Duration = Duration::from_secs(90);

const ACTIVITIES: &str = "query($after: String) { me { activities(first: 100, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }";
const RECOMMENDATIONS: &str = "query($after: String) { myRecommendations(first: 100, after: $after) { edges { node { id activityId createdAt } } pageInfo { hasNextPage endCursor } } }";
const AUDIT: &str = "query($target: ID!, $after: String) { auditLogs(filter: {targetUserId: $target}, first: 100, after: $after) { edges { node { id action } } pageInfo { hasNextPage endCursor } } }";

/// Every page of a connection at `path` (e.g. `["me", "activities"]`).
async fn all_nodes(
    http: &reqwest::Client,
    router: &str,
    query: &str,
    mut variables: Value,
    token: &str,
    path: &[&str],
) -> Vec<Value> {
    let mut nodes = Vec::new();
    loop {
        let data = call_ok(http, router, query, variables.clone(), Some(token)).await;
        let mut connection = &data;
        for key in path {
            connection = &connection[*key];
        }
        for edge in connection["edges"].as_array().expect("edges") {
            nodes.push(edge["node"].clone());
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            return nodes;
        }
        variables["after"] = connection["pageInfo"]["endCursor"].clone();
    }
}

struct Stored {
    activities: BTreeSet<String>,
    /// activityId → (recommendation ids, createdAt of the first).
    recommendations: BTreeMap<String, (Vec<String>, Wall)>,
}

async fn stored(http: &reqwest::Client, router: &str, user: &SimUser) -> Stored {
    // A fresh token: the load's may have been issued before a restart.
    let token = call_ok(
        http,
        router,
        LOGIN,
        json!({"email": user.email, "password": PASSWORD}),
        None,
    )
    .await["login"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let activities = all_nodes(
        http,
        router,
        ACTIVITIES,
        json!({}),
        &token,
        &["me", "activities"],
    )
    .await
    .into_iter()
    .map(|node| node["id"].as_str().expect("id").to_owned())
    .collect();
    let mut recommendations: BTreeMap<String, (Vec<String>, Wall)> = BTreeMap::new();
    for node in all_nodes(
        http,
        router,
        RECOMMENDATIONS,
        json!({}),
        &token,
        &["myRecommendations"],
    )
    .await
    {
        let created: Wall = node["createdAt"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("createdAt");
        let entry = recommendations
            .entry(node["activityId"].as_str().expect("activityId").to_owned())
            .or_insert((Vec::new(), created));
        entry.0.push(node["id"].as_str().expect("id").to_owned());
    }
    Stored {
        activities,
        recommendations,
    }
}

/// Waits for the work in flight to finish (queue empty, every activity
/// answered), then lists every invariant broken; empty when all hold.
pub async fn check(stack: &FaultStack, finished: &Finished) -> Vec<String> {
    let http = reqwest::Client::new();
    let router = stack.router();
    let queue = stack.queue().await;
    let settle_until = Instant::now() + SETTLE;
    let (stored_by_user, dead) = loop {
        let stats = queue.stats().await.expect("queue stats");
        let dead = queue
            .dead_letters(10_000)
            .await
            .expect("dead letters")
            .into_iter()
            .filter_map(|letter| {
                let payload: Value = serde_json::from_str(&letter.payload).ok()?;
                Some((payload["activityId"].as_str()?.to_owned(), letter.reason))
            })
            .collect::<BTreeMap<_, _>>();
        let mut stored_by_user = Vec::new();
        for user in &finished.users {
            stored_by_user.push(stored(&http, &router, user).await);
        }
        let unanswered = stored_by_user
            .iter()
            .flat_map(|s| {
                s.activities
                    .iter()
                    .filter(|a| !s.recommendations.contains_key(*a))
            })
            .filter(|a| !dead.contains_key(*a))
            .count();
        if stats.waiting == 0 && stats.in_flight == 0 && unanswered == 0 {
            break (stored_by_user, dead);
        }
        if Instant::now() > settle_until {
            return vec![format!(
                "not settled {SETTLE:?} after the load: queue {stats:?}, {unanswered} activities without a recommendation or dead letter"
            )];
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let mut broken = Vec::new();
    for (user, stored) in finished.users.iter().zip(&stored_by_user) {
        let logged = user.logged.lock().await;
        let mut confirmed = BTreeSet::new();
        let mut unconfirmed = 0;
        for entry in logged.iter() {
            let ids: BTreeSet<&String> = entry.ids.iter().collect();
            if ids.len() > 1 {
                broken.push(format!(
                    "idempotency key {} answered with {ids:?}",
                    entry.key
                ));
            }
            if ids.is_empty() {
                unconfirmed += 1;
            }
            confirmed.extend(entry.ids.iter().cloned());
        }
        for id in confirmed.difference(&stored.activities) {
            broken.push(format!(
                "{}: confirmed activity {id} is not stored (lost)",
                user.email
            ));
        }
        let extra = stored.activities.difference(&confirmed).count();
        if extra > unconfirmed {
            broken.push(format!(
                "{}: {extra} stored activities were never confirmed, but only {unconfirmed} requests went unanswered (duplicates)",
                user.email
            ));
        }
        for (activity, (ids, _)) in &stored.recommendations {
            if ids.len() != 1 {
                broken.push(format!(
                    "activity {activity} has {} recommendations",
                    ids.len()
                ));
            }
            if !stored.activities.contains(activity) {
                broken.push(format!(
                    "recommendation for {activity}, which is not stored (orphan)"
                ));
            }
        }
        for activity in &stored.activities {
            if stored.recommendations.contains_key(activity) && dead.contains_key(activity) {
                broken.push(format!(
                    "activity {activity} has a recommendation and a dead letter"
                ));
            }
        }
        let subscriber = user.subscriber.lock().await;
        for (activity, (_, created)) in &stored.recommendations {
            if *created >= finished.stopped_at || subscriber.received.contains_key(activity) {
                continue;
            }
            let told = subscriber.gaps.iter().any(|gap| {
                gap.from - gap_margin() <= *created && *created <= gap.to + gap_margin()
            });
            if !told {
                broken.push(format!(
                    "{}: recommendation for {activity} ({created}) never arrived and the subscriber was never told (gaps {:?}, reasons {:?})",
                    user.email, subscriber.gaps, subscriber.reasons
                ));
            }
        }
    }

    // Moderation: every confirmed change has its audit entry, once; no entry
    // exists for more changes than were tried.
    let admin = &finished.admin;
    let entries = all_nodes(
        &http,
        &router,
        AUDIT,
        json!({"target": admin.target}),
        &admin.token,
        &["auditLogs"],
    )
    .await;
    let entry_ids: Vec<&str> = entries.iter().filter_map(|e| e["id"].as_str()).collect();
    let unique: BTreeSet<&str> = entry_ids.iter().copied().collect();
    if unique.len() != entry_ids.len() {
        broken.push("an audit entry is listed twice".into());
    }
    for id in admin.confirmed.lock().await.iter() {
        if !unique.contains(id.as_str()) {
            broken.push(format!(
                "confirmed suspension's audit entry {id} is missing"
            ));
        }
    }
    let attempts = *admin.attempts.lock().await;
    if entry_ids.len() as u64 > attempts {
        broken.push(format!(
            "{} audit entries for {attempts} suspensions tried",
            entry_ids.len()
        ));
    }

    // Sign-ups: each account is whole (it signs in) or absent (the email can
    // sign up again); a confirmed one always signs in.
    for (email, confirmed) in admin.sign_ups.lock().await.iter() {
        let (signed_in, _) = call(
            &http,
            &router,
            LOGIN,
            json!({"email": email, "password": PASSWORD}),
            None,
        )
        .await;
        match signed_in {
            Outcome::Ok => {}
            _ if *confirmed => broken.push(format!(
                "confirmed account {email} cannot sign in ({signed_in:?})"
            )),
            _ => {
                let (again, _) = call(
                    &http,
                    &router,
                    REGISTER,
                    json!({"input": {"email": email, "password": PASSWORD}}),
                    None,
                )
                .await;
                if again != Outcome::Ok {
                    broken.push(format!(
                        "account {email}: cannot sign in ({signed_in:?}) nor sign up again ({again:?}): half-written"
                    ));
                }
            }
        }
    }
    broken
}
