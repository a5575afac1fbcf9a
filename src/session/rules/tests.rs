use super::*;

fn ids(src: &str, name: &str) -> Vec<&'static str> {
    let doc = Document::parse(src);
    check(&doc, Some(name), Utc::now())
        .iter()
        .map(|f| f.rule.id)
        .collect()
}

const GOOD: &str = "---\nsession:\n  title: \"T\"\n  status: in_progress\n  created: 2025-12-04T14:30:00Z\n  last_updated: \"2025-12-04T15:00:00Z\"\norchestration:\n  current_task: \"x\"\n---\n# Session: T\n\n## Context\n## Current State\n## Next Steps\n";

#[test]
fn a_good_file_is_clean() {
    assert!(ids(GOOD, "20251204-143000-t.md").is_empty());
}

#[test]
fn impossible_dates_and_reversed_times_are_caught() {
    let src = GOOD.replace("2025-12-04T14:30:00Z", "2025-02-30T14:30:00Z");
    assert!(ids(&src, "20251204-143000-t.md").contains(&"timestamp"));
    let src = GOOD.replace("15:00:00Z", "13:00:00Z");
    assert!(ids(&src, "20251204-143000-t.md").contains(&"timestamp-order"));
}

#[test]
fn near_miss_status_and_agent_aliases_are_named() {
    let src = GOOD.replace("in_progress", "done").replace(
            "current_task: \"x\"\n",
            "current_task: \"x\"\n  spawned_agents:\n    - type: a\n      task: t\n      status: running\n",
        );
    let found = ids(&src, "20251204-143000-t.md");
    assert!(
        found.contains(&"status")
            && found.contains(&"agent-entry")
            && found.contains(&"agent-status")
    );
}

#[test]
fn section_at_wrong_level_is_pointed_at() {
    let src = GOOD.replace("## Context", "### Context");
    let doc = Document::parse(&src);
    let f = check(&doc, None, Utc::now());
    assert_eq!(f.len(), 1);
    assert!(f[0].message.contains("### Context"));
}

#[test]
fn heading_hidden_in_code_is_pointed_at() {
    let src = GOOD.replace("## Context\n", "```\n## Context\n```\n");
    let doc = Document::parse(&src);
    let f = check(&doc, None, Utc::now());
    assert_eq!(f.len(), 1);
    assert!(
        f[0].message.contains("inside a code block"),
        "{}",
        f[0].message
    );
    assert_eq!(doc.position(f[0].offset.unwrap()).0, 13);
}

#[test]
fn unclosed_fence_in_the_log_is_pointed_at() {
    let src = format!("{GOOD}\n## Session Log\n\n### 2025-12-04 15:00 - [a]\nsee:\n  ```sh\nls\n");
    let doc = Document::parse(&src);
    let f = check(&doc, None, Utc::now());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule.id, "unclosed-fence");
    assert_eq!(doc.position(f[0].offset.unwrap()), (20, 3));
}

#[test]
fn conflict_markers_are_errors_but_a_setext_underline_is_not() {
    let src = GOOD.replace(
        "## Current State\n",
        "## Current State\n<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> agent\n\nTitle\n=======\n",
    );
    let doc = Document::parse(&src);
    let f = check(&doc, None, Utc::now());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule.id, "conflict-marker");
    assert_eq!(doc.position(f[0].offset.unwrap()), (14, 1));
    assert!(
        ids(
            &GOOD.replace("## Next Steps\n", "## Next Steps\n>>>>>>> theirs\n"),
            "x"
        )
        .contains(&"conflict-marker")
    );
}

#[test]
fn issue_key_in_slug_and_time_mismatch() {
    let found = ids(GOOD, "20251204-143001-plt-12-x.md");
    assert!(found.contains(&"name-issue-key") && found.contains(&"name-time"));
}
