//! The session template: compiled in from `templates/session.md`, overridable per repository
//! with `.agents/templates/session.md`. Placeholders are `{{name}}`; a line whose placeholder
//! has no value (an optional key) is dropped, so no empty keys are written.

use super::yaml::quote;

pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/session.md");

pub struct Values<'a> {
    pub title: &'a str,
    pub task: &'a str,
    pub created: &'a str,
    pub linear_issue: Option<&'a str>,
    pub linear_url: Option<&'a str>,
}

/// Fills the template. Frontmatter values are YAML-quoted; `{{title_text}}` is the raw title
/// for the Markdown heading.
pub fn render(template: &str, v: &Values) -> String {
    let pairs: [(&str, Option<String>); 6] = [
        ("{{title}}", Some(quote(v.title))),
        ("{{task}}", Some(quote(v.task))),
        ("{{created}}", Some(quote(v.created))),
        ("{{linear_issue}}", v.linear_issue.map(quote)),
        ("{{linear_url}}", v.linear_url.map(quote)),
        ("{{title_text}}", Some(v.title.replace(['\n', '\r'], " "))),
    ];
    let mut out = String::with_capacity(template.len() + 128);
    for line in template.split_inclusive('\n') {
        let mut line = line.to_string();
        let mut drop = false;
        for (key, value) in &pairs {
            if line.contains(key) {
                match value {
                    Some(val) => line = line.replace(key, val),
                    None => drop = true,
                }
            }
        }
        if !drop {
            out.push_str(&line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Document, rules};

    #[test]
    fn rendered_template_is_valid_and_round_trips_hostile_values() {
        let title = "Task: with colon # and \"quotes\"\n- dash";
        let text = render(
            DEFAULT_TEMPLATE,
            &Values {
                title,
                task: "-leading",
                created: "2025-12-04T14:30:00Z",
                linear_issue: None,
                linear_url: Some("https://linear.app/x/issue/PLT-1"),
            },
        );
        let doc = Document::parse(&text);
        assert_eq!(doc.str_value(&["session", "title"]), Some(title));
        assert_eq!(
            doc.str_value(&["orchestration", "current_task"]),
            Some("-leading")
        );
        assert!(doc.value(&["session", "linear_issue"]).is_none());
        let findings = rules::check(&doc, Some("20251204-143000-x.md"), chrono::Utc::now());
        assert!(findings.is_empty(), "{findings:?}");
    }
}
