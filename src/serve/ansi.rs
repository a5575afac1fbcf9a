//! A pane's text with its colours (`tmux capture-pane -e`) as runs of text, each with a
//! class list made only of names this module writes (`f0`–`f15` foreground, `g0`–`g15`
//! background, `fbg`/`gfg` for reversed defaults, `b` bold, `d` dim, `i` italic, `u`
//! underline). The page puts each run in a `<span>` with `textContent`, so nothing the agent
//! prints can become HTML or a class of its choosing; every other escape sequence and control
//! character is dropped. 256 and true colours are shown as the nearest of the 16.

/// The graphic state an SGR sequence changes.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    fg: Option<u8>,
    bg: Option<u8>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    reverse: bool,
}

impl Style {
    fn class(&self) -> String {
        let (fg, bg) = if self.reverse {
            (
                self.bg.map_or("fbg".to_string(), |c| format!("f{c}")),
                self.fg.map_or("gfg".to_string(), |c| format!("g{c}")),
            )
        } else {
            (
                self.fg.map_or(String::new(), |c| format!("f{c}")),
                self.bg.map_or(String::new(), |c| format!("g{c}")),
            )
        };
        let flags = [
            (self.bold, "b"),
            (self.dim, "d"),
            (self.italic, "i"),
            (self.underline, "u"),
        ];
        [fg, bg]
            .into_iter()
            .filter(|s| !s.is_empty())
            .chain(flags.iter().filter(|f| f.0).map(|f| f.1.to_string()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn apply(&mut self, params: &str) {
        let nums: Vec<u32> = params
            .split([';', ':'])
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        let mut i = 0;
        while i < nums.len() {
            match nums[i] {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                7 => self.reverse = true,
                22 => (self.bold, self.dim) = (false, false),
                23 => self.italic = false,
                24 => self.underline = false,
                27 => self.reverse = false,
                n @ 30..=37 => self.fg = Some((n - 30) as u8),
                39 => self.fg = None,
                n @ 40..=47 => self.bg = Some((n - 40) as u8),
                49 => self.bg = None,
                n @ 90..=97 => self.fg = Some((n - 90 + 8) as u8),
                n @ 100..=107 => self.bg = Some((n - 100 + 8) as u8),
                n @ (38 | 48) => {
                    let (colour, used) = extended(&nums[i + 1..]);
                    i += used;
                    if n == 38 {
                        self.fg = colour;
                    } else {
                        self.bg = colour;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

/// `5;N` or `2;R;G;B` after a 38/48: the nearest of the 16 colours and how many numbers it took.
fn extended(rest: &[u32]) -> (Option<u8>, usize) {
    match rest {
        [5, n, ..] => (Some(from_256(*n)), 2),
        [2, r, g, b, ..] => (Some(nearest(*r, *g, *b)), 4),
        _ => (None, rest.len()),
    }
}

fn from_256(n: u32) -> u8 {
    match n {
        0..=15 => n as u8,
        16..=231 => {
            let n = n - 16;
            let level = |v: u32| if v == 0 { 0 } else { 55 + 40 * v };
            nearest(level(n / 36), level(n / 6 % 6), level(n % 6))
        }
        232..=255 => {
            let v = 8 + 10 * (n - 232);
            nearest(v, v, v)
        }
        _ => 7,
    }
}

/// The nearest of xterm's 16 colours.
fn nearest(r: u32, g: u32, b: u32) -> u8 {
    const XTERM: [(u32, u32, u32); 16] = [
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    ];
    let d = |(x, y, z): (u32, u32, u32)| {
        let (dr, dg, db) = (r.abs_diff(x), g.abs_diff(y), b.abs_diff(z));
        dr * dr + dg * dg + db * db
    };
    (0..16u8).min_by_key(|&i| d(XTERM[i as usize])).unwrap_or(7)
}

/// The text as `(text, class)` runs; adjacent runs of one style are joined.
pub fn runs(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut style = Style::default();
    let mut chars = text.chars().peekable();
    let push = |out: &mut Vec<(String, String)>, c: char, style: &Style| {
        let class = style.class();
        match out.last_mut() {
            Some((t, k)) if *k == class => t.push(c),
            _ => out.push((c.to_string(), class)),
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    for p in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&p) {
                            if p == 'm' {
                                style.apply(&params);
                            }
                            break;
                        }
                        params.push(p);
                    }
                }
                // OSC (titles, hyperlinks): up to BEL or ESC \.
                Some(']') => {
                    while let Some(p) = chars.next() {
                        if p == '\x07' || (p == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                // Character-set designations (`ESC ( B`): one more character.
                Some('(' | ')' | '*' | '+') => {
                    chars.next();
                }
                _ => {}
            },
            '\n' | '\t' => push(&mut out, c, &style),
            c if c.is_control() => {}
            c => push(&mut out, c, &style),
        }
    }
    out
}

/// The text alone: every escape sequence and control character but newline and tab dropped.
pub fn plain(text: &str) -> String {
    runs(text).into_iter().map(|(t, _)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str, class: &str) -> (String, String) {
        (text.to_string(), class.to_string())
    }

    #[test]
    fn colours_become_our_own_class_names() {
        assert_eq!(
            runs("a\x1b[1;31mred\x1b[0m b"),
            vec![r("a", ""), r("red", "f1 b"), r(" b", "")]
        );
        assert_eq!(runs("\x1b[38;5;196mx"), vec![r("x", "f9")]);
        assert_eq!(runs("\x1b[48;2;0;0;0;97mx"), vec![r("x", "f15 g0")]);
        assert_eq!(
            runs("\x1b[7mx\x1b[27my"),
            vec![r("x", "fbg gfg"), r("y", "")]
        );
    }

    #[test]
    fn other_sequences_and_controls_are_dropped() {
        assert_eq!(
            runs("\x1b]0;title\x07a\x1b[2Kb\x08\x1b]8;;http://x\x1b\\c\x1b(Bd"),
            vec![r("abcd", "")]
        );
        assert_eq!(runs("<b>&\n\tx"), vec![r("<b>&\n\tx", "")]);
        assert_eq!(
            plain("\x1b[1;32mready\x1b[0m for\r input"),
            "ready for input"
        );
        // A cut-off sequence at the end loses nothing before it.
        assert_eq!(runs("ok\x1b[31"), vec![r("ok", "")]);
    }
}
