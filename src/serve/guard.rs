//! The one gate every request passes, in this order:
//!
//! 1. `Host` must be an allowed name (localhost, 127.0.0.1, [::1], the bind address, or an
//!    `--allow-host` name), else 421: a DNS-rebinding page reaches us under its own name.
//! 2. The token, from `?token=` (answered with a redirect that sets an HttpOnly,
//!    SameSite=Strict cookie and drops the token from the address bar), the cookie, or
//!    `Authorization: Bearer`; else 401.
//! 3. `Origin` on every state-changing request (required, and our own origin) and on every
//!    event stream (our own origin when sent; `Sec-Fetch-Site` same-origin when sent); else 403.
//! 4. `--read-only`: every state-changing request is refused with 403.
//!
//! It never lets a request through on a missing check: whatever is not a GET or HEAD counts as
//! state-changing.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::App;

pub async fn check(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let Some(host) = allowed_host(&app, headers) else {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this server answers only to localhost, 127.0.0.1, [::1] and the names given with --allow-host",
        );
    };
    let query_token = req
        .uri()
        .query()
        .and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("token="))
                .map(str::to_owned)
        })
        .is_some_and(|t| same(&t, &app.token));
    let jar = CookieJar::from_headers(headers);
    let cookie_token = jar
        .get(&app.cookie)
        .is_some_and(|c| same(c.value(), &app.token));
    let bearer_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| same(t.trim(), &app.token));
    if !(query_token || cookie_token || bearer_token) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "open the URL that `sessions serve` printed (it carries the access token)",
        );
    }
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD);
    let stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"))
        || req.uri().path().ends_with("/events")
        || req.uri().path().ends_with("/stream");
    let own_origin = format!("http://{host}");
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if changes_state && origin.map(str::to_ascii_lowercase) != Some(own_origin.clone()) {
        return refuse(
            StatusCode::FORBIDDEN,
            "cross-origin request refused: actions must come from this dashboard's own pages",
        );
    }
    if stream {
        let cross_origin = origin.is_some_and(|o| o.to_ascii_lowercase() != own_origin);
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| !matches!(s, "same-origin" | "none"));
        if cross_origin || cross_site {
            return refuse(StatusCode::FORBIDDEN, "cross-origin event stream refused");
        }
    }
    if changes_state && app.read_only {
        return refuse(
            StatusCode::FORBIDDEN,
            "this dashboard is read-only (started with --read-only)",
        );
    }
    if query_token && *req.method() == Method::GET {
        // Keep the token out of the address bar, the history and Referer headers.
        let cookie = Cookie::build((app.cookie.clone(), app.token.clone()))
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .build();
        let path = req.uri().path().to_string();
        return (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, cookie.to_string()),
                (header::LOCATION, path),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    res
}

/// The request's host name (lowercased, port dropped) if it is one we answer to.
fn allowed_host(app: &App, headers: &HeaderMap) -> Option<String> {
    let raw = headers
        .get(header::HOST)?
        .to_str()
        .ok()?
        .to_ascii_lowercase();
    let name = if raw.starts_with('[') {
        raw.split_inclusive(']').next().unwrap_or_default()
    } else {
        raw.split(':').next().unwrap_or_default()
    };
    app.allowed_hosts
        .iter()
        .any(|h| h == name)
        .then_some(raw.clone())
}

/// Compares without stopping at the first difference, so timing tells nothing.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{} — {why}\n", status.as_u16()),
    )
        .into_response()
}
