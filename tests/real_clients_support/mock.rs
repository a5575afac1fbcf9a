//! A scriptable model server on 127.0.0.1 (port 0, one per test), built on `tiny_http`. It
//! records every request it gets (method, URL, headers, body) and answers each one with what
//! the test's responder returns: a whole SSE stream, a JSON body, or a bare status.
//!
//! Bounded: bodies are read up to [`MAX_BODY`], at most [`MAX_RECORDED`] requests are kept,
//! and dropping the server stops its thread.

use std::io::{Cursor, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

const MAX_BODY: u64 = 32 * 1024 * 1024;
const MAX_RECORDED: usize = 2_000;

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// The URL without its query.
    pub fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or(&self.url)
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the mock answers.
pub enum Reply {
    /// `text/event-stream`, the whole stream at once.
    Sse(String),
    Json(u16, Value),
    Status(u16),
}

/// Events as `event: NAME` + `data: JSON` pairs (`NAME` empty: a data-only event).
pub fn sse(events: &[(&str, Value)]) -> Reply {
    let mut out = String::new();
    for (name, data) in events {
        if !name.is_empty() {
            out.push_str(&format!("event: {name}\n"));
        }
        out.push_str(&format!("data: {data}\n\n"));
    }
    Reply::Sse(out)
}

pub type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

pub struct MockServer {
    url: String,
    log: Arc<Mutex<Vec<Recorded>>>,
    responder: Arc<Mutex<Responder>>,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MockServer {
    pub fn start(responder: Responder) -> MockServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let responder = Arc::new(Mutex::new(responder));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (server, log, responder, stop) =
                (server.clone(), log.clone(), responder.clone(), stop.clone());
            std::thread::spawn(move || serve(&server, &log, &responder, &stop))
        };
        MockServer {
            url: format!("http://127.0.0.1:{port}"),
            log,
            responder,
            server,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers later requests with `responder` (e.g. a new script for the next client run).
    pub fn set_responder(&self, responder: Responder) {
        *self.responder.lock().unwrap() = responder;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        self.log.lock().unwrap().clear();
    }

    /// One line per request, for failure messages.
    pub fn summary(&self) -> String {
        self.requests()
            .iter()
            .map(|r| format!("{} {} ({} bytes)\n", r.method, r.url, r.body.len()))
            .collect()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    server: &tiny_http::Server,
    log: &Mutex<Vec<Recorded>>,
    responder: &Mutex<Responder>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let mut request = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(_) => break,
        };
        let mut body = Vec::new();
        let _ = request.as_reader().take(MAX_BODY).read_to_end(&mut body);
        let recorded = Recorded {
            method: request.method().as_str().to_string(),
            url: request.url().to_string(),
            headers: request
                .headers()
                .iter()
                .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let respond = responder.lock().unwrap().clone();
        // A panicking responder must not take the server down with a hung client behind it.
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| respond(&recorded)))
            .unwrap_or(Reply::Status(500));
        {
            let mut log = log.lock().unwrap();
            if log.len() < MAX_RECORDED {
                log.push(recorded);
            }
        }
        let _ = match reply {
            Reply::Sse(text) => request.respond(response(200, "text/event-stream", text)),
            Reply::Json(status, v) => {
                request.respond(response(status, "application/json", v.to_string()))
            }
            Reply::Status(status) => {
                request.respond(response(status, "application/json", "{}".into()))
            }
        };
    }
}

fn response(status: u16, content_type: &str, body: String) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let header = tiny_http::Header::from_bytes("Content-Type", content_type).expect("header");
    tiny_http::Response::from_data(body.into_bytes())
        .with_status_code(status)
        .with_header(header)
}
