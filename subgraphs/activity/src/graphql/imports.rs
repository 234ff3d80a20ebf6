//! Importing workout files (`domain::imports`): declare, send in chunks,
//! finish, follow.

use async_graphql::{Context, InputObject, Object, SimpleObject, Subscription, ID};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use fittrack_kit::{
    auth::{Authenticated, ContextAuthExt},
    ApiError,
};
use futures_util::Stream;

use super::{parse_id, Quotas};
use crate::domain::{
    error::ActivityError,
    imports::{
        DeclaredFile, Import, ImportFile, ImportFileState, ImportState, Imports, WorkoutOutcome,
        WorkoutReport, CHUNK_BYTES, MAX_FILES,
    },
    model::ActivityType,
};

/// A file you are about to send.
#[derive(InputObject)]
pub struct ImportFileInput {
    /// The file's name (up to 200 characters): `morning-run.fit`, `export.zip`.
    pub name: String,
    /// Its size in bytes, at most 26214400 (25 MB).
    pub size_bytes: i32,
    /// Its SHA-256, 64 hexadecimal digits: what arrives is checked against it.
    pub sha256: String,
}

/// An import: what you sent and what became of it.
pub struct ImportObject(Import);

#[Object(name = "Import")]
impl ImportObject {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn state(&self) -> ImportState {
        self.0.state
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Bytes per chunk: send each file as chunks of this size (the last
    /// may be shorter), at offsets that are multiples of it.
    async fn chunk_bytes(&self) -> i32 {
        CHUNK_BYTES as i32
    }
    /// In the order they were declared; `uploadImportChunk` names a file by
    /// its index here. At most 20.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(MAX_FILES as i32), None, None, None))]
    async fn files(&self) -> Vec<ImportFileObject> {
        self.0.files.iter().cloned().map(ImportFileObject).collect()
    }
    /// Workouts stored by this import.
    async fn imported(&self) -> i32 {
        self.count(WorkoutOutcome::Imported)
    }
    /// Workouts you had already: not stored twice.
    async fn duplicates(&self) -> i32 {
        self.count(WorkoutOutcome::Duplicate)
    }
    /// Files and workouts that could not be imported, each with its reason.
    async fn failed(&self) -> i32 {
        let files = self
            .0
            .files
            .iter()
            .filter(|f| f.state == ImportFileState::Refused)
            .count();
        files as i32 + self.count(WorkoutOutcome::Refused)
    }
}

impl ImportObject {
    fn count(&self, outcome: WorkoutOutcome) -> i32 {
        let n = self
            .0
            .files
            .iter()
            .flat_map(|f| &f.workouts)
            .filter(|w| w.outcome == outcome)
            .count();
        i32::try_from(n).unwrap_or(i32::MAX)
    }
}

pub struct ImportFileObject(ImportFile);

#[Object(name = "ImportFile")]
impl ImportFileObject {
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn size_bytes(&self) -> i32 {
        i32::try_from(self.0.size_bytes).unwrap_or(i32::MAX)
    }
    async fn state(&self) -> ImportFileState {
        self.0.state
    }
    /// Why the file was not read (`state: REFUSED`).
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    /// Entries of a zip that were not workout files (photos, CSV…), skipped.
    async fn skipped_entries(&self) -> i32 {
        i32::try_from(self.0.skipped_entries).unwrap_or(i32::MAX)
    }
    /// Each workout the file held (a zip: its files' workouts), in order.
    /// A bulk export lists up to 2000.
    #[graphql(directive = fittrack_kit::schema::list_size::apply(Some(100), None, None, None))]
    async fn workouts(&self) -> Vec<ImportedWorkoutObject> {
        self.0
            .workouts
            .iter()
            .cloned()
            .map(ImportedWorkoutObject)
            .collect()
    }
}

pub struct ImportedWorkoutObject(WorkoutReport);

#[Object(name = "ImportedWorkout")]
impl ImportedWorkoutObject {
    /// The file it came from: inside a zip, its path there.
    async fn file(&self) -> &str {
        &self.0.entry
    }
    async fn outcome(&self) -> WorkoutOutcome {
        self.0.outcome
    }
    /// The activity stored (`IMPORTED`) or already there (`DUPLICATE`).
    async fn activity_id(&self) -> Option<ID> {
        self.0.activity_id.map(|id| ID(id.to_string()))
    }
    #[graphql(name = "type")]
    async fn activity_type(&self) -> Option<ActivityType> {
        self.0.activity_type
    }
    async fn start_time(&self) -> Option<DateTime<Utc>> {
        self.0.start_time
    }
    /// Why it was not imported (`REFUSED`).
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
}

/// How much of a file has arrived.
#[derive(SimpleObject)]
pub struct ImportChunkReceipt {
    pub received_bytes: i32,
    pub size_bytes: i32,
}

#[derive(Default)]
pub struct ImportQuery;

#[Object]
impl ImportQuery {
    /// One of your imports: its state, and what became of each file and
    /// each workout in it.
    #[graphql(guard = "Authenticated")]
    async fn import_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ImportObject> {
        let viewer = ctx.current_user()?;
        let id = parse_import_id(&id)?;
        Ok(ImportObject(
            ctx.data::<Imports>()?.get(viewer.id, id).await?,
        ))
    }
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Starts importing up to 20 files: FIT, GPX or TCX, gzipped or not, or
    /// zips of them (a Strava or Garmin bulk export), each up to 25 MB.
    /// Then send each file with `uploadImportChunk` and call
    /// `finishImport`. At most 3 of your imports may be unfinished.
    #[graphql(guard = "Authenticated")]
    async fn start_import(
        &self,
        ctx: &Context<'_>,
        files: Vec<ImportFileInput>,
        #[graphql(
            desc = "Where the workouts were done (IANA, `Europe/Paris`), for files that give no UTC offset (GPX, TCX); a FIT file's own offset wins unless this zone had it then."
        )]
        time_zone: Option<String>,
    ) -> async_graphql::Result<ImportObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let files = files
            .into_iter()
            .map(|file| DeclaredFile {
                name: file.name,
                size_bytes: u64::try_from(file.size_bytes).unwrap_or(0),
                sha256: file.sha256,
            })
            .collect();
        let import = ctx
            .data::<Imports>()?
            .start(viewer.id, files, time_zone)
            .await?;
        Ok(ImportObject(import))
    }

    /// Sends one chunk of file number `file` of an import: `chunkBytes`
    /// bytes (the file's last chunk: what is left) starting at `offset`, a
    /// multiple of `chunkBytes`, as base64. Sending a chunk again is
    /// harmless, so an interrupted upload resumes where it stopped.
    #[graphql(guard = "Authenticated")]
    async fn upload_import_chunk(
        &self,
        ctx: &Context<'_>,
        import_id: ID,
        file: i32,
        offset: i32,
        data: String,
    ) -> async_graphql::Result<ImportChunkReceipt> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_import_chunk(viewer.id).await?;
        let id = parse_id(&import_id, "importId")?;
        let file = u32::try_from(file)
            .map_err(|_| ActivityError::invalid("file", "must not be negative"))?;
        let offset = u64::try_from(offset)
            .map_err(|_| ActivityError::invalid("offset", "must not be negative"))?;
        // Checked before decoding: base64 is 4 characters per 3 bytes.
        if data.len() as u64 > CHUNK_BYTES.div_ceil(3) * 4 {
            return Err(ActivityError::invalid("data", "is longer than one chunk").into());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|_| ActivityError::invalid("data", "is not base64"))?;
        let received = ctx
            .data::<Imports>()?
            .upload_chunk(viewer.id, id, file, offset, &bytes)
            .await?;
        Ok(ImportChunkReceipt {
            received_bytes: i32::try_from(received.received_bytes).unwrap_or(i32::MAX),
            size_bytes: i32::try_from(received.size_bytes).unwrap_or(i32::MAX),
        })
    }

    /// Queues an import whose files have all arrived; follow it with
    /// `importStatus`. Calling it again is harmless.
    #[graphql(guard = "Authenticated")]
    async fn finish_import(
        &self,
        ctx: &Context<'_>,
        import_id: ID,
    ) -> async_graphql::Result<ImportObject> {
        let viewer = ctx.current_user()?;
        ctx.data::<Quotas>()?.admit_write(viewer.id).await?;
        let id = parse_id(&import_id, "importId")?;
        Ok(ImportObject(
            ctx.data::<Imports>()?.finish(viewer.id, id).await?,
        ))
    }
}

/// A malformed id cannot name an import.
fn parse_import_id(id: &ID) -> Result<uuid::Uuid, ActivityError> {
    uuid::Uuid::parse_str(id).map_err(|_| ActivityError::ImportNotFound)
}

/// Imports one user may follow live at once (per replica).
pub const MAX_WATCHERS_PER_USER: usize = 5;
/// How often a followed import is looked at: the importer saves its report
/// after every file, and any replica may run it, so the store is the source.
pub const PROGRESS_POLL: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Default)]
pub struct ImportSubscription;

#[Subscription]
impl ImportSubscription {
    /// One of your imports as it progresses: its state now, then again
    /// after every file read, ending once it is `DONE`. At most 5 followed
    /// at once per user (`RATE_LIMITED` past that).
    #[graphql(guard = "Authenticated")]
    async fn import_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ImportObject>>> {
        let viewer = ctx.current_user()?.clone();
        let id = parse_import_id(&id)?;
        let imports = ctx.data::<Imports>()?.clone();
        let first = imports.get(viewer.id, id).await?;
        // Held by the stream: given back however the subscription ends.
        let slot = watchers()
            .try_open(viewer.id, MAX_WATCHERS_PER_USER)
            .ok_or_else(|| {
                ApiError::rate_limited(
                    format!(
                        "At most {MAX_WATCHERS_PER_USER} imports followed at once; close one first"
                    ),
                    5,
                )
            })?;
        let owner = viewer.id;
        let updates = futures_util::stream::unfold(
            (Some(first), None::<Import>, slot),
            move |(pending, last, slot)| {
                let imports = imports.clone();
                async move {
                    if let Some(import) = pending {
                        return Some((Ok(import.clone()), (None, Some(import), slot)));
                    }
                    let last = last?;
                    if last.state == ImportState::Done {
                        return None;
                    }
                    loop {
                        tokio::time::sleep(PROGRESS_POLL).await;
                        match imports.get(owner, last.id).await {
                            Ok(now) if now != last => {
                                return Some((Ok(now.clone()), (None, Some(now), slot)))
                            }
                            Ok(_) => continue,
                            // Gone (the account was erased) or unreadable:
                            // say so once and end.
                            Err(error) => {
                                return Some((
                                    Err(ApiError::from(error).into()),
                                    (None, None, slot),
                                ))
                            }
                        }
                    }
                }
            },
        );
        let verifier = ctx
            .data_opt::<std::sync::Arc<fittrack_kit::JwtVerifier>>()
            .cloned();
        Ok(fittrack_kit::auth::until_session_ends(
            futures_util::StreamExt::map(updates, |item: async_graphql::Result<Import>| {
                item.map(ImportObject)
            }),
            verifier,
            viewer,
        ))
    }
}

fn watchers() -> &'static fittrack_kit::ratelimit::OpenSlots<uuid::Uuid> {
    static OPEN: std::sync::OnceLock<fittrack_kit::ratelimit::OpenSlots<uuid::Uuid>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(Default::default)
}
