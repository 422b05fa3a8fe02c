//! The engine's modules import one another without a circle: the decision core (`decide`)
//! below plans, plan files and the workspace; each room above the ones it uses.

use std::collections::{BTreeMap, BTreeSet};

/// Module → the modules it names as `crate::NAME` (outside comments).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()).filter(|_| path.extension().is_some_and(|e| e == "rs")) else { continue };
        if name == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut uses = BTreeSet::new();
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            for part in line.split("crate::").skip(1) {
                let module: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !module.is_empty() && module != name {
                    uses.insert(module);
                }
            }
        }
        graph.insert(name.to_string(), uses);
    }
    graph
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = imports();
    assert!(graph.contains_key("decide") && graph.contains_key("plan"), "{graph:?}");
    // Depth-first search for a back edge; report the circle.
    fn visit(n: &str, graph: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = path.iter().position(|p| p == n) {
            panic!("the engine's modules import each other in a circle: {} → {n}", path[i..].join(" → "));
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
    assert!(!graph["decide"].contains("plan") && !graph["decide"].contains("workspace"), "the decision core depends on no planner: {:?}", graph["decide"]);
}
