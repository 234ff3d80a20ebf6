//! Importing workout files: the upload in chunks, the job that reads it,
//! and the report a user follows, per file and per workout.
//!
//! A client declares its files ([`Imports::start`]: name, size, SHA-256),
//! sends each in [`CHUNK_BYTES`] pieces as ordinary GraphQL mutations
//! ([`Imports::upload_chunk`]), then asks for the import to run
//! ([`Imports::finish`]), which puts a job on the queue. The job
//! ([`Imports::run`]) checks each file against its hash, unpacks it, reads
//! each workout and stores it through [`Activities::import_recording`],
//! saving the report after every file so progress can be followed.
//!
//! Why chunks: hive-router 0.2 does not forward multipart uploads, and one
//! 25 MB mutation would need a body limit 100 times what any other request
//! needs, on every operation. Chunks need a modest limit, resume after a
//! dropped connection, and go through any router (Apollo Router included)
//! with its auth, CSRF and rate limits unchanged.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    activities::{Activities, ImportedWorkout},
    error::{ActivityError, ActivityResult},
    model::ActivityType,
    recording::{FileRefusal, OriginalFile, Recording},
};

/// Reads an upload (a file, a `.gz`, a zip of many) into its workouts:
/// implemented by the file-format adapter (`Reader` in the `files` module).
pub trait UploadReader: Send + Sync + 'static {
    fn read(&self, name: &str, bytes: &[u8], now: DateTime<Utc>)
        -> Result<ReadUpload, FileRefusal>;
    /// The file at `source` in an upload, unpacked again: one file at a
    /// time is held, not a whole archive's.
    fn unpack(&self, bytes: &[u8], source: EntrySource) -> Result<Vec<u8>, FileRefusal>;
}

/// Where a file is in an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntrySource {
    /// The upload itself.
    Whole,
    /// The upload, gzipped.
    Gzipped,
    /// An entry of a zip, by index; gzipped itself or not.
    Zipped { index: usize, gzipped: bool },
}

/// One workout of an upload, read or refused, with the file it came from.
#[derive(Debug)]
pub struct ReadWorkout {
    pub name: String,
    /// SHA-256 (hex) of the file it came from, once unpacked.
    pub sha256: String,
    pub source: EntrySource,
    pub workout: Result<Recording, FileRefusal>,
}

/// Everything an upload holds.
#[derive(Debug)]
pub struct ReadUpload {
    pub workouts: Vec<ReadWorkout>,
    /// Entries of an archive that were not workout files.
    pub skipped: u32,
}

/// Bytes of one chunk (the last of a file may be shorter): 512 KiB, 700 KB
/// as base64, within the router's (1 MB) and the subgraph's (1 MiB)
/// request body limits.
pub const CHUNK_BYTES: u64 = 512 * 1024;
/// Largest file an import takes (a zip of many files counts as one).
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// Most files one import declares.
pub const MAX_FILES: usize = 20;
/// Most imports a user may have unfinished at once: each holds staged bytes.
pub const MAX_OPEN_IMPORTS: u32 = 3;
/// How long an upload may wait for its bytes before its chunks are
/// dropped: staged bytes are storage a client holds without using.
pub const ABANDONED_AFTER_HOURS: i64 = 24;
/// Longest file name kept.
pub const NAME_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportState {
    /// Waiting for the files' bytes.
    Uploading,
    /// Every byte arrived; waiting for the importer.
    Queued,
    Running,
    Done,
}

impl ImportState {
    pub fn is_open(self) -> bool {
        self != Self::Done
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportFileState {
    Uploading,
    /// Uploaded, not read yet.
    Waiting,
    /// Read: its workouts are in `workouts`.
    Read,
    /// Not read: `reason` says why.
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkoutOutcome {
    Imported,
    /// Already there (the same start time and type): nothing stored twice.
    Duplicate,
    Refused,
}

/// What became of one workout of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkoutReport {
    /// The file it came from (a name inside a zip, or the upload's name).
    pub entry: String,
    pub outcome: WorkoutOutcome,
    pub activity_id: Option<Uuid>,
    pub activity_type: Option<ActivityType>,
    pub start_time: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportFile {
    pub name: String,
    pub size_bytes: u64,
    /// Lower-case hex, as declared by the client.
    pub sha256: String,
    pub state: ImportFileState,
    pub reason: Option<String>,
    /// Entries of an archive that were not workout files (photos, CSV…).
    pub skipped_entries: u32,
    pub workouts: Vec<WorkoutReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    pub id: Uuid,
    pub user_id: Uuid,
    pub state: ImportState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub files: Vec<ImportFile>,
    /// Where the workouts were done, for files that do not say (GPX, TCX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// A file as the client declares it before sending it.
#[derive(Debug, Clone)]
pub struct DeclaredFile {
    pub name: String,
    pub size_bytes: u64,
    pub sha256: String,
}

/// How much of a file has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub received_bytes: u64,
    pub size_bytes: u64,
}

/// Where imports and their staged bytes are kept (both backends).
#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    async fn create_import(&self, import: &Import) -> anyhow::Result<()>;
    async fn import(&self, id: Uuid) -> anyhow::Result<Option<Import>>;
    /// Replaces the import's report and state.
    async fn save_import(&self, import: &Import) -> anyhow::Result<()>;
    /// Replaces the import only if its stored state is still `from`;
    /// whether it did (of two racing callers, one wins).
    async fn save_import_if(&self, import: &Import, from: ImportState) -> anyhow::Result<bool>;
    /// A user's imports not done yet.
    async fn open_imports(&self, user_id: Uuid) -> anyhow::Result<u32>;
    /// Keeps a chunk, unless one is kept at that place already.
    async fn put_chunk(
        &self,
        import_id: Uuid,
        file: u32,
        offset: u64,
        bytes: &[u8],
    ) -> anyhow::Result<()>;
    /// Offsets and lengths of a file's chunks kept so far.
    async fn chunk_sizes(&self, import_id: Uuid, file: u32) -> anyhow::Result<Vec<(u64, u64)>>;
    /// A file's chunks in offset order.
    async fn chunks(&self, import_id: Uuid, file: u32) -> anyhow::Result<Vec<(u64, Vec<u8>)>>;
    async fn delete_chunks(&self, import_id: Uuid) -> anyhow::Result<()>;
    /// Imports still waiting for bytes, last changed before `before`.
    async fn stale_uploads(&self, before: DateTime<Utc>, limit: u32) -> anyhow::Result<Vec<Uuid>>;
    /// Erases a user's imports and staged bytes (account deletion).
    async fn delete_user_imports(&self, user_id: Uuid) -> anyhow::Result<()>;
}

/// Where the job that reads an import is queued.
#[async_trait]
pub trait ImportJobs: Send + Sync + 'static {
    async fn enqueue(&self, import_id: Uuid) -> anyhow::Result<()>;
}

#[derive(Clone)]
pub struct Imports {
    store: Arc<dyn ImportStore>,
    jobs: Arc<dyn ImportJobs>,
    reader: Arc<dyn UploadReader>,
    activities: Activities,
}

impl Imports {
    pub fn new(
        store: Arc<dyn ImportStore>,
        jobs: Arc<dyn ImportJobs>,
        reader: Arc<dyn UploadReader>,
        activities: Activities,
    ) -> Self {
        Self {
            store,
            jobs,
            reader,
            activities,
        }
    }

    pub fn store(&self) -> &Arc<dyn ImportStore> {
        &self.store
    }

    /// Opens an import of the declared files.
    /// Starts an import of `files`; `time_zone` (IANA) is where workouts
    /// whose files give no UTC offset were done.
    pub async fn start(
        &self,
        owner: Uuid,
        files: Vec<DeclaredFile>,
        time_zone: Option<String>,
    ) -> ActivityResult<Import> {
        let time_zone = time_zone
            .as_deref()
            .map(super::validation::time_zone)
            .transpose()?;
        if files.is_empty() || files.len() > MAX_FILES {
            return Err(ActivityError::invalid(
                "files",
                "must list 1 to 20 files; import more in another import",
            ));
        }
        let mut declared = Vec::with_capacity(files.len());
        for (index, file) in files.into_iter().enumerate() {
            let name: String = file
                .name
                .trim()
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
                return Err(ActivityError::invalid(
                    "files.name",
                    format!("file {index}: a name must be 1 to 200 characters"),
                ));
            }
            if !(1..=MAX_FILE_BYTES).contains(&file.size_bytes) {
                return Err(ActivityError::invalid(
                    "files.sizeBytes",
                    format!("{name}: must be between 1 byte and 25 MB (26214400 bytes)"),
                ));
            }
            let sha256 = file.sha256.trim().to_ascii_lowercase();
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ActivityError::invalid(
                    "files.sha256",
                    format!("{name}: must be the file's SHA-256 as 64 hexadecimal digits"),
                ));
            }
            declared.push(ImportFile {
                name,
                size_bytes: file.size_bytes,
                sha256,
                state: ImportFileState::Uploading,
                reason: None,
                skipped_entries: 0,
                workouts: vec![],
            });
        }
        if self.store.open_imports(owner).await? >= MAX_OPEN_IMPORTS {
            return Err(ActivityError::TooManyOpenImports);
        }
        let now = Utc::now();
        let import = Import {
            id: Uuid::now_v7(),
            user_id: owner,
            state: ImportState::Uploading,
            created_at: now,
            updated_at: now,
            files: declared,
            time_zone,
        };
        self.store.create_import(&import).await?;
        Ok(import)
    }

    /// The import if the viewer owns it.
    pub async fn get(&self, owner: Uuid, id: Uuid) -> ActivityResult<Import> {
        match self.store.import(id).await? {
            Some(import) if import.user_id == owner => Ok(import),
            _ => Err(ActivityError::ImportNotFound),
        }
    }

    /// Keeps one chunk of one file. Chunks start at multiples of
    /// [`CHUNK_BYTES`] and are that long but for a file's last; sending one
    /// again is harmless (the first is kept), so a client resumes by
    /// sending what [`Received`] says is missing.
    pub async fn upload_chunk(
        &self,
        owner: Uuid,
        id: Uuid,
        file: u32,
        offset: u64,
        bytes: &[u8],
    ) -> ActivityResult<Received> {
        let import = self.get(owner, id).await?;
        if import.state != ImportState::Uploading {
            return Err(ActivityError::invalid(
                "importId",
                "this import has all its files already",
            ));
        }
        let declared = import.files.get(file as usize).ok_or_else(|| {
            ActivityError::invalid("file", "no file of this import has that index")
        })?;
        if !offset.is_multiple_of(CHUNK_BYTES) || offset >= declared.size_bytes {
            return Err(ActivityError::invalid(
                "offset",
                "must be a multiple of 524288 within the file",
            ));
        }
        let expected = CHUNK_BYTES.min(declared.size_bytes - offset);
        if bytes.len() as u64 != expected {
            return Err(ActivityError::invalid(
                "data",
                format!("must be {expected} bytes at this offset"),
            ));
        }
        let size_bytes = declared.size_bytes;
        self.store.put_chunk(id, file, offset, bytes).await?;
        // Each chunk keeps the upload alive (`expire_abandoned`); only while
        // it is uploading, so a `finish` that raced this chunk stands.
        let mut touched = import;
        touched.updated_at = Utc::now();
        self.store
            .save_import_if(&touched, ImportState::Uploading)
            .await?;
        let received = self.store.chunk_sizes(id, file).await?;
        Ok(Received {
            received_bytes: received.iter().map(|(_, len)| len).sum(),
            size_bytes,
        })
    }

    /// Queues the import once every byte has arrived; the import as queued.
    pub async fn finish(&self, owner: Uuid, id: Uuid) -> ActivityResult<Import> {
        let mut import = self.get(owner, id).await?;
        if import.state != ImportState::Uploading {
            return Ok(import);
        }
        for (index, file) in import.files.iter_mut().enumerate() {
            let received: u64 = self
                .store
                .chunk_sizes(id, index as u32)
                .await?
                .iter()
                .map(|(_, len)| len)
                .sum();
            if received != file.size_bytes {
                return Err(ActivityError::invalid(
                    "importId",
                    format!(
                        "file {index} ({}) has {received} of its {} bytes; send the rest first",
                        file.name, file.size_bytes
                    ),
                ));
            }
            file.state = ImportFileState::Waiting;
        }
        import.state = ImportState::Queued;
        import.updated_at = Utc::now();
        // Two finishes at once (a double click, a retry) queue one job.
        if !self
            .store
            .save_import_if(&import, ImportState::Uploading)
            .await?
        {
            return self.get(owner, id).await;
        }
        self.jobs.enqueue(id).await?;
        Ok(import)
    }

    /// Reads every waiting file of an import (the importer's job). Safe to
    /// run again after a crash: files already read are not read twice,
    /// and a workout stored before the crash is found as a duplicate.
    pub async fn run(&self, id: Uuid) -> anyhow::Result<()> {
        let Some(mut import) = self.store.import(id).await? else {
            return Ok(());
        };
        if import.state == ImportState::Done || import.state == ImportState::Uploading {
            return Ok(());
        }
        import.state = ImportState::Running;
        self.store.save_import(&import).await?;
        for index in 0..import.files.len() {
            if import.files[index].state != ImportFileState::Waiting {
                continue;
            }
            let chunks = self.store.chunks(id, index as u32).await?;
            let bytes: Vec<u8> = chunks.into_iter().flat_map(|(_, chunk)| chunk).collect();
            let file = &mut import.files[index];
            self.read_file(import.user_id, import.time_zone.as_deref(), file, bytes)
                .await?;
            import.updated_at = Utc::now();
            self.store.save_import(&import).await?;
        }
        import.state = ImportState::Done;
        import.updated_at = Utc::now();
        self.store.save_import(&import).await?;
        self.store.delete_chunks(id).await?;
        Ok(())
    }

    /// Ends uploads that stopped receiving bytes [`ABANDONED_AFTER_HOURS`]
    /// ago: their chunks are deleted and their files reported refused.
    /// How many were ended.
    pub async fn expire_abandoned(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let before = now - chrono::Duration::hours(ABANDONED_AFTER_HOURS);
        let stale = self.store.stale_uploads(before, 100).await?;
        let mut ended = 0;
        for id in &stale {
            let Some(mut import) = self.store.import(*id).await? else {
                continue;
            };
            for file in &mut import.files {
                file.state = ImportFileState::Refused;
                file.reason = Some(format!(
                    "the upload was not finished within {ABANDONED_AFTER_HOURS} hours"
                ));
            }
            import.state = ImportState::Done;
            import.updated_at = now;
            // Finished since it was listed: it is queued, its bytes are needed.
            if !self
                .store
                .save_import_if(&import, ImportState::Uploading)
                .await?
            {
                continue;
            }
            self.store.delete_chunks(*id).await?;
            ended += 1;
        }
        Ok(ended)
    }

    async fn read_file(
        &self,
        owner: Uuid,
        time_zone: Option<&str>,
        file: &mut ImportFile,
        bytes: Vec<u8>,
    ) -> anyhow::Result<()> {
        let sha256 = hex(&Sha256::digest(&bytes));
        if sha256 != file.sha256 {
            file.state = ImportFileState::Refused;
            file.reason = Some("the bytes received do not match the file's SHA-256".into());
            return Ok(());
        }
        // Unpacking and parsing are CPU work: off the async threads.
        let name = file.name.clone();
        let now = Utc::now();
        let reader = self.reader.clone();
        let bytes = Arc::new(bytes);
        let upload = bytes.clone();
        let read = tokio::task::spawn_blocking(move || reader.read(&name, &upload, now)).await?;
        let entries = match read {
            Ok(read) => read,
            Err(refusal) => {
                file.state = ImportFileState::Refused;
                file.reason = Some(refusal.to_string());
                return Ok(());
            }
        };
        file.skipped_entries = entries.skipped;
        for entry in entries.workouts {
            let report = match entry.workout {
                Err(refusal) => WorkoutReport {
                    entry: entry.name,
                    outcome: WorkoutOutcome::Refused,
                    activity_id: None,
                    activity_type: None,
                    start_time: None,
                    reason: Some(refusal.to_string()),
                },
                Ok(recording) => {
                    // Kept for the user to take back; unpacked again here
                    // (it was read whole once), off the async threads.
                    let reader = self.reader.clone();
                    let upload = bytes.clone();
                    let source = entry.source;
                    let original =
                        tokio::task::spawn_blocking(move || reader.unpack(&upload, source))
                            .await?
                            .map_err(|refusal| {
                                anyhow::anyhow!("unpacking {source:?} again: {refusal}")
                            })?;
                    let original = OriginalFile {
                        name: entry.name.clone(),
                        format: recording.format,
                        bytes: original,
                    };
                    let outcome = self
                        .activities
                        .import_recording(owner, recording, entry.sha256, time_zone, Some(original))
                        .await;
                    match outcome {
                        Ok(imported) => {
                            let (outcome, activity) = match imported {
                                ImportedWorkout::New(a) => (WorkoutOutcome::Imported, a),
                                ImportedWorkout::Duplicate(a) => (WorkoutOutcome::Duplicate, a),
                            };
                            WorkoutReport {
                                entry: entry.name,
                                outcome,
                                activity_id: Some(activity.id),
                                activity_type: Some(activity.activity_type),
                                start_time: Some(activity.start_time),
                                reason: None,
                            }
                        }
                        Err(ActivityError::Internal(error)) => return Err(error),
                        Err(ActivityError::AccountErased) => {
                            // Nothing more is stored for a deleted account.
                            file.state = ImportFileState::Refused;
                            file.reason = Some("the account was deleted".into());
                            return Ok(());
                        }
                        Err(other) => WorkoutReport {
                            entry: entry.name,
                            outcome: WorkoutOutcome::Refused,
                            activity_id: None,
                            activity_type: None,
                            start_time: None,
                            reason: Some(match other {
                                ActivityError::InvalidInput(invalid) => {
                                    format!("{}: {}", invalid.field, invalid.message)
                                }
                                _ => "not imported".into(),
                            }),
                        },
                    }
                }
            };
            file.workouts.push(report);
        }
        file.state = ImportFileState::Read;
        Ok(())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
