//! `sessions new`: render the template into a new, never-overwritten file and print its path.

use std::fs;
use std::io::Write;

use super::Ctx;
use crate::cli::NewArgs;
use crate::error::{Error, Result};
use crate::session::{name, template};

/// How many following seconds we try when files for the same slug are created in one second.
const SAME_SECOND_RETRIES: i64 = 60;

pub fn run(ctx: &Ctx, args: NewArgs) -> Result<u8> {
    let dir = ctx.repo.require_sessions_dir()?;
    let description = args.description.trim();
    if description.is_empty() {
        return Err(Error::Usage(
            "the description is empty; say what the session is about".into(),
        ));
    }
    let (key_from_description, slug) = name::slug_for(description);
    let issue = args
        .issue
        .map(|k| k.trim().to_ascii_uppercase())
        .or(key_from_description);
    if let Some(url) = &args.issue_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(Error::Usage(format!(
            "--issue-url `{url}` is not an http(s) URL"
        )));
    }
    let title = match &args.title {
        Some(t) => t.trim().to_string(),
        None => strip_issue_key(description).to_string(),
    };
    let task = args
        .task
        .as_deref()
        .map_or(title.clone(), |t| t.trim().to_string());
    for (value, flag) in [(&title, "--title"), (&task, "--task")] {
        if value.is_empty() {
            return Err(Error::Usage(format!(
                "{flag} is empty; give it a value or leave the flag out"
            )));
        }
    }
    let template_text = load_template(ctx)?;

    let base = chrono::Timelike::with_nanosecond(&ctx.now, 0).unwrap_or(ctx.now);
    for step in 0..SAME_SECOND_RETRIES {
        let time = base + chrono::Duration::seconds(step);
        let file = dir.join(name::file_name(time, &slug));
        let created = time.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let text = template::render(
            &template_text,
            &template::Values {
                title: &title,
                task: &task,
                created: &created,
                linear_issue: issue.as_deref(),
                linear_url: args.issue_url.as_deref(),
            },
        );
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
        {
            Ok(mut f) => {
                f.write_all(text.as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|e| Error::write(&file, e))?;
                super::bind_conversation(ctx, &file, super::BindAsk::New, args.bind)?;
                if args.json {
                    let stem = crate::store::SessionId::of(&file);
                    crate::jsonout::emit(
                        &serde_json::json!({"path": ctx.repo.display(&file), "id": stem, "title": title}),
                    )?;
                } else {
                    println!("{}", ctx.show_path(&file));
                }
                return Ok(0);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::write(&file, e)),
        }
    }
    Err(Error::Usage(format!(
        "could not find a free file name for `{slug}` within {SAME_SECOND_RETRIES} seconds; use a different description"
    )))
}

fn strip_issue_key(description: &str) -> &str {
    let trimmed = description.trim_start_matches(|c: char| !c.is_alphanumeric());
    match name::leading_issue_key(trimmed) {
        Some(n) => {
            let rest = trimmed[n..].trim_start_matches([' ', ':', '-', '_', '.', '/', ')', ']']);
            if rest.is_empty() { description } else { rest }
        }
        None => description,
    }
}

/// `.agents/templates/session.md` when present (it must still parse), else the built-in one.
fn load_template(ctx: &Ctx) -> Result<String> {
    let path = ctx.repo.agents_dir().join("templates/session.md");
    match fs::read_to_string(&path) {
        Ok(t) => {
            if !t.contains("{{title}}") {
                return Err(Error::Usage(format!(
                    "{} has no {{{{title}}}} placeholder; start from the built-in template (templates/session.md in the sessions repository)",
                    ctx.repo.display(&path)
                )));
            }
            Ok(t)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(template::DEFAULT_TEMPLATE.to_string())
        }
        Err(e) => Err(Error::read(&path, e)),
    }
}
