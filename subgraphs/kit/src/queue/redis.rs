//! Redis Streams backend (`fred`): one stream per queue, one consumer group,
//! a `…:dlq` stream for dead letters.
//!
//! - enqueue: `XADD <key> * payload …`
//! - receive: `XAUTOCLAIM` jobs idle longer than the visibility timeout (their
//!   delivery counts read back with `XPENDING`), then `XREADGROUP … >` for new ones
//! - ack: `XACK` + `XDEL` in one script (one group per stream, so an acked entry
//!   is garbage)
//! - dead letters: `XADD <key>:dlq` with the ack in one script, listed with
//!   `XRANGE`, replayed with `XADD` + `XDEL`

use std::{collections::HashMap, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fred::{
    prelude::{ClientLike, Value},
    types::{ClusterHash, CustomCommand},
};

use crate::redis::command;

use super::{DeadLetter, Delivery, JobQueue, QueueOptions, QueueStats};

/// Every queue stream is `<namespace>:queue:<name>` (see `kit::shared`);
/// `<namespace>:queue:{<name>}` on a cluster (`kit::redis::slot_tagged`).
const KEY_INFIX: &str = ":queue:";

/// XACK and XDEL as one step (a script runs atomically): a worker killed
/// between the two would leave an acknowledged job in the stream, never
/// delivered again and counted as waiting for ever.
const ACK_AND_DELETE: &str =
    "redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) return redis.call('XDEL', KEYS[1], ARGV[2])";

/// The dead letter written (fields from ARGV[3]) and the job removed as one
/// step: a crash in between would dead-letter it twice.
const DEAD_LETTER: &str = "redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3)) \
     redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) \
     return redis.call('XDEL', KEYS[1], ARGV[2])";

pub struct RedisJobQueue {
    name: String,
    key: String,
    dlq_key: String,
    group: String,
    options: QueueOptions,
    client: fred::clients::Client,
    /// `XREADGROUP … BLOCK` holds its connection; it gets one of its own so it
    /// never stalls enqueues and acks.
    blocking: fred::clients::Client,
    /// Under Sentinel, an enqueue returns once a replica holds the job.
    replica_acks: crate::redis::ReplicaAcks,
}

impl RedisJobQueue {
    /// The queue `name` in the default namespace.
    pub async fn connect(
        url: &str,
        name: &str,
        group: &str,
        options: QueueOptions,
    ) -> anyhow::Result<Self> {
        Self::connect_in(crate::shared::DEFAULT_NAMESPACE, url, name, group, options).await
    }

    pub async fn connect_in(
        namespace: &str,
        url: &str,
        name: &str,
        group: &str,
        options: QueueOptions,
    ) -> anyhow::Result<Self> {
        let (client, blocking) = crate::redis::connect_pair(url).await?;
        // On a cluster the stream and its dead letters share a slot: the
        // dead-letter script writes both.
        let key = crate::redis::slot_tagged(&client, &format!("{namespace}{KEY_INFIX}"), name);
        let queue = Self {
            name: name.to_owned(),
            dlq_key: format!("{key}:dlq"),
            key,
            group: group.to_owned(),
            options,
            client,
            blocking,
            replica_acks: Default::default(),
        };
        queue.ensure_group().await?;
        Ok(queue)
    }

    async fn ensure_group(&self) -> anyhow::Result<()> {
        let created: Result<Value, _> = self
            .client
            .custom(
                command("XGROUP"),
                vec![
                    "CREATE",
                    self.key.as_str(),
                    self.group.as_str(),
                    "0",
                    "MKSTREAM",
                ],
            )
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(e).context("creating the consumer group"),
        }
    }

    /// Expired in-flight jobs first, then new ones (see `JobQueue::receive`).
    async fn receive_from_group(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> anyhow::Result<Vec<Delivery>> {
        let mut jobs = self.reclaim(consumer, max).await?;
        if jobs.len() < max {
            // Only block when there is nothing to return already.
            let wait = if jobs.is_empty() {
                wait
            } else {
                Duration::ZERO
            };
            // Never block past the next possible redelivery by much.
            let wait = wait.min(self.options.visibility_timeout);
            jobs.extend(self.read_new(consumer, max - jobs.len(), wait).await?);
        }
        Ok(jobs)
    }

    async fn call(&self, name: &'static str, args: Vec<String>) -> anyhow::Result<Value> {
        self.client
            .custom(command(name), args)
            .await
            .with_context(|| format!("redis {name} on {}", self.key))
    }

    /// Jobs idle past the visibility timeout, claimed for `consumer`.
    async fn reclaim(&self, consumer: &str, max: usize) -> anyhow::Result<Vec<Delivery>> {
        let idle_ms = self.options.visibility_timeout.as_millis().to_string();
        let reply = self
            .call(
                "XAUTOCLAIM",
                vec![
                    self.key.clone(),
                    self.group.clone(),
                    consumer.to_owned(),
                    idle_ms,
                    "0-0".into(),
                    "COUNT".into(),
                    max.to_string(),
                ],
            )
            .await?;
        let mut parts = reply.into_array().into_iter();
        let _next_cursor = parts.next();
        let entries = parts.next().map(parse_entries).unwrap_or_default();
        // Entries deleted from the stream while pending: nothing left to deliver.
        if let Some(deleted) = parts.next() {
            let ids: Vec<String> = deleted
                .into_array()
                .into_iter()
                .filter_map(|v| v.into_string())
                .collect();
            if !ids.is_empty() {
                let mut args = vec![self.key.clone(), self.group.clone()];
                args.extend(ids);
                self.call("XACK", args).await?;
            }
        }
        if entries.is_empty() {
            return Ok(vec![]);
        }
        let counts = self.delivery_counts(&entries).await?;
        let mut out = Vec::new();
        for (id, fields) in entries {
            let deliveries = counts.get(&id).copied().unwrap_or(1);
            let payload = fields.get("payload").cloned().unwrap_or_default();
            // XAUTOCLAIM already counted this delivery: beyond the limit means the
            // previous `max_deliveries` attempts all went unacknowledged.
            if deliveries > self.options.max_deliveries {
                let job = Delivery {
                    id,
                    payload,
                    deliveries: deliveries - 1,
                };
                let reason = format!("not acknowledged after {} deliveries", job.deliveries);
                self.dead_letter(&job, &reason).await?;
            } else {
                out.push(Delivery {
                    id,
                    payload,
                    deliveries,
                });
            }
        }
        Ok(out)
    }

    async fn delivery_counts(
        &self,
        entries: &[(String, HashMap<String, String>)],
    ) -> anyhow::Result<HashMap<String, u32>> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Ok(HashMap::new());
        };
        let reply = self
            .call(
                "XPENDING",
                vec![
                    self.key.clone(),
                    self.group.clone(),
                    first.0.clone(),
                    last.0.clone(),
                    (entries.len() * 4).max(16).to_string(),
                ],
            )
            .await?;
        Ok(reply
            .into_array()
            .into_iter()
            .filter_map(|row| {
                let row = row.into_array();
                let id = row.first()?.as_string()?;
                let count = row.get(3)?.as_i64()?;
                Some((id, u32::try_from(count).unwrap_or(u32::MAX)))
            })
            .collect())
    }

    async fn read_new(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> anyhow::Result<Vec<Delivery>> {
        let mut args = vec![
            "GROUP".to_owned(),
            self.group.clone(),
            consumer.to_owned(),
            "COUNT".into(),
            max.to_string(),
        ];
        let wait_ms = wait.as_millis();
        if wait_ms > 0 {
            args.extend(["BLOCK".into(), wait_ms.to_string()]);
        }
        args.extend(["STREAMS".into(), self.key.clone(), ">".into()]);
        // Bounded even on the blocking connection: a black-holed read fails
        // a little after its own BLOCK time, and the consumer retries.
        let options = fred::types::config::Options {
            timeout: Some(wait + crate::redis::COMMAND_TIMEOUT),
            ..Default::default()
        };
        let reply: Value = self
            .blocking
            .with_options(&options)
            .custom(
                CustomCommand::new_static("XREADGROUP", ClusterHash::FirstKey, wait_ms > 0),
                args,
            )
            .await
            .with_context(|| format!("redis XREADGROUP on {}", self.key))?;
        Ok(parse_read_reply(reply)
            .into_iter()
            .map(|(id, fields)| Delivery {
                payload: fields.get("payload").cloned().unwrap_or_default(),
                id,
                deliveries: 1,
            })
            .collect())
    }

    async fn remove(&self, id: &str) -> anyhow::Result<()> {
        self.call(
            "EVAL",
            vec![
                ACK_AND_DELETE.into(),
                "1".into(),
                self.key.clone(),
                self.group.clone(),
                id.to_owned(),
            ],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl JobQueue for RedisJobQueue {
    fn name(&self) -> &str {
        &self.name
    }

    fn options(&self) -> &QueueOptions {
        &self.options
    }

    async fn enqueue(&self, payload: &str) -> anyhow::Result<String> {
        let reply = self
            .call(
                "XADD",
                vec![
                    self.key.clone(),
                    "*".into(),
                    "payload".into(),
                    payload.to_owned(),
                ],
            )
            .await?;
        let id = reply.into_string().context("XADD returned no id")?;
        self.replica_acks.confirm(&self.client).await?;
        Ok(id)
    }

    async fn receive(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> anyhow::Result<Vec<Delivery>> {
        if max == 0 {
            return Ok(vec![]);
        }
        match self.receive_from_group(consumer, max, wait).await {
            // Redis came back without our data (restarted without
            // persistence, or the key was removed): the group is gone. Create
            // it again from the start of the stream, so jobs enqueued since
            // are delivered, and read once more.
            Err(error) if format!("{error:#}").contains("NOGROUP") => {
                tracing::warn!(queue = %self.key, "consumer group missing; creating it again");
                self.ensure_group().await?;
                self.receive_from_group(consumer, max, wait).await
            }
            other => other,
        }
    }

    async fn ack(&self, id: &str) -> anyhow::Result<()> {
        self.remove(id).await
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> anyhow::Result<()> {
        self.call(
            "EVAL",
            vec![
                DEAD_LETTER.into(),
                "2".into(),
                self.key.clone(),
                self.dlq_key.clone(),
                self.group.clone(),
                delivery.id.clone(),
                "job_id".into(),
                delivery.id.clone(),
                "payload".into(),
                delivery.payload.clone(),
                "deliveries".into(),
                delivery.deliveries.to_string(),
                "reason".into(),
                reason.to_owned(),
                "failed_at".into(),
                Utc::now().to_rfc3339(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn dead_letters(&self, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        let reply = self
            .call(
                "XRANGE",
                vec![
                    self.dlq_key.clone(),
                    "-".into(),
                    "+".into(),
                    "COUNT".into(),
                    limit.to_string(),
                ],
            )
            .await?;
        Ok(parse_entries(reply)
            .into_iter()
            .map(|(id, fields)| dead_letter_from(id, fields))
            .collect())
    }

    async fn purge(
        &self,
        matches: &(dyn for<'p> Fn(&'p str) -> bool + Send + Sync),
    ) -> anyhow::Result<usize> {
        const PAGE: usize = 500;
        let mut purged = 0;
        for (key, dead) in [(self.key.clone(), false), (self.dlq_key.clone(), true)] {
            let mut start = "-".to_owned();
            loop {
                let reply = self
                    .call(
                        "XRANGE",
                        vec![
                            key.clone(),
                            start.clone(),
                            "+".into(),
                            "COUNT".into(),
                            PAGE.to_string(),
                        ],
                    )
                    .await?;
                let entries = parse_entries(reply);
                let read = entries.len();
                for (id, fields) in entries {
                    if fields
                        .get("payload")
                        .is_some_and(|payload| matches(payload))
                    {
                        if dead {
                            self.call("XDEL", vec![key.clone(), id.clone()]).await?;
                        } else {
                            // XACK too: a pending entry must leave the group's list.
                            self.remove(&id).await?;
                        }
                        purged += 1;
                    }
                    // Exclusive start (Redis 6.2+): the page after this entry.
                    start = format!("({id}");
                }
                if read < PAGE {
                    break;
                }
            }
        }
        Ok(purged)
    }

    async fn replay(&self, dead_letter_id: &str) -> anyhow::Result<Option<String>> {
        let reply = self
            .call(
                "XRANGE",
                vec![
                    self.dlq_key.clone(),
                    dead_letter_id.to_owned(),
                    dead_letter_id.to_owned(),
                ],
            )
            .await;
        // A malformed id is simply not a dead letter.
        let Ok(reply) = reply else { return Ok(None) };
        let Some((id, fields)) = parse_entries(reply).into_iter().next() else {
            return Ok(None);
        };
        let job_id = self
            .enqueue(
                fields
                    .get("payload")
                    .map(String::as_str)
                    .unwrap_or_default(),
            )
            .await?;
        self.call("XDEL", vec![self.dlq_key.clone(), id]).await?;
        Ok(Some(job_id))
    }

    async fn stats(&self) -> anyhow::Result<QueueStats> {
        // Acked entries are deleted, so the stream holds exactly the jobs not
        // yet done; the group's pending list is the in-flight part of them.
        let count = |v: Value| u64::try_from(v.as_i64().unwrap_or(0)).unwrap_or(0);
        let length = count(self.call("XLEN", vec![self.key.clone()]).await?);
        let pending = self
            .call("XPENDING", vec![self.key.clone(), self.group.clone()])
            .await?
            .into_array()
            .into_iter()
            .next()
            .map_or(0, count);
        let dead_letters = count(self.call("XLEN", vec![self.dlq_key.clone()]).await?);
        // The first entry is the oldest job not yet done; its id starts
        // with the millisecond it was added.
        let first = self
            .call(
                "XRANGE",
                vec![
                    self.key.clone(),
                    "-".into(),
                    "+".into(),
                    "COUNT".into(),
                    "1".into(),
                ],
            )
            .await?;
        let oldest_job_at = first
            .into_array()
            .into_iter()
            .next()
            .and_then(|entry| entry.into_array().into_iter().next())
            .and_then(|id| id.into_string())
            .and_then(|id| id.split('-').next()?.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis);
        Ok(QueueStats {
            waiting: length.saturating_sub(pending),
            in_flight: pending,
            dead_letters,
            oldest_job_at,
        })
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let _: Value = self.client.ping(None).await.context("redis PING")?;
        Ok(())
    }
}

fn dead_letter_from(id: String, mut fields: HashMap<String, String>) -> DeadLetter {
    DeadLetter {
        job_id: fields.remove("job_id").unwrap_or_default(),
        payload: fields.remove("payload").unwrap_or_default(),
        deliveries: fields
            .get("deliveries")
            .and_then(|d| d.parse().ok())
            .unwrap_or_default(),
        reason: fields.remove("reason").unwrap_or_default(),
        failed_at: fields
            .get("failed_at")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now),
        id,
    }
}

/// `[[id, [field, value, …]], …]` (RESP2) or the RESP3 equivalent.
fn parse_entries(value: Value) -> Vec<(String, HashMap<String, String>)> {
    value
        .into_array()
        .into_iter()
        .filter_map(|entry| {
            let mut parts = entry.into_array().into_iter();
            let id = parts.next()?.into_string()?;
            let mut fields = HashMap::new();
            let mut flat = parts
                .next()
                .map(Value::into_array)
                .unwrap_or_default()
                .into_iter();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                if let (Some(k), Some(v)) = (k.into_string(), v.into_string()) {
                    fields.insert(k, v);
                }
            }
            Some((id, fields))
        })
        .collect()
}

/// `XREADGROUP`'s reply: nil, `[[key, entries]]` (RESP2) or `{key: entries}` (RESP3).
fn parse_read_reply(value: Value) -> Vec<(String, HashMap<String, String>)> {
    match value {
        Value::Null => vec![],
        Value::Map(map) => map.inner().into_values().flat_map(parse_entries).collect(),
        other => other
            .into_array()
            .into_iter()
            .flat_map(|stream| {
                stream
                    .into_array()
                    .into_iter()
                    .nth(1)
                    .map(parse_entries)
                    .unwrap_or_default()
            })
            .collect(),
    }
}
