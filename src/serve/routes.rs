//! The URL space: pages, the fragments their script swaps in, three event streams (the live
//! engine's events; one agent's log lines; a tmux run's pane) and the action and typing
//! endpoints, all behind
//! [`super::guard::check`]. Assets are compiled into the binary.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::wrappers::ReceiverStream;

use super::{App, actions, ansi, guard, pages, pane};
use crate::live::Followed;

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(board))
        .route("/fragment/board", get(board_fragment))
        .route("/fragment/card/{id}", get(card_fragment))
        .route("/s/{id}", get(session))
        .route("/fragment/s/{id}", get(session_fragment))
        .route("/a/{run}", get(agent))
        .route("/fragment/a/{run}", get(agent_fragment))
        .route("/a/{run}/stream", get(agent_stream))
        .route("/a/{run}/pane/stream", get(pane::stream))
        .route("/a/{run}/pane/typing", post(pane::typing))
        .route("/a/{run}/pane/keys", post(pane::keys))
        .route("/events", get(events))
        .route("/api/{action}", post(act))
        .route(
            "/assets/app.css",
            get(|| asset(CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/assets/app.js",
            get(|| asset(JS, "text/javascript; charset=utf-8")),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "404 — no such page\n") })
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::check,
        ))
        .with_state(app)
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("404 — no {what} of that name\n"),
    )
        .into_response()
}

async fn board(State(app): State<Arc<App>>) -> Html<String> {
    let body = board_html(&app);
    Html(pages::page("Board", "board", "", app.read_only, &body))
}

async fn board_fragment(State(app): State<Arc<App>>) -> Html<String> {
    Html(board_html(&app))
}

fn board_html(app: &App) -> String {
    let snap = app.live.snapshot.borrow().clone();
    let viewed = app.viewed.lock().unwrap_or_else(|e| e.into_inner());
    pages::board(&snap, &viewed, app.read_only)
}

async fn card_fragment(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let snap = app.live.snapshot.borrow().clone();
    let Some(s) = snap.sessions.get(id.as_str()) else {
        return not_found("session");
    };
    let viewed = app.viewed.lock().unwrap_or_else(|e| e.into_inner());
    Html(pages::card(
        &snap,
        &viewed,
        s,
        app.read_only,
        chrono::Utc::now(),
    ))
    .into_response()
}

fn session_html(app: &App, id: &str) -> Option<String> {
    let snap = app.live.snapshot.borrow().clone();
    snap.sessions.get(id)?;
    let path = app.repo.sessions_dir().join(format!("{id}.md"));
    let text = crate::store::read_session(&path).ok();
    let mut viewed = app.viewed.lock().unwrap_or_else(|e| e.into_inner());
    viewed.sessions.insert(id.to_string(), chrono::Utc::now());
    pages::session(&snap, &viewed, id, text.as_deref(), app.read_only)
}

async fn session(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match session_html(&app, &id) {
        Some(body) => {
            let title = app
                .live
                .snapshot
                .borrow()
                .sessions
                .get(id.as_str())
                .map(|s| s.overview.title.clone())
                .unwrap_or_default();
            Html(pages::page(&title, "session", &id, app.read_only, &body)).into_response()
        }
        None => not_found("session"),
    }
}

async fn session_fragment(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    session_html(&app, &id).map_or_else(|| not_found("session"), |b| Html(b).into_response())
}

fn agent_head(app: &App, run: &str) -> Option<String> {
    let snap = app.live.snapshot.borrow().clone();
    pages::agent_head(&snap, run, app.read_only)
}

async fn agent(State(app): State<Arc<App>>, Path(run): Path<String>) -> Response {
    let Some(head) = agent_head(&app, &run) else {
        return not_found("agent run");
    };
    let tmux = app
        .live
        .snapshot
        .borrow()
        .records
        .get(&run)
        .is_some_and(|r| matches!(r.runner, crate::agents::runner::RunnerState::Tmux(_)));
    let body = pages::agent_page(&head, tmux, app.read_only);
    Html(pages::page(
        &format!("run {run}"),
        "agent",
        &run,
        app.read_only,
        &body,
    ))
    .into_response()
}

async fn agent_fragment(State(app): State<Arc<App>>, Path(run): Path<String>) -> Response {
    agent_head(&app, &run).map_or_else(|| not_found("agent run"), |b| Html(b).into_response())
}

pub(super) fn sse(rx: tokio::sync::mpsc::Receiver<Result<SseEvent, Infallible>>) -> Response {
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The live engine's events, as `event: live` with the event's JSON (the `watch --json`
/// form); `event: tick` after a periodic look, so ages stay true.
async fn events(State(app): State<Arc<App>>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut batches = app.live.batches.subscribe();
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                // A page that went away ends its task now, not at the next event.
                _ = tx.closed() => return,
                b = batches.recv() => b,
            };
            let batch = match next {
                Ok(b) => b,
                Err(RecvError::Lagged(_)) => {
                    if tx
                        .send(Ok(SseEvent::default().event("tick").data("lagged")))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            if batch.events.is_empty()
                && batch.all
                && tx
                    .send(Ok(SseEvent::default().event("tick").data("{}")))
                    .await
                    .is_err()
            {
                return;
            }
            for e in &batch.events {
                let data = serde_json::to_string(e).unwrap_or_default();
                if tx
                    .send(Ok(SseEvent::default().event("live").data(data)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    sse(rx)
}

/// One run's log: everything so far, then new whole lines as the file grows (woken by the
/// live engine's file events, not by polling), as `event: lines` with a JSON array.
async fn agent_stream(State(app): State<Arc<App>>, Path(run): Path<String>) -> Response {
    let Some(rec) = app.live.snapshot.borrow().records.get(&run).cloned() else {
        return not_found("agent run");
    };
    let log = rec.root.join(&rec.log);
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let mut batches = app.live.batches.subscribe();
    let app2 = app.clone();
    tokio::spawn(async move {
        let mut followed = Followed::default();
        let mut first = true;
        loop {
            let lines = match std::fs::File::open(&log) {
                // A tmux run's log is its terminal's output: colours and cursor moves dropped.
                Ok(f) => followed
                    .new_lines(f)
                    .iter()
                    .map(|l| ansi::plain(l))
                    .collect(),
                Err(_) => Vec::new(),
            };
            if !lines.is_empty() || first {
                first = false;
                let data = serde_json::to_string(&lines).unwrap_or_default();
                if tx
                    .send(Ok(SseEvent::default().event("lines").data(data)))
                    .await
                    .is_err()
                {
                    return;
                }
                let size = pages::log_size(&rec);
                app2.viewed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .logs
                    .insert(rec.id.clone(), size);
            }
            loop {
                let next = tokio::select! {
                    _ = tx.closed() => return,
                    b = batches.recv() => b,
                };
                match next {
                    Ok(b)
                        if b.all
                            || b.paths
                                .iter()
                                .any(|p| p.starts_with(log.parent().unwrap_or(&log))) =>
                    {
                        break;
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                }
            }
        }
    });
    sse(rx)
}

async fn act(
    State(app): State<Arc<App>>,
    Path(action): Path<String>,
    axum::Form(form): axum::Form<actions::Form>,
) -> Response {
    if !app
        .live
        .snapshot
        .borrow()
        .sessions
        .contains_key(form.session.as_str())
    {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"ok": false, "stderr": "no session of that name"})),
        )
            .into_response();
    }
    let file = app.repo.sessions_dir().join(format!("{}.md", form.session));
    let args = match actions::argv(&action, &form, &file) {
        Ok(a) => a,
        Err(why) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"ok": false, "stderr": why})),
            )
                .into_response();
        }
    };
    let repo = app.repo.clone();
    let outcome = tokio::task::spawn_blocking(move || actions::run(&repo, &args))
        .await
        .unwrap_or_else(|e| actions::Outcome {
            ok: false,
            exit_code: None,
            command: String::new(),
            stdout: String::new(),
            stderr: format!("the command did not finish: {e}"),
        });
    if outcome.ok && action == "review" {
        let snap = app.live.snapshot.borrow().clone();
        let mut viewed = app.viewed.lock().unwrap_or_else(|e| e.into_inner());
        viewed.review(&snap, &form.session);
    }
    let status = if outcome.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, axum::Json(outcome)).into_response()
}
