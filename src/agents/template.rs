//! Agent argv templates: `{prompt}`, `{session_file}`, `{task}`, `{conversation_id}` and
//! `{agents_dir}` are replaced inside each argv element, in one pass. The result is an argv list handed to
//! `execve`, never a shell string, so nothing a person typed is ever interpreted: a task of
//! `$(rm -rf ~)` reaches the agent as those characters. A substituted value is not scanned
//! again, so a task containing `{prompt}` stays literal.

/// The values a template can refer to.
#[derive(Debug, Clone)]
pub struct Vars<'a> {
    pub prompt: &'a str,
    pub session_file: &'a str,
    pub task: &'a str,
    pub conversation_id: &'a str,
    /// Absolute `.agents/` of the repository (the main checkout's, also for an agent in a
    /// worktree): what a sandboxed agent must be allowed to write.
    pub agents_dir: &'a str,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "prompt" => Some(self.prompt),
            "session_file" => Some(self.session_file),
            "task" => Some(self.task),
            "conversation_id" => Some(self.conversation_id),
            "agents_dir" => Some(self.agents_dir),
            _ => None,
        }
    }
}

/// `text` with every known `{name}` replaced; unknown braces are kept as they are.
pub fn expand(text: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .and_then(|close| Some((close, vars.get(&after[..close])?)))
        {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every element of `argv` expanded.
pub fn expand_all(argv: &[String], vars: &Vars) -> Vec<String> {
    argv.iter().map(|a| expand(a, vars)).collect()
}

/// The prompt an agent gets when `--prompt` is not given: it names the session file and the
/// task, and asks for the `SUMMARY:` line the supervisor writes back.
pub fn default_prompt(session_file: &str, task: &str) -> String {
    format!(
        "You are working on the session file {session_file}. Your task: {task}\n\n\
         Read the session file first (Context, Current State, Next Steps). Keep it up to date \
         as you work, with `sessions update` and `sessions log`. When you are done, print one \
         line `SUMMARY: <what you did>`."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars<'static> {
        Vars {
            prompt: "P {task}",
            session_file: ".agents/sessions/x.md",
            task: "$(touch pwned); {prompt}",
            conversation_id: "c-1",
            agents_dir: "/r/.agents",
        }
    }

    #[test]
    fn one_pass_and_unknown_braces_kept() {
        let v = vars();
        assert_eq!(expand("{task}", &v), "$(touch pwned); {prompt}");
        assert_eq!(expand("{prompt}", &v), "P {task}");
        assert_eq!(expand("--id={conversation_id} {x} {", &v), "--id=c-1 {x} {");
        assert_eq!(expand("{{session_file}}", &v), "{.agents/sessions/x.md}");
        assert_eq!(expand("{agents_dir}", &v), "/r/.agents");
        assert_eq!(
            expand_all(&["a".into(), "{session_file}".into()], &v),
            ["a", ".agents/sessions/x.md"]
        );
    }

    #[test]
    fn default_prompt_names_file_and_task() {
        let p = default_prompt("s.md", "do it");
        assert!(p.contains("s.md") && p.contains("do it") && p.contains("SUMMARY:"));
    }
}
