//! What code names, for `tests/layers.rs`'s reader: `use` trees (with the names they bind),
//! inline crate paths, the items a bare name reaches, and the calls that hand over callbacks
//! (the rule is at the top of layers.rs).

use std::collections::BTreeSet;

use crate::lexer::{closing, defines, ident_at, is_ident, path_at, skip_ws};

/// Expands a `use` tree (`a::{b, c::d as e, f::*}`) into full paths, each with the name it
/// binds (`*` for a glob).
fn expand_tree(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
    let tree = tree.trim();
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = split_path(&tree[..open]);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut base = prefix.to_vec();
        base.extend(head);
        for part in split_top_level(inner) {
            expand_tree(&base, &part, out);
        }
    } else {
        let mut parts = tree.split(" as ");
        let path = parts.next().unwrap_or(tree);
        let alias = parts.next().map(|a| a.trim().to_owned());
        let mut full = prefix.to_vec();
        full.extend(split_path(path));
        let last = full.last().cloned().unwrap_or_default();
        if last == "*" || last == "self" {
            full.pop();
        }
        let bound = match alias {
            Some(alias) => alias,
            None if last == "self" => full.last().cloned().unwrap_or_default(),
            None => last,
        };
        out.push((full, bound));
    }
}

pub(crate) fn split_path(s: &str) -> Vec<String> {
    s.split("::")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits `a, b::{c, d}, e` at the commas outside braces.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
}

/// Every `use` item in `code` (any visibility): the path and the name it binds.
pub(crate) fn uses_in(code: &str) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().next_back();
        let start_ok = before.is_none_or(|c| c.is_whitespace() || c == ')' || c == ';');
        let tail = &rest[i + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if start_ok {
            expand_tree(&[], &tail[..end], &mut out);
        }
        rest = &tail[end.min(tail.len())..];
    }
    out
}

/// Every crate-internal path `code` names, unresolved: `use` items, and inline `crate::a::b`,
/// `$crate::a::b` (first segment `$crate`) and `super::a`.
pub(crate) fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = uses_in(code).into_iter().map(|(p, _)| p).collect();
    for key in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(i) = rest.find(key) {
            let before = rest[..i].chars().next_back();
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            let mut path = split_path(&tail[..end]);
            if key == "crate::" && before == Some('$') {
                path[0] = "$crate".to_owned();
                out.push(path);
            } else if !before
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':')
            {
                out.push(path);
            }
            rest = &tail[end.max(key.len())..];
        }
    }
    out
}

/// The items `code` defines that a bare name reaches: its fns, statics and consts, not those
/// in an `impl` or `trait` block (methods and associated items go through `Self::`).
pub(crate) fn items_in(code: &str) -> BTreeSet<String> {
    let b = code.as_bytes();
    let mut blocks = Vec::new();
    for keyword in ["impl", "trait"] {
        for (i, _) in code.match_indices(keyword) {
            let end = i + keyword.len();
            if (i > 0 && is_ident(b[i - 1])) || b.get(end).is_some_and(|&c| is_ident(c)) {
                continue;
            }
            let open = code[end..].find(['{', ';']).map(|p| end + p);
            if let Some(open) = open.filter(|&o| b[o] == b'{') {
                blocks.extend(closing(code, open).map(|close| open..close));
            }
        }
    }
    ["fn ", "static ", "const "]
        .into_iter()
        .flat_map(|keyword| code.match_indices(keyword))
        .filter(|(i, _)| *i == 0 || !is_ident(b[*i - 1]))
        .filter(|(i, _)| !blocks.iter().any(|block| block.contains(i)))
        .filter_map(|(i, keyword)| ident_at(code, skip_ws(code, i + keyword.len())))
        .map(|(name, _)| name)
        .filter(|n| n != "mut" && n != "fn")
        .collect()
}

/// The `#[macro_export]` macros `code` defines: they live at the crate root.
pub(crate) fn exported_macros(code: &str) -> Vec<String> {
    code.match_indices("#[macro_export]")
        .filter_map(|(i, _)| {
            let rest = code[i..].split_once("macro_rules!")?.1.trim_start();
            let n: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!n.is_empty()).then_some(n)
        })
        .collect()
}

/// A call to a path, with what the callbacks among its arguments name (as written).
#[derive(Debug)]
pub(crate) struct Call {
    /// The offset of the callee in the file.
    pub(crate) at: usize,
    /// As written: `crate::clock::start_ticker`, `Route::run_or_here`.
    pub(crate) callee: Vec<String>,
    /// What the callbacks name, as written: `crate::config::debug_mode`, `kick`.
    pub(crate) named: Vec<Vec<String>>,
}

/// The calls in `code` that hand over callbacks (the rule is at the top of layers.rs).
pub(crate) fn calls_with_callbacks(code: &str) -> Vec<Call> {
    let b = code.as_bytes();
    let mut calls = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let Some((callee, end)) = path_at(code, i) else {
            i += 1;
            continue;
        };
        let mut j = skip_ws(code, end);
        if b.get(j) == Some(&b'.') {
            // A static's method: `crate::x::HOOKS.add(…)`.
            if let Some((_, e)) = ident_at(code, skip_ws(code, j + 1)) {
                j = skip_ws(code, e);
            }
        }
        let mut named = Vec::new();
        while b.get(j) == Some(&b'(') && !defines(code, i) {
            let Some(close) = closing(code, j) else { break };
            named.extend(callbacks_in_args(&code[..j + 1], &code[j + 1..close]));
            // Methods chained on what a type's fn made: `Type::new(…).on(…)` (not on what a
            // plain fn returns: `lock(…).map(f)` is the std's `map`).
            let on_type =
                callee.len() > 1 && callee[callee.len() - 2].starts_with(char::is_uppercase);
            if !on_type {
                break;
            }
            j = skip_ws(code, close + 1);
            while b.get(j) == Some(&b'?') {
                j = skip_ws(code, j + 1);
            }
            if code[j..].starts_with(".await") {
                j = skip_ws(code, j + 6);
            }
            if b.get(j) != Some(&b'.') {
                break;
            }
            match ident_at(code, skip_ws(code, j + 1)) {
                Some((_, e)) => j = skip_ws(code, e),
                None => break,
            }
        }
        if !named.is_empty() {
            calls.push(Call {
                at: i,
                callee,
                named,
            });
        }
        i = end;
    }
    calls
}

/// Splits an argument list at its top-level commas, a closure's `|a, b|` in one piece.
fn split_args(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let (mut out, mut depth, mut start, mut i) = (Vec::new(), 0i32, 0, 0);
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            b'|' if depth == 0
                && matches!(s[start..i].trim(), "" | "move" | "async" | "async move") =>
            {
                if b.get(i + 1) != Some(&b'|') {
                    i += s[i + 1..].find('|').map_or(0, |p| p + 1);
                } else {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&s[start..]);
    out
}

/// What the callbacks among `args` name, as written: a closure's crate paths and calls, a fn
/// item's path. `before`: the code up to the arguments, to tell a fn item from a local.
fn callbacks_in_args(before: &str, args: &str) -> Vec<Vec<String>> {
    let mut named = Vec::new();
    for arg in split_args(args) {
        let mut a = arg.trim();
        loop {
            let stripped = a.strip_prefix("&mut ").or_else(|| a.strip_prefix('&'));
            if let Some(s) = stripped {
                a = s.trim_start();
                continue;
            }
            let wrapper = ["Some(", "Box::new(", "Arc::new(", "Rc::new("]
                .into_iter()
                .find(|w| a.starts_with(w));
            match wrapper {
                Some(w) if closing(a, w.len() - 1) == Some(a.len() - 1) => {
                    a = a[w.len()..a.len() - 1].trim();
                }
                _ => break,
            }
        }
        let mut closure = a;
        for word in ["async", "move"] {
            if let Some(rest) = closure.strip_prefix(word)
                && !rest.bytes().next().is_some_and(is_ident)
            {
                closure = rest.trim_start();
            }
        }
        if let Some(params) = closure.strip_prefix('|') {
            let body = params.find('|').map_or("", |p| &params[p + 1..]);
            named.extend(named_in_body(body));
        } else if let Some((path, end)) = path_at(a, 0) {
            let last = path.last().unwrap();
            let fn_like = last.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
            let keyword = matches!(last.as_str(), "true" | "false" | "self");
            if end == a.len() && fn_like && !keyword && !(path.len() == 1 && local(before, last)) {
                named.push(path);
            }
        }
    }
    named
}

/// Whether `name`, at the end of `before`, is a local of the fn body it is in: bound there
/// (since that fn's `fn` keyword) by a parameter, a `let` or `for` pattern, a closure's
/// parameters or a match arm.
fn local(before: &str, name: &str) -> bool {
    let b = before.as_bytes();
    let fns = words(before, "fn", 0).filter(|&i| b.get(i + 2).is_some_and(u8::is_ascii_whitespace));
    let Some(start) = fns.last() else {
        return false;
    };
    let Some(open) = before[start..].find('{').map(|p| start + p) else {
        return false;
    };
    if closing(before, open).is_some() {
        return false; // not in that fn's body: a static's initializer, say
    }
    let until = |from: usize, to: &[char]| before[from..].find(to).map_or(b.len(), |p| from + p);
    let mut binds = Vec::new();
    binds.push(start..open); // the signature
    binds.extend(words(before, "let", open).map(|i| i..until(i, &['=', ';'])));
    binds.extend(words(before, "for", open).map(|i| i..until(i, &['{'])));
    for (arrow, _) in before[open..].match_indices("=>") {
        let arm = before[..open + arrow]
            .rfind(['{', ',', '}'])
            .unwrap_or(open);
        binds.push(arm..open + arrow);
    }
    let mut pipes = before[open..].match_indices('|').map(|(i, _)| open + i);
    while let Some(p) = pipes.next() {
        let prev = before[..p].trim_end();
        let opens = prev.ends_with(['(', ',', '=', '{', ';']) || prev.ends_with("move");
        if opens {
            binds.extend(pipes.next().map(|close| p..close));
        }
    }
    words(before, name, start).any(|i| binds.iter().any(|r| r.contains(&i)))
}

/// The offsets, from `from` on, of `word` standing alone (not inside a longer identifier).
fn words<'a>(code: &'a str, word: &'a str, from: usize) -> impl Iterator<Item = usize> + 'a {
    let b = code.as_bytes();
    code[from..]
        .match_indices(word)
        .map(move |(i, _)| from + i)
        .filter(move |&i| i == 0 || !is_ident(b[i - 1]))
        .filter(move |&i| !b.get(i + word.len()).is_some_and(|&c| is_ident(c)))
}

/// What a closure's body names: its paths (`a::b`, `crate::x::f`), its calls of bare names
/// (`flush()`) and its `SCREAMING_CASE` statics and consts; locals and methods are not names.
fn named_in_body(body: &str) -> Vec<Vec<String>> {
    let mut named = Vec::new();
    let mut i = 0;
    while i < body.len() {
        match path_at(body, i) {
            Some((path, end)) => {
                let call = body.as_bytes().get(skip_ws(body, end)) == Some(&b'(');
                let first = path[0].as_bytes();
                let constant = first[0].is_ascii_uppercase()
                    && first
                        .iter()
                        .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
                if path.len() > 1 || constant || (call && !defines(body, i)) {
                    named.push(path);
                }
                i = end;
            }
            None => i += 1,
        }
    }
    named
}
