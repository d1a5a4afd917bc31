//! The demo's desk: calls the API in process, as each demo account, so the programme is built by
//! the same handlers, checks and store functions as a user's clicks.

use crate::AppState;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use tower::ServiceExt;

/// Why the demo could not be built: the call the API refused, with its answer.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo: {user} {method} {path} answered {status}: {body}")]
    Refused { user: String, method: String, path: String, status: u16, body: String },
    #[error("demo: {0}")]
    Setup(String),
    /// The counties the demo builds are not loaded; nothing was written.
    #[error("{0}")]
    RegionsMissing(String),
    #[error(transparent)]
    Api(#[from] crate::error::ApiError),
    #[error(transparent)]
    Store(#[from] huanxin_store::StoreError),
}

/// A signed-in demo account's token, by user name.
pub struct Desk {
    app: Router,
    tokens: HashMap<String, String>,
}

/// A file sent in a multipart form: field name, file name, bytes.
pub struct Upload {
    pub field: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Desk {
    /// A desk on the application's router with no one signed in.
    pub fn new(st: &AppState) -> Desk {
        Desk { app: crate::router(st.clone()), tokens: HashMap::new() }
    }

    /// Signs `user` in without a password check (the demo owns these accounts); the session ends
    /// after the real clock's session length, so it outlives the history written in the past.
    pub async fn sign_in(&mut self, st: &AppState, user: &str, user_id: i64) -> Result<(), DemoError> {
        let (token, _) = crate::auth::start_session(st, user_id, st.config.session_hours).await?;
        self.tokens.insert(user.to_string(), token);
        Ok(())
    }

    /// Adds a token obtained otherwise (a resident's binding).
    pub fn remember(&mut self, user: &str, token: String) {
        self.tokens.insert(user.to_string(), token);
    }

    /// Ends every session the demo opened.
    pub async fn sign_out_all(&mut self) {
        let users: Vec<String> = self.tokens.keys().cloned().collect();
        for u in users {
            let _ = self.call(&u, Method::POST, "/auth/logout", None).await;
        }
        self.tokens.clear();
    }

    /// GET as `user`.
    pub async fn get(&self, user: &str, path: &str) -> Result<Value, DemoError> {
        self.call(user, Method::GET, path, None).await
    }

    /// POST a JSON body as `user`.
    pub async fn post(&self, user: &str, path: &str, body: Value) -> Result<Value, DemoError> {
        self.call(user, Method::POST, path, Some(body)).await
    }

    /// PUT a JSON body as `user`.
    pub async fn put(&self, user: &str, path: &str, body: Value) -> Result<Value, DemoError> {
        self.call(user, Method::PUT, path, Some(body)).await
    }

    /// A JSON call; an empty answer is `null`.
    pub async fn call(&self, user: &str, method: Method, path: &str, body: Option<Value>) -> Result<Value, DemoError> {
        let mut req = Request::builder().method(method.clone()).uri(format!("/api/v1{path}"));
        if let Some(t) = self.tokens.get(user) {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let req = req.body(body).map_err(|e| DemoError::Setup(e.to_string()))?;
        self.send(user, method, path, req).await
    }

    /// A multipart form (text fields and files) as `user`.
    pub async fn multipart(&self, user: &str, path: &str, fields: &[(&str, String)], files: &[Upload]) -> Result<Value, DemoError> {
        const BOUNDARY: &str = "huanxin-demo-boundary-7d1f";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        for f in files {
            let mime = mime_guess::from_path(&f.name).first_or_octet_stream();
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {mime}\r\n\r\n",
                    f.field, f.name
                )
                .as_bytes(),
            );
            body.extend_from_slice(&f.bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1{path}"))
            .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"));
        if let Some(t) = self.tokens.get(user) {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Body::from(body)).map_err(|e| DemoError::Setup(e.to_string()))?;
        self.send(user, Method::POST, path, req).await
    }

    async fn send(&self, user: &str, method: Method, path: &str, mut req: Request<Body>) -> Result<Value, DemoError> {
        req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
        let res = self.app.clone().oneshot(req).await.map_err(|e| DemoError::Setup(e.to_string()))?;
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024 * 1024).await.map_err(|e| DemoError::Setup(e.to_string()))?;
        if !status.is_success() {
            return Err(DemoError::Refused {
                user: user.to_string(),
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).chars().take(600).collect(),
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| DemoError::Setup(format!("{path}: {e}")))
    }
}
