//! The engine's modules import one another without a circle: the decision core (`decide`)
//! below plans, plan files and the workspace; each room above the ones it uses.

use std::collections::{BTreeMap, BTreeSet};

/// Each top-level module (`src/NAME.rs`, or every file under `src/NAME/`) → its code without
/// comments, on one line, so a `use` wrapped over lines reads as one.
fn sources() -> BTreeMap<String, String> {
    fn files(path: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                files(&entry.unwrap().path(), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.to_path_buf());
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let mut paths = Vec::new();
        files(&path, &mut paths);
        if name == "lib" || paths.is_empty() {
            continue;
        }
        let mut code = String::new();
        for p in paths {
            for line in std::fs::read_to_string(p).unwrap().lines().map(str::trim) {
                if !line.starts_with("//") {
                    code.push_str(line);
                    code.push(' ');
                }
            }
        }
        modules.insert(name, code);
    }
    modules
}

/// Module → the modules it names as `crate::NAME` (outside comments).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for (name, code) in sources() {
        let mut uses = BTreeSet::new();
        for part in code.split("crate::").skip(1) {
            for module in first_segments(part) {
                if module != name {
                    uses.insert(module);
                }
            }
        }
        graph.insert(name, uses);
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

#[test]
fn the_decision_core_is_free_of_the_sandbox() {
    // The contract's data comes from roster-contract; nothing of wasmtime or its host.
    let code = &sources()["decide"];
    for banned in ["roster_runtime", "wasmtime"] {
        assert!(
            !code.contains(banned),
            "the decision core (decide) names `{banned}`: it must build without the sandbox"
        );
    }
}
