//! The engine's modules import one another without a circle: the decision core (`decide`)
//! below plans, plan files and the workspace; each room above the ones it uses.

use std::collections::{BTreeMap, BTreeSet};

/// Module → the modules it names as `crate::NAME` (outside comments).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_stem()
            .and_then(|n| n.to_str())
            .filter(|_| path.extension().is_some_and(|e| e == "rs"))
        else {
            continue;
        };
        if name == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // One line of code without comments, so a `use` wrapped over lines reads as one.
        let code: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("//"))
            .collect();
        let mut uses = BTreeSet::new();
        for part in code.join(" ").split("crate::").skip(1) {
            for module in first_segments(part) {
                if module != name {
                    uses.insert(module);
                }
            }
        }
        graph.insert(name.to_string(), uses);
    }
    graph
}

/// The modules a path after `crate::` names: its first segment, or the first segment of each
/// item of a `{…}` group (`crate::{a::X, b::{Y, Z}}` names `a` and `b`).
fn first_segments(path: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = path.trim_start().strip_prefix('{') else {
        return vec![ident(path)]
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect();
    };
    // The group's top-level items, up to its closing brace.
    let (mut depth, mut items, mut start) = (0, Vec::new(), 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
        .into_iter()
        .map(ident)
        .filter(|m| !m.is_empty() && m != "self")
        .collect()
}

#[test]
fn use_groups_name_each_module() {
    assert_eq!(first_segments("plan::Plan;"), ["plan"]);
    assert_eq!(
        first_segments("{ decide::{A, B}, store::C,\n workspace };"),
        ["decide", "store", "workspace"]
    );
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = imports();
    assert!(
        graph.contains_key("decide") && graph.contains_key("plan"),
        "{graph:?}"
    );
    // Depth-first search for a back edge; report the circle.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = path.iter().position(|p| p == n) {
            panic!(
                "the engine's modules import each other in a circle: {} → {n}",
                path[i..].join(" → ")
            );
        }
        path.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            visit(m, graph, path, done);
        }
        path.pop();
        done.insert(n.to_string());
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut done);
    }
    assert!(
        !graph["decide"].contains("plan") && !graph["decide"].contains("workspace"),
        "the decision core depends on no planner: {:?}",
        graph["decide"]
    );
}
