//! Every seed and every regression input of every fuzz target, replayed: a crash libFuzzer once
//! found stays a test (`regressions/TARGET/NAME`, named after what it broke).

use std::path::Path;

fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).expect("readable input"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_target_has_seeds_and_passes_them() {
    for (target, run) in roster_fuzz::TARGETS {
        let seeds = inputs("seeds", target);
        assert!(
            !seeds.is_empty(),
            "fuzz target {target} has no seeds in tests/fuzz/seeds/{target}/"
        );
        for (name, bytes) in seeds {
            eprintln!("seed {target}/{name}");
            run(&bytes);
        }
    }
}

#[test]
fn every_regression_passes() {
    let mut count = 0;
    for (target, run) in roster_fuzz::TARGETS {
        for (name, bytes) in inputs("regressions", target) {
            eprintln!("regression {target}/{name}");
            run(&bytes);
            count += 1;
        }
    }
    eprintln!("{count} regressions replayed");
}

#[test]
fn every_libfuzzer_binary_is_a_target() {
    // tests/fuzz/libfuzzer/fuzz_targets/NAME.rs, one per target and no other.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("libfuzzer/fuzz_targets");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut names: Vec<String> = roster_fuzz::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    names.sort();
    assert_eq!(
        files,
        names,
        "each target needs a libFuzzer binary in {}",
        dir.display()
    );
    let manifest = std::fs::read_to_string(dir.parent().unwrap().join("Cargo.toml")).unwrap();
    for name in &names {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "libfuzzer/Cargo.toml has no [[bin]] {name}"
        );
    }
}
