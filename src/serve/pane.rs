//! The agent page's live view of a tmux run's pane, and typing into it.
//!
//! A page that shows the pane opens `GET /a/{run}/pane/stream`: that makes it a *viewer*,
//! with a random id it is told first, and the stream sends the pane's text
//! (`tmux capture-pane -p`) whenever it changed, looked at every [`IDLE_POLL`] and, after a
//! keystroke, every [`BUSY_POLL`] for [`BUSY_FOR`] — only while the stream is open; a closed
//! stream ends its task and forgets the viewer. Typing is off for every new viewer: the
//! person turns it on with the page's toggle (`POST …/pane/typing`, naming the viewer), and
//! a key (`POST …/pane/keys`) is taken only from a viewer that has it on. So typing is
//! enabled per page and dies with the page (a reload is a new viewer); every one of these
//! requests passes [`super::guard::check`] first (token, Host, Origin; `--read-only`
//! refuses every POST). Keys are typed with the tmux runner's own helper: text literally
//! (`send-keys -l`), named keys from a fixed list, never through a shell.
//!
//! The text (`capture-pane -e`, with its colours) goes to the page as JSON runs of text with
//! class names of our own ([`super::ansi`]) that the script puts in with `textContent`:
//! whatever the agent prints, it can never be HTML in the dashboard.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Notify;

use super::{App, ansi};
use crate::agents::record::RunRecord;
use crate::agents::runner::RunnerState;
use crate::agents::runner::tmux::{self, Key};

/// How often an open pane view looks at the pane when nobody types.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// How often it looks right after a keystroke, so the echo shows at once …
const BUSY_POLL: Duration = Duration::from_millis(25);
/// … and for how long.
const BUSY_FOR: Duration = Duration::from_millis(1500);
/// At most this many pane views at once (each polls tmux).
const MAX_VIEWERS: usize = 16;
/// A pane's text beyond this is cut (a 200×50 pane with colours is far less).
const MAX_PANE_BYTES: usize = 256 * 1024;
/// The longest text one key request may type.
const MAX_TEXT: usize = 4096;

/// The open pane views, by viewer id.
#[derive(Default)]
pub struct Panes {
    viewers: Mutex<HashMap<String, Viewer>>,
}

struct Viewer {
    run: String,
    typing: bool,
    poke: Arc<Notify>,
}

impl Panes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Viewer>> {
        self.viewers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Forgets the viewer when its stream's task ends, however it ends.
struct Forget(Arc<App>, String);

impl Drop for Forget {
    fn drop(&mut self) {
        self.0.panes.lock().remove(&self.1);
    }
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(json!({"ok": false, "stderr": why.into()}))).into_response()
}

/// The run, if it is a tmux run the board knows; else the refusal.
fn tmux_run(app: &App, run: &str) -> Result<RunRecord, (StatusCode, String)> {
    let Some(rec) = app.live.snapshot.borrow().records.get(run).cloned() else {
        return Err((StatusCode::NOT_FOUND, "no agent run of that name".into()));
    };
    if !matches!(rec.runner, RunnerState::Tmux(_)) {
        return Err((
            StatusCode::CONFLICT,
            format!(
                "run {run} does not run in tmux, so it has no pane to show or type into (spawn it with --runner tmux)"
            ),
        ));
    }
    Ok(rec)
}

/// `GET /a/{run}/pane/stream`: `event: viewer` (this view's id), then `event: pane` whenever
/// the pane changed, with its text as a JSON array of `[text, class]` runs
/// ([`ansi::runs`]); `event: gone` once the pane is gone.
pub async fn stream(State(app): State<Arc<App>>, Path(run): Path<String>) -> Response {
    let rec = match tmux_run(&app, &run) {
        Ok(r) => r,
        Err((status, why)) => return refuse(status, why),
    };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let poke = Arc::new(Notify::new());
    {
        let mut viewers = app.panes.lock();
        if viewers.len() >= MAX_VIEWERS {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many pane views are open; close one",
            );
        }
        viewers.insert(
            id.clone(),
            Viewer {
                run: run.clone(),
                typing: false,
                poke: poke.clone(),
            },
        );
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<SseEvent, Infallible>>(8);
    let forget = Forget(app.clone(), id.clone());
    tokio::spawn(async move {
        let _forget = forget;
        if tx
            .send(Ok(SseEvent::default().event("viewer").data(id)))
            .await
            .is_err()
        {
            return;
        }
        let mut last: Option<Vec<(String, String)>> = None;
        let mut busy_until = tokio::time::Instant::now();
        loop {
            let r = rec.clone();
            let text = tokio::task::spawn_blocking(move || tmux::capture_pane(&r, true))
                .await
                .ok()
                .flatten();
            let Some(text) = text else {
                let _ = tx
                    .send(Ok(SseEvent::default()
                        .event("gone")
                        .data("the pane is gone: the run has ended")))
                    .await;
                return;
            };
            let text = tidy(text);
            if last.as_ref() != Some(&text) {
                let data = serde_json::to_string(&text).unwrap_or_default();
                if tx
                    .send(Ok(SseEvent::default().event("pane").data(data)))
                    .await
                    .is_err()
                {
                    return;
                }
                last = Some(text);
            }
            let now = tokio::time::Instant::now();
            let wait = if now < busy_until {
                BUSY_POLL
            } else {
                IDLE_POLL
            };
            tokio::select! {
                _ = tx.closed() => return,
                _ = poke.notified() => busy_until = tokio::time::Instant::now() + BUSY_FOR,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
    super::routes::sse(rx)
}

/// The pane's runs of styled text ([`ansi::runs`]), bounded in size, without the trailing
/// blank rows a fresh pane is mostly made of.
fn tidy(mut text: String) -> Vec<(String, String)> {
    if text.len() > MAX_PANE_BYTES {
        let mut cut = MAX_PANE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let mut runs = ansi::runs(&text);
    while let Some((t, _)) = runs.last_mut() {
        let end = t.trim_end().len();
        t.truncate(end);
        if !t.is_empty() {
            break;
        }
        runs.pop();
    }
    runs
}

#[derive(Deserialize)]
pub struct TypingForm {
    viewer: String,
    #[serde(default)]
    on: Option<String>,
}

/// `POST /a/{run}/pane/typing` (`viewer`, `on=1|0`): turns typing on or off for one view.
pub async fn typing(
    State(app): State<Arc<App>>,
    Path(run): Path<String>,
    axum::Form(form): axum::Form<TypingForm>,
) -> Response {
    if let Err((status, why)) = tmux_run(&app, &run) {
        return refuse(status, why);
    }
    let on = matches!(form.on.as_deref(), Some("1" | "true" | "on"));
    let mut viewers = app.panes.lock();
    match viewers.get_mut(&form.viewer) {
        Some(v) if v.run == run => {
            v.typing = on;
            Json(json!({"ok": true, "typing": on})).into_response()
        }
        _ => refuse(
            StatusCode::FORBIDDEN,
            "no open pane view of this run has that id: reload the page",
        ),
    }
}

#[derive(Deserialize)]
pub struct KeysForm {
    viewer: String,
    /// Typed literally; a newline in it is an Enter.
    #[serde(default)]
    text: Option<String>,
    /// One of [`named_key`]'s names, after the text.
    #[serde(default)]
    key: Option<String>,
}

/// The tmux name of a key the page may send.
fn named_key(name: &str) -> Option<&'static str> {
    Some(match name {
        "enter" => "Enter",
        "tab" => "Tab",
        "backspace" => "BSpace",
        "escape" | "esc" => "Escape",
        "ctrl-c" => "C-c",
        "ctrl-d" => "C-d",
        "up" => "Up",
        "down" => "Down",
        "left" => "Left",
        "right" => "Right",
        _ => return None,
    })
}

/// `POST /a/{run}/pane/keys` (`viewer`, `text`, `key`): types into the pane, if this view has
/// typing on.
pub async fn keys(
    State(app): State<Arc<App>>,
    Path(run): Path<String>,
    axum::Form(form): axum::Form<KeysForm>,
) -> Response {
    let rec = match tmux_run(&app, &run) {
        Ok(r) => r,
        Err((status, why)) => return refuse(status, why),
    };
    let poke = match app.panes.lock().get(&form.viewer) {
        Some(v) if v.run == run && v.typing => v.poke.clone(),
        Some(v) if v.run == run => {
            return refuse(
                StatusCode::FORBIDDEN,
                "typing is off on this page: turn on “Enable typing” first",
            );
        }
        _ => {
            return refuse(
                StatusCode::FORBIDDEN,
                "typing needs an open pane view with typing turned on: reload the page",
            );
        }
    };
    let text = form.text.unwrap_or_default().replace('\r', "");
    if text.len() > MAX_TEXT {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_TEXT} bytes at once"),
        );
    }
    let key = match form.key.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => match named_key(k) {
            Some(n) => Some(n),
            None => return refuse(StatusCode::BAD_REQUEST, format!("unknown key `{k}`")),
        },
    };
    if text.is_empty() && key.is_none() {
        return refuse(StatusCode::BAD_REQUEST, "nothing to type");
    }
    if !rec.status.is_active() {
        return refuse(
            StatusCode::CONFLICT,
            format!("run {run} has ended; its pane takes no input"),
        );
    }
    let outcome = tokio::task::spawn_blocking(move || {
        let mut steps = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                steps.push(Key::Named("Enter"));
            }
            steps.push(Key::Text(line));
        }
        steps.extend(key.map(Key::Named));
        tmux::send_keys(&rec, &steps)
    })
    .await;
    match outcome {
        Ok(Ok(())) => {
            poke.notify_one();
            Json(json!({"ok": true})).into_response()
        }
        Ok(Err(e)) => refuse(
            StatusCode::CONFLICT,
            format!("{e} (is the run's tmux session still there?)"),
        ),
        Err(e) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("typing did not finish: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_keys_have_names() {
        assert_eq!(named_key("ctrl-c"), Some("C-c"));
        assert_eq!(named_key("esc"), Some("Escape"));
        assert_eq!(named_key("up"), Some("Up"));
        assert_eq!(named_key("C-c"), None, "tmux's own names are not taken raw");
        assert_eq!(named_key("run-shell"), None);
    }

    #[test]
    fn pane_text_is_trimmed_and_bounded() {
        let plain = |t: &str| vec![(t.to_string(), String::new())];
        assert_eq!(tidy("a\nb  \n\n\n".into()), plain("a\nb"));
        assert_eq!(
            tidy("a\x1b[31mb\x1b[0m\n  \n\x1b[44m \n".into()),
            vec![
                ("a".to_string(), String::new()),
                ("b".to_string(), "f1".to_string())
            ]
        );
        let t = tidy("é".repeat(MAX_PANE_BYTES));
        assert!(t[0].0.len() <= MAX_PANE_BYTES);
    }
}
