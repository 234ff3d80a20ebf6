//! A typed FitTrack client: the stand-in for the mobile apps.
//!
//! Every request is one of the canonical operations in `clients/operations/`,
//! compiled into Rust types (see [`operations`]). The client keeps the session,
//! refreshes the access token shortly before it expires, and follows live
//! recommendations over graphql-transport-ws.

pub mod cli;
pub mod operations;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use futures_util::{Stream, StreamExt};
use graphql_client::{GraphQLQuery, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_tungstenite_client::tungstenite::{client::IntoClientRequest, http::HeaderValue};

pub use operations::*;

/// Refresh the access token when it has less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What [`FitTrackClient::export_archive`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub activities: usize,
    /// Workouts whose original file is in the archive.
    pub originals: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with an error (`code` is `extensions.code`).
    #[error("{code}: {message}")]
    Api { code: String, message: String },
    #[error("not signed in")]
    SignedOut,
    #[error("transport: {0}")]
    Transport(String),
}

impl ClientError {
    /// `extensions.code` of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn transport(error: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(error.to_string())
}

/// A [`Session`] from any of the auth payloads (each operation has its own
/// generated type with the same fields).
macro_rules! session_from {
    ($auth:expr) => {{
        let auth = $auth;
        Session {
            user_id: auth.user.id,
            email: auth.user.email,
            access_token: auth.access_token,
            refresh_token: auth.refresh_token,
            access_token_expires_at: auth.access_token_expires_at,
            device_token: None,
        }
    }};
}

/// What a signed-in client holds (the CLI saves it between runs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Session {
    pub user_id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
    pub access_token_expires_at: chrono::DateTime<Utc>,
    /// This client's device token for the account (kept across refreshes):
    /// the next [`FitTrackClient::login`] presents it, so that others
    /// guessing the account's password never lock this client out.
    #[serde(default)]
    pub device_token: Option<String>,
}

/// A client of one FitTrack router (`http://host:4000/graphql`).
#[derive(Clone)]
pub struct FitTrackClient {
    endpoint: String,
    http: reqwest::Client,
    session: Arc<Mutex<Option<Session>>>,
    /// Device tokens by account email (lower case), outliving sessions.
    device_tokens: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

impl FitTrackClient {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            http: reqwest::Client::new(),
            session: Arc::new(Mutex::new(None)),
            device_tokens: Arc::default(),
        }
    }

    /// Resumes a saved session.
    pub fn with_session(self, session: Session) -> Self {
        if let Some(token) = &session.device_token {
            self.remember_device(&session.email, token.clone());
        }
        Self {
            session: Arc::new(Mutex::new(Some(session))),
            ..self
        }
    }

    /// The device token this client holds for `email`'s account.
    pub fn device_token(&self, email: &str) -> Option<String> {
        self.device_tokens
            .lock()
            .ok()?
            .get(&email.to_lowercase())
            .cloned()
    }

    fn remember_device(&self, email: &str, token: String) {
        if let Ok(mut tokens) = self.device_tokens.lock() {
            tokens.insert(email.to_lowercase(), token);
        }
    }

    pub async fn session(&self) -> Option<Session> {
        self.session.lock().await.clone()
    }

    /// Sends one operation; `token` is sent as a bearer token when given.
    async fn send<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        token: Option<&str>,
    ) -> Result<Q::ResponseData, ClientError> {
        let mut request = self
            .http
            .post(&self.endpoint)
            .json(&Q::build_query(variables));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response: Response<Q::ResponseData> = request
            .send()
            .await
            .map_err(transport)?
            .json()
            .await
            .map_err(transport)?;
        if let Some(error) = response.errors.and_then(|e| e.into_iter().next()) {
            let code = error
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .and_then(|code| code.as_str())
                .unwrap_or("UNKNOWN")
                .to_owned();
            return Err(ClientError::Api {
                code,
                message: error.message,
            });
        }
        response
            .data
            .ok_or_else(|| transport("response without data or errors"))
    }

    /// Sends an operation as the signed-in user, refreshing the token first
    /// when it is about to expire.
    pub async fn run<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData, ClientError> {
        let token = self.access_token().await?;
        self.send::<Q>(variables, Some(&token)).await
    }

    /// A valid access token (refreshed when it has under a minute left).
    pub async fn access_token(&self) -> Result<String, ClientError> {
        self.token_refreshed_within(REFRESH_MARGIN).await
    }

    /// A new access token now, whatever the old one's time left (the server
    /// said it ended: an `UNAUTHENTICATED` error on a subscription).
    pub async fn refresh(&self) -> Result<String, ClientError> {
        self.token_refreshed_within(std::time::Duration::MAX).await
    }

    async fn token_refreshed_within(
        &self,
        margin: std::time::Duration,
    ) -> Result<String, ClientError> {
        let mut session = self.session.lock().await;
        let current = session.as_ref().ok_or(ClientError::SignedOut)?;
        let left = current.access_token_expires_at - Utc::now();
        if left.to_std().unwrap_or_default() > margin {
            return Ok(current.access_token.clone());
        }
        let refreshed = self
            .send::<RefreshToken>(
                refresh_token::Variables {
                    refresh_token: current.refresh_token.clone(),
                },
                None,
            )
            .await?
            .refresh_token;
        let mut next = session_from!(refreshed);
        next.device_token = current.device_token.clone();
        let token = next.access_token.clone();
        *session = Some(next);
        Ok(token)
    }

    async fn start_session(&self, session: Session) -> Session {
        *self.session.lock().await = Some(session.clone());
        session
    }

    pub async fn register(&self, email: &str, password: &str) -> Result<Session, ClientError> {
        let auth = self
            .send::<Register>(
                register::Variables {
                    input: register::RegisterInput {
                        email: email.to_owned(),
                        password: password.to_owned(),
                        username: None,
                        first_name: None,
                        last_name: None,
                    },
                },
                None,
            )
            .await?
            .register;
        let device_token = auth.device_token.clone();
        Ok(self.signed_in(session_from!(auth), device_token).await)
    }

    /// Signs in, presenting this client's device token for the account if
    /// it has one (see [`Session::device_token`]).
    pub async fn login(&self, email: &str, password: &str) -> Result<Session, ClientError> {
        let auth = self
            .send::<Login>(
                login::Variables {
                    email: email.to_owned(),
                    password: password.to_owned(),
                    device_token: self.device_token(email),
                    device_name: Some("fittrack client".to_owned()),
                },
                None,
            )
            .await?
            .login;
        let device_token = auth.device_token.clone();
        Ok(self.signed_in(session_from!(auth), device_token).await)
    }

    async fn signed_in(&self, mut session: Session, device_token: Option<String>) -> Session {
        if let Some(token) = &device_token {
            self.remember_device(&session.email, token.clone());
        }
        session.device_token = device_token;
        self.start_session(session).await
    }

    pub async fn log_activity(
        &self,
        input: log_activity::LogActivityInput,
    ) -> Result<log_activity::ActivityFields, ClientError> {
        Ok(self
            .run::<LogActivity>(log_activity::Variables { input })
            .await?
            .log_activity)
    }

    /// Imports workout files (FIT, GPX, TCX, gzipped or not, or zips of
    /// them), each `(name, bytes)`: declares them, sends each in the
    /// server's chunk size, and queues the import; its id. Follow it with
    /// [`FitTrackClient::import_status`]. `time_zone` (IANA) is where
    /// workouts whose files give no UTC offset (GPX, TCX) were done.
    /// Writes the user's whole history to `out` as a zip: `account.json`
    /// (the data export), `activities.json` (every workout, every page) and
    /// `originals/<activity id>/<file>`, each file a workout was imported
    /// from, as uploaded. A file is one request, counted against the 60
    /// whole-history queries a minute: refused for the rate, it waits and
    /// goes on, so a long history takes minutes.
    pub async fn export_archive<W: std::io::Write + std::io::Seek>(
        &self,
        out: W,
    ) -> Result<(W, ArchiveSummary), ClientError> {
        use base64::Engine as _;
        let mut activities = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .run::<MyActivities>(my_activities::Variables {
                    first: Some(100),
                    after: after.clone(),
                    filter: None,
                })
                .await?
                .my_activities;
            activities.extend(page.edges.into_iter().map(|edge| edge.node));
            match page.page_info.end_cursor {
                Some(cursor) if page.page_info.has_next_page => after = Some(cursor),
                _ => break,
            }
        }
        // The data export: the account, its goals, gear, records, profile
        // and plans (the first 100 of each list; activities.json has every
        // workout).
        let account = self
            .run::<ExportMyData>(export_my_data::Variables { first: Some(100) })
            .await?;
        let mut zip = zip::ZipWriter::new(out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("account.json", options).map_err(transport)?;
        serde_json::to_writer_pretty(&mut zip, &account).map_err(transport)?;
        zip.start_file("activities.json", options)
            .map_err(transport)?;
        serde_json::to_writer_pretty(&mut zip, &activities).map_err(transport)?;
        let mut summary = ArchiveSummary {
            activities: activities.len(),
            originals: 0,
        };
        for activity in &activities {
            let Some(file) = self.original_file(&activity.activity_fields.id).await? else {
                continue;
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&file.content_base64)
                .map_err(transport)?;
            // The name is the uploader's: only its last part, under the id.
            let name = file
                .file_name
                .rsplit(['/', '\\'])
                .next()
                .filter(|n| !n.is_empty() && *n != "." && *n != "..")
                .unwrap_or("original");
            zip.start_file(
                format!("originals/{}/{name}", activity.activity_fields.id),
                options,
            )
            .map_err(transport)?;
            std::io::Write::write_all(&mut zip, &bytes).map_err(transport)?;
            summary.originals += 1;
        }
        let out = zip.finish().map_err(transport)?;
        Ok((out, summary))
    }

    /// One workout's original file, waiting out `RATE_LIMITED` refusals.
    async fn original_file(
        &self,
        id: &str,
    ) -> Result<Option<activity_original_file::ActivityOriginalFileActivityOriginalFile>, ClientError>
    {
        let mut refused = 0;
        loop {
            match self
                .run::<ActivityOriginalFile>(activity_original_file::Variables {
                    id: id.to_owned(),
                })
                .await
            {
                Ok(data) => return Ok(data.activity.original_file),
                Err(error) if error.code() == Some("RATE_LIMITED") && refused < 30 => {
                    refused += 1;
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    pub async fn import_files(
        &self,
        files: &[(String, Vec<u8>)],
        time_zone: Option<&str>,
    ) -> Result<String, ClientError> {
        use base64::Engine as _;
        use sha2::{Digest, Sha256};
        let declared = files
            .iter()
            .map(|(name, bytes)| start_import::ImportFileInput {
                name: name.clone(),
                size_bytes: bytes.len() as i64,
                sha256: Sha256::digest(bytes)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
            })
            .collect();
        let started = self
            .run::<StartImport>(start_import::Variables {
                files: declared,
                time_zone: time_zone.map(str::to_owned),
            })
            .await?
            .start_import;
        let chunk = usize::try_from(started.chunk_bytes)
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| transport("the server sent no chunk size"))?;
        for (index, (_, bytes)) in files.iter().enumerate() {
            for (n, piece) in bytes.chunks(chunk).enumerate() {
                self.run::<UploadImportChunk>(upload_import_chunk::Variables {
                    import_id: started.id.clone(),
                    file: index as i64,
                    offset: (n * chunk) as i64,
                    data: base64::engine::general_purpose::STANDARD.encode(piece),
                })
                .await?;
            }
        }
        self.run::<FinishImport>(finish_import::Variables {
            import_id: started.id.clone(),
        })
        .await?;
        Ok(started.id)
    }

    /// An import's state and report.
    pub async fn import_status(
        &self,
        id: &str,
    ) -> Result<import_status::ImportStatusImportStatus, ClientError> {
        Ok(self
            .run::<ImportStatus>(import_status::Variables { id: id.to_owned() })
            .await?
            .import_status)
    }

    /// New recommendations for the signed-in user, as the worker writes them.
    /// When the access token expires or the session is revoked, the last
    /// item is `ClientError::Api { code: "UNAUTHENTICATED", .. }` and the
    /// stream ends: [`FitTrackClient::refresh`] and subscribe again (a
    /// revoked session cannot refresh: sign in again).
    pub async fn watch_recommendations(
        &self,
    ) -> Result<
        impl Stream<
            Item = Result<
                recommendation_added::RecommendationAddedRecommendationAdded,
                ClientError,
            >,
        >,
        ClientError,
    > {
        let token = self.access_token().await?;
        let url = self.endpoint.replacen("http", "ws", 1);
        let mut request = url.into_client_request().map_err(transport)?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (connection, _) = tokio_tungstenite_client::connect_async(request)
            .await
            .map_err(transport)?;
        let (client, actor) = graphql_ws_client::Client::build(connection)
            .payload(serde_json::json!({ "Authorization": format!("Bearer {token}") }))
            .map_err(transport)?
            .build()
            .await
            .map_err(transport)?;
        tokio::spawn(std::future::IntoFuture::into_future(actor));
        let stream = client
            .subscribe(graphql_ws_client::graphql::StreamingOperation::<
                RecommendationAdded,
            >::new(recommendation_added::Variables))
            .await
            .map_err(transport)?;
        // The client lives as long as the stream: dropping it would close the socket.
        Ok(stream.map(move |item| {
            let _keep_alive = &client;
            let response = item.map_err(transport)?;
            if let Some(error) = response.errors.and_then(|e| e.into_iter().next()) {
                return Err(ClientError::Api {
                    code: error
                        .extensions
                        .as_ref()
                        .and_then(|ext| ext.get("code"))
                        .and_then(|code| code.as_str())
                        .unwrap_or("UNKNOWN")
                        .to_owned(),
                    message: error.message,
                });
            }
            response
                .data
                .map(|data| data.recommendation_added)
                .ok_or_else(|| transport("subscription event without data"))
        }))
    }
}
