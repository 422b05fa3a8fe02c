//! Plan, apply, destroy, drift, refresh-only, import and adopt, guards, saved plans, validate,
//! the state lock, pacing, a SIGKILL mid-apply, and the lookup commands.

use super::*;

#[tokio::test]
async fn apply_from_empty_then_no_op_then_destroy() {
    let w = World::new(open_seed()).await;
    let resources = [
        nimbus_user("a", &guid(1), nd::OU_SALES),
        nimbus_user("b", &guid(2), nd::OU_SUPPORT),
        symbee_user(
            "m",
            "mmars@abc-gadgets.com",
            "create_in_amazon_connect = true",
        ),
    ]
    .concat();
    w.write(fast(), &resources);

    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(2), "changes pending: {}", text(&o));
    assert!(
        text(&o).contains("Plan: 3 to add, 0 to replace, 0 to destroy."),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("# nimbus_user.a will be created"));

    let o = w.run(&["apply"]).await;
    assert_eq!(
        o.status.code(),
        Some(1),
        "no terminal and no --auto-approve: refused"
    );
    assert!(text(&o).contains("--auto-approve"), "{}", text(&o));
    assert!(w.nimbus_users().is_empty(), "nothing changed");

    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Apply complete! Resources: 3 added"),
        "{}",
        text(&o)
    );
    assert_eq!(w.nimbus_users(), vec![guid(1), guid(2)]);
    let state = w.state();
    assert_eq!(state["resources"].as_array().unwrap().len(), 3);
    assert!(state["resources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "created"));
    assert!(
        !std::fs::read_to_string(w.path("roster.state.json"))
            .unwrap()
            .contains(nd::CLIENT_SECRET),
        "no secret in state"
    );

    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("No changes."));

    let o = w.run(&["state", "list"]).await;
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "nimbus_user.a\nnimbus_user.b\nsymbee_user.m\n"
    );

    let o = w.run(&["destroy", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 destroyed"), "{}", text(&o));
    assert!(w.nimbus_users().is_empty());
    assert_eq!(
        w.symbee
            .update(|s| s.companies[0].environments[0].users.len()),
        1,
        "only the seeded user is left"
    );
    assert_eq!(w.state()["resources"], serde_json::json!([]));
}

#[tokio::test]
async fn drift_deleted_outside_is_recreated_and_ou_change_is_a_guarded_replace() {
    let w = World::new(open_seed()).await;
    w.write(
        fast(),
        &[
            nimbus_user("a", &guid(1), nd::OU_SALES),
            nimbus_user("b", &guid(2), nd::OU_SALES),
        ]
        .concat(),
    );
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());

    // Deleted outside Roster.
    w.nimbus
        .update(|s| s.tenants[0].users.retain(|u| u.o365_id != guid(1)));
    // Organization unit changed outside Roster.
    w.nimbus.update(|s| {
        s.tenants[0]
            .users
            .iter_mut()
            .find(|u| u.o365_id == guid(2))
            .unwrap()
            .organization_unit_id = nd::OU_SUPPORT.into()
    });
    let o = w.run(&["plan"]).await;
    let t = text(&o);
    assert!(t.contains("nimbus_user.a: deleted outside Roster"), "{t}");
    assert!(
        t.contains("# nimbus_user.a will be created (deleted outside Roster)"),
        "{t}"
    );
    assert!(
        t.contains("organization_unit_id changed outside Roster"),
        "{t}"
    );
    assert!(t.contains("# nimbus_user.b must be replaced"), "{t}");
    assert!(
        t.contains(&format!(
            "organization_unit_id = \"{}\" -> \"{}\" # forces replacement",
            nd::OU_SUPPORT,
            nd::OU_SALES
        )),
        "{t}"
    );
    assert!(
        t.contains("loses its configuration"),
        "the plan says what a Nimbus replacement costs: {t}"
    );

    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--allow-replace"), "{}", text(&o));
    let o = w.run(&["apply", "--auto-approve", "--allow-replace"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let ou = w.nimbus.update(|s| {
        s.tenants[0]
            .users
            .iter()
            .find(|u| u.o365_id == guid(2))
            .unwrap()
            .organization_unit_id
            .clone()
    });
    assert_eq!(ou, nd::OU_SALES);
    assert_eq!(w.nimbus_users(), vec![guid(1), guid(2)]);
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );
}

#[tokio::test]
async fn refresh_only_records_what_the_vendors_have() {
    let w = World::new(open_seed()).await;
    w.write(
        fast(),
        &[
            nimbus_user("a", &guid(1), nd::OU_SALES),
            nimbus_user("b", &guid(2), nd::OU_SALES),
            symbee_user("m", "mmars@abc-gadgets.com", ""),
        ]
        .concat(),
    );
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    let before = w.state();
    let o = w.run(&["apply", "--auto-approve", "--refresh=false"]).await;
    assert!(text(&o).contains("No changes."), "{}", text(&o));
    assert_eq!(
        w.state(),
        before,
        "an apply that reads nothing and changes nothing does not rewrite the state"
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(text(&o).contains("No changes."), "{}", text(&o));
    // A no-op apply that read every record records only when it read them (issue 13).
    let without_read_at = |mut state: serde_json::Value| {
        for r in state["resources"].as_array_mut().unwrap() {
            r.as_object_mut().unwrap().remove("read_at");
        }
        state["serial"] = serde_json::Value::Null;
        state
    };
    let after = w.state();
    assert_eq!(
        without_read_at(after.clone()),
        without_read_at(before.clone()),
        "only the read times changed"
    );
    assert!(after["resources"]
        .as_array()
        .unwrap()
        .iter()
        .zip(before["resources"].as_array().unwrap())
        .all(|(a, b)| a["read_at"].as_str() >= b["read_at"].as_str()));
    assert_eq!(
        w.run(&["plan", "--refresh-only", "--detailed-exitcode"])
            .await
            .status
            .code(),
        Some(0)
    );

    w.nimbus
        .update(|s| s.tenants[0].users.retain(|u| u.o365_id != guid(1)));
    w.nimbus.update(|s| {
        s.tenants[0]
            .users
            .iter_mut()
            .find(|u| u.o365_id == guid(2))
            .unwrap()
            .organization_unit_id = nd::OU_SUPPORT.into()
    });
    let o = w
        .run(&["plan", "--refresh-only", "--detailed-exitcode"])
        .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = w.run(&["apply", "--refresh-only", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        w.nimbus_users(),
        vec![guid(2)],
        "refresh-only changes nothing at the vendor"
    );
    let state = w.state();
    let records = state["resources"].as_array().unwrap();
    assert!(
        records.iter().any(|r| r["address"] == "nimbus_user.a"),
        "a declared record is never dropped by a refresh (issue 11)"
    );
    let b = records
        .iter()
        .find(|r| r["address"] == "nimbus_user.b")
        .unwrap();
    assert_eq!(b["attributes"]["organization_unit_id"], nd::OU_SUPPORT);
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains("# nimbus_user.a will be created")
            && t.contains("# nimbus_user.b must be replaced"),
        "{t}"
    );
}

#[tokio::test]
async fn symbee_user_missing_from_amazon_connect_is_drift_to_replace() {
    let w = World::new(open_seed()).await;
    w.write(
        fast(),
        &symbee_user(
            "m",
            "mmars@abc-gadgets.com",
            "create_in_amazon_connect = true",
        ),
    );
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    w.symbee
        .update(|s| s.companies[0].environments[0].connect_users.clear());
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains("create_in_amazon_connect changed outside Roster: true -> false"),
        "{t}"
    );
    assert!(
        t.contains("create_in_amazon_connect = false -> true # forces replacement"),
        "{t}"
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        w.symbee
            .update(|s| s.companies[0].environments[0].connect_users.len()),
        1
    );
}

#[tokio::test]
async fn import_and_adopt_existing_objects() {
    let w = World::new(open_seed()).await;
    // The template user exists at the vendor; declaring it fails on create with an import hint.
    w.write(fast(), &nimbus_user("t", nd::TEMPLATE_USER, nd::OU_SALES));
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains(&format!("roster import nimbus_user {}", nd::TEMPLATE_USER)),
        "{}",
        text(&o)
    );
    assert_eq!(
        w.state()["resources"],
        serde_json::json!([]),
        "a refused create leaves no record"
    );

    let o = w.run(&["import", "nimbus_user", nd::TEMPLATE_USER]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );
    let o = w.run(&["import", "nimbus_user", &guid(9)]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("declare it first"), "{}", text(&o));

    // adopt = true takes the existing Symbee user without an error.
    w.write(
        fast(),
        &[
            nimbus_user("t", nd::TEMPLATE_USER, nd::OU_SALES),
            symbee_user("v", "vvenus@abc-gadgets.com", "adopt = true"),
        ]
        .concat(),
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 adopted"), "{}", text(&o));
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );
}

#[tokio::test]
async fn mass_delete_guard() {
    let w = World::new(open_seed()).await;
    let users: String = (1..=12)
        .map(|i| nimbus_user(&format!("u{i}"), &guid(i), nd::OU_SALES))
        .collect();
    w.write(fast(), &users);
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    w.write(fast(), "");
    let o = w.run(&["plan"]).await;
    assert!(
        text(&o).contains("apply will need --allow-mass-delete"),
        "{}",
        text(&o)
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .contains("deletes or forgets 12 objects, more than the mass-delete threshold of 10"),
        "{}",
        text(&o)
    );
    assert_eq!(w.nimbus_users().len(), 12, "nothing deleted");
    let o = w
        .run(&["apply", "--auto-approve", "--allow-mass-delete"])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(w.nimbus_users().is_empty());
}

#[tokio::test]
async fn plan_file_round_trip_and_staleness() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    let o = w.run(&["plan", "--out", "p1.json"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let saved = std::fs::read_to_string(w.path("p1.json")).unwrap();
    assert!(!saved.contains(nd::CLIENT_SECRET));
    // A second plan, saved before anything is applied.
    assert!(w.run(&["plan", "--out", "p2.json"]).await.status.success());
    let o = w.run(&["apply", "p1.json"]).await;
    assert!(
        o.status.success(),
        "a saved plan needs no confirmation: {}",
        text(&o)
    );
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
    let o = w.run(&["apply", "p2.json"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("the plan is stale"), "{}", text(&o));
    assert_eq!(
        w.nimbus_users(),
        vec![guid(1)],
        "a stale plan changes nothing"
    );
    let o = w.run(&["apply", "nonexistent.json"]).await;
    assert_eq!(o.status.code(), Some(1));
}

#[tokio::test]
async fn validate_names_file_line_and_key() {
    let w = World::new(open_seed()).await;
    w.write(fast(), "[resource.nimbus_user.a]\no365_id = \"nope\"\norganization_unit_id = \"6a1f5d6e-0c4b-4d8e-9a51-3c2e7b8f9d10\"\ncolour = \"red\"\n");
    let o = w.run(&["validate"]).await;
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    let file = "roster.toml";
    assert!(
        t.contains(&format!(
            "{file}:12: resource.nimbus_user.a.o365_id: `o365_id` must be a GUID"
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "{file}:14: resource.nimbus_user.a.colour: unknown key `colour`"
        )),
        "{t}"
    );
    let o = w.run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1), "plan refuses an invalid file");
    assert_eq!(
        w.nimbus.stats().operations + w.nimbus.stats().tokens_issued,
        0,
        "validate touched no network"
    );
    w.write("colour = 1", "");
    let t = text(&w.run(&["validate"]).await);
    assert!(
        t.contains(&format!(
            "{file}:5: provider.nimbus.colour: unknown key `colour`"
        )),
        "{t}"
    );
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    assert!(w.run(&["validate"]).await.status.success());
}

#[tokio::test]
async fn two_processes_contend_for_the_lock() {
    let w = World::new(open_seed()).await;
    // Slow pacing keeps the first apply (and its lock) busy for a few seconds.
    let users: String = (1..=6)
        .map(|i| nimbus_user(&format!("u{i}"), &guid(i), nd::OU_SALES))
        .collect();
    w.write("rate_limit = { operations = 2, per_seconds = 1 }", &users);
    let mut first = w
        .command(&["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = w.path("roster.state.json.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&lock)
        .map(|s| s.is_empty())
        .unwrap_or(true)
    {
        assert!(
            Instant::now() < deadline,
            "the first apply never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let o = w.run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("is locked by roster apply (pid"),
        "{}",
        text(&o)
    );
    let o = w.run(&["plan", "--lock-timeout", "60"]).await;
    assert!(o.status.success(), "waits for the lock: {}", text(&o));
    assert!(first.wait().unwrap().success());
    assert!(text(&o).contains("No changes."), "{}", text(&o));
}

#[tokio::test]
async fn a_rate_limited_apply_of_100_nimbus_users_surfaces_no_429() {
    let mut seed = NimbusSeed::demo();
    seed.rate_limit = RateLimit {
        operations: 60,
        window_ms: 6000,
        mode: RateMode::Reject,
    };
    let w = World::new(seed).await;
    let users: String = (1..=100)
        .map(|i| nimbus_user(&format!("u{i}"), &guid(i), nd::OU_SALES))
        .collect();
    // The documented 60 per minute, scaled to a 6-second window like the sandbox's.
    w.write("rate_limit = { operations = 60, per_seconds = 6 }", &users);
    let started = Instant::now();
    let o = w.run(&["apply", "--auto-approve"]).await;
    let took = started.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("100 added"), "{}", text(&o));
    assert!(!text(&o).contains("failed:"), "{}", text(&o));
    assert_eq!(w.nimbus_users().len(), 100);
    let stats = w.nimbus.stats();
    println!(
        "100 creates in {took:?}; sandbox saw {} operations, answered {} with 429",
        stats.operations, stats.rate_limited
    );
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );
}

#[tokio::test]
async fn sigkill_mid_apply_then_apply_converges_exactly() {
    let w = World::new(open_seed()).await;
    let users: String = (1..=30)
        .map(|i| nimbus_user(&format!("u{i}"), &guid(i), nd::OU_SALES))
        .collect();
    w.write("rate_limit = { operations = 10, per_seconds = 1 }", &users);
    let mut child = w
        .command(&["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it create some users, then kill it without warning.
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.nimbus_users().len() < 8 {
        assert!(Instant::now() < deadline, "the apply made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    let made = w.nimbus_users().len();
    assert!(made < 30, "killed mid-apply ({made} of 30 made)");
    // The creates since the state file was last written whole are in its journal; every user
    // made is recorded (created, or pending when the kill came between create and record).
    assert!(
        w.path("roster.state.json.journal").exists(),
        "a killed apply leaves its journal"
    );
    let listed = text(&w.run(&["state", "list"]).await);
    let recorded = listed
        .lines()
        .filter(|l| l.starts_with("nimbus_user."))
        .count();
    println!("killed after {made} creates; state holds {recorded} records");
    assert!(
        recorded >= made,
        "every user made is in the state ({recorded} recorded, {made} made):\n{listed}"
    );

    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let expected: Vec<String> = (1..=30).map(guid).collect();
    assert_eq!(
        w.nimbus_users(),
        expected,
        "exactly the desired set: nothing lost, nothing duplicated"
    );
    let state = w.state();
    let records = state["resources"].as_array().unwrap();
    assert_eq!(records.len(), 30);
    assert!(
        records.iter().all(|r| r["status"] == "created"),
        "no pending record is left"
    );
    assert!(
        !w.path("roster.state.json.journal").exists(),
        "the apply folded the journal into the state file"
    );
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );
}

#[tokio::test]
async fn get_query_and_providers_commands() {
    let w = World::new(open_seed()).await;
    w.write(fast(), "");
    let o = w.run(&["get", "nimbus_user", nd::TEMPLATE_USER]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("assignment_type") && text(&o).contains("SkillBased"),
        "{}",
        text(&o)
    );
    let o = w
        .run(&["get", "symbee_user", "vvenus@abc-gadgets.com", "--json"])
        .await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["amazon_connect_status"], "NOT_FOUND");
    let o = w.run(&["get", "nimbus_user", &guid(77)]).await;
    assert_eq!(o.status.code(), Some(1));
    let o = w.run(&["query", "nimbus_license_usage"]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["licenses"][0]["used"], 2);
    let o = w.run(&["providers", "symbee"]).await;
    assert!(
        text(&o).contains("resource symbee_user (id: login_user_id)"),
        "{}",
        text(&o)
    );
    let o = w.run(&["completions", "bash"]).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("roster"));
}

/// The commented example of docs/roster-file.md is a valid roster file, and a variable it uses
/// that is not set is named with its line.
#[tokio::test]
async fn the_roster_file_reference_example_validates() {
    let readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/roster-file.md"
    ))
    .unwrap();
    let start = readme
        .find("```toml\n# roster.toml")
        .expect("docs/roster-file.md has the example")
        + "```toml\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("roster.toml"), example).unwrap();
    let with_env = |command: &str| {
        Command::new(ROSTER)
            .current_dir(dir.path())
            .args([command])
            .env("ROSTER_CACHE_DIR", cache_dir())
            .env("NIMBUS_TENANT_ID", nd::TENANT_ID)
            .env("NIMBUS_CLIENT_ID", nd::CLIENT_ID)
            .output()
            .unwrap()
    };
    for command in ["grant", "validate"] {
        let o = with_env(command);
        assert!(o.status.success(), "roster {command}: {}", text(&o));
    }
    let o = Command::new(ROSTER)
        .current_dir(dir.path())
        .args(["validate"])
        .env("ROSTER_CACHE_DIR", cache_dir())
        .env_remove("NIMBUS_TENANT_ID")
        .output()
        .unwrap();
    assert!(text(&o).contains("roster.toml:10: provider.nimbus.config.tenant_id: environment variable NIMBUS_TENANT_ID is not set"), "{}", text(&o));
}
