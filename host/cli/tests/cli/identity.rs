//! Identity is the id; pending means unknown; waits are bounded (moves, case-only differences,
//! interrupted creates, saved plans that no longer fit, Retry-After caps).

use super::*;

/// Renaming a resource is a move: shown, recorded, and nothing is sent to the vendor.
#[tokio::test]
async fn renaming_a_resource_moves_it_without_touching_the_vendor() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("grace", &guid(1), nd::OU_SALES));
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    let before = nimbus_ops(&w);
    w.write(fast(), &nimbus_user("grace_hopper", &guid(1), nd::OU_SALES));
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains("# nimbus_user.grace has moved to nimbus_user.grace_hopper"),
        "{t}"
    );
    assert!(
        t.contains("Plan: 0 to add, 0 to replace, 0 to destroy, 1 to move."),
        "{t}"
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 moved"), "{}", text(&o));
    assert_eq!(
        nimbus_ops(&w) - before,
        2,
        "one read per plan, no create or delete"
    );
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
    let state = w.state();
    assert_eq!(state["resources"][0]["address"], "nimbus_user.grace_hopper");
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );

    // Two addresses with one id (in another case, even) are refused, naming both places.
    w.write(
        fast(),
        &[
            nimbus_user("grace_hopper", &guid(1), nd::OU_SALES),
            nimbus_user("amazing_grace", &guid(1).to_uppercase(), nd::OU_SALES),
        ]
        .concat(),
    );
    let o = w.run(&["validate"]).await;
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(
        t.contains("resource.nimbus_user.grace_hopper.o365_id")
            && t.contains("is declared twice: here and as nimbus_user.amazing_grace at")
            && t.contains("roster.toml:12")
            && t.contains("roster.toml:15"),
        "{t}"
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1), "apply refuses it too");
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
}

/// Upper-case GUIDs are the same ids and values to Nimbus: no change is ever planned.
#[tokio::test]
async fn upper_case_guids_never_plan_a_replacement() {
    let w = World::new(open_seed()).await;
    w.write(
        fast(),
        &nimbus_user(
            "ada",
            &guid(0xabc).to_uppercase(),
            &nd::OU_SALES.to_uppercase(),
        ),
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        w.nimbus_users(),
        vec![guid(0xabc)],
        "Nimbus keeps it in lower case"
    );
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("changed outside"), "{}", text(&o));
    // The same user declared in lower case later is still the same object.
    w.write(fast(), &nimbus_user("ada", &guid(0xabc), nd::OU_SALES));
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );
}

/// A create that reached the vendor, whose confirming read then failed, stays pending (never
/// re-sent blind, never dropped) and is adopted by the next plan.
#[tokio::test]
async fn a_create_whose_confirming_read_fails_stays_pending_then_is_adopted() {
    use roster_sim::faults::Fault;
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    w.nimbus.update(|s| {
        s.faults.routes.insert(
            "create".into(),
            Fault {
                error_rate: 1.0,
                error_status: 503,
                after_serve: true,
                ..Fault::default()
            },
        );
        s.faults.routes.insert(
            "get".into(),
            Fault {
                error_rate: 1.0,
                error_status: 503,
                ..Fault::default()
            },
        );
    });
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("left pending"), "{}", text(&o));
    assert!(!text(&o).contains("not managed by Roster"), "{}", text(&o));
    assert_eq!(w.nimbus_users(), vec![guid(1)], "created once");
    assert_eq!(
        w.state()["resources"][0]["status"],
        "pending_create",
        "not dropped"
    );
    // While reads fail, plan refuses to guess.
    let o = w.run(&["plan"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("could not read 1 object"), "{}", text(&o));
    w.nimbus.update(|s| s.faults.routes.clear());
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains(
            "# nimbus_user.a will be adopted into the state (an interrupted create happened)"
        ),
        "{t}"
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(text(&o).contains("1 adopted"), "{}", text(&o));
    assert_eq!(w.state()["resources"][0]["status"], "created");
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );
}

/// A Symbee create interrupted by a kill is adopted with the attributes Roster sent (Symbee
/// cannot read names back), not replaced.
#[tokio::test]
async fn a_killed_symbee_create_is_adopted_not_replaced() {
    use roster_sim::faults::Fault;
    let w = World::new(open_seed()).await;
    w.write(fast(), &symbee_user("mike", "mmars@abc-gadgets.com", ""));
    // The vendor does the work, then its answer takes long enough to kill the process.
    w.symbee.update(|s| {
        s.faults.routes.insert(
            "add-user".into(),
            Fault {
                latency_ms: 30_000,
                after_serve: true,
                ..Fault::default()
            },
        )
    });
    let mut child = w
        .command(&["apply", "--auto-approve"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let made = || {
        w.symbee.update(|s| {
            s.companies[0].environments[0]
                .users
                .iter()
                .any(|u| u.login_user_id == "mmars@abc-gadgets.com")
        })
    };
    while !made() {
        assert!(
            Instant::now() < deadline,
            "the create never reached the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    assert!(!child.wait().unwrap().success());
    assert_eq!(w.state()["resources"][0]["status"], "pending_create");
    w.symbee.update(|s| s.faults.routes.clear());
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains(
            "# symbee_user.mike will be adopted into the state (an interrupted create happened)"
        ),
        "{t}"
    );
    assert!(!t.contains("must be replaced"), "{t}");
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(
        o.status.success() && text(&o).contains("1 adopted"),
        "{}",
        text(&o)
    );
    assert_eq!(
        w.run(&["plan", "--detailed-exitcode"]).await.status.code(),
        Some(0)
    );
}

/// Refresh-only never drops a declared record; a forget of an undeclared one is shown and
/// counted by the mass-delete guard.
#[tokio::test]
async fn refresh_only_keeps_declared_records_and_shows_every_forget() {
    let w = World::new(open_seed()).await;
    w.write(
        fast(),
        &[
            symbee_user("m", "mmars@abc-gadgets.com", ""),
            nimbus_user("a", &guid(1), nd::OU_SALES),
        ]
        .concat(),
    );
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    w.symbee.update(|s| {
        s.companies[0].environments[0]
            .users
            .retain(|u| u.login_user_id != "mmars@abc-gadgets.com")
    });
    let o = w.run(&["apply", "--refresh-only", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("symbee_user.m: deleted outside Roster"),
        "{}",
        text(&o)
    );
    assert!(
        w.state()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["address"] == "symbee_user.m"),
        "a declared record is kept"
    );
    assert!(text(&w.run(&["plan"]).await)
        .contains("# symbee_user.m will be created (deleted outside Roster)"));

    // Undeclared and gone: the forget is rendered and counted.
    w.write(fast(), &symbee_user("m", "mmars@abc-gadgets.com", ""));
    w.nimbus
        .update(|s| s.tenants[0].users.retain(|u| u.o365_id != guid(1)));
    let t = text(&w.run(&["plan", "--refresh-only"]).await);
    assert!(
        t.contains("# nimbus_user.a will be removed from the state (already gone at the vendor)"),
        "{t}"
    );
    std::fs::write(
        w.path("roster.toml"),
        std::fs::read_to_string(w.path("roster.toml"))
            .unwrap()
            .replacen(
                "[provider.nimbus]",
                "[settings]\nmass_delete_threshold = 0\n\n[provider.nimbus]",
                1,
            ),
    )
    .unwrap();
    let o = w.run(&["apply", "--refresh-only", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("deletes or forgets 1 objects"),
        "{}",
        text(&o)
    );
}

/// A saved plan runs only against the state, file and config it was made from.
#[tokio::test]
async fn a_saved_plan_must_fit_the_state_and_the_file() {
    let w = World::new(open_seed()).await;
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    assert!(w.run(&["apply", "--auto-approve"]).await.status.success());
    w.write(fast(), "");
    assert!(w.run(&["plan", "--out", "del.json"]).await.status.success());
    // The file changes after the plan: refused.
    w.write(fast(), &nimbus_user("a", &guid(1), nd::OU_SALES));
    let o = w.run(&["apply", "del.json"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("another roster file or provider config"),
        "{}",
        text(&o)
    );
    assert_eq!(w.nimbus_users(), vec![guid(1)]);
    // A plan whose delete names an id the state does not hold: refused (regression).
    w.write(fast(), "");
    let forged = std::fs::read_to_string(w.path("del.json"))
        .unwrap()
        .replace(&guid(1), &guid(2));
    std::fs::write(w.path("forged.json"), forged).unwrap();
    w.nimbus.update(|s| {
        let mut u = s.tenants[0]
            .users
            .iter()
            .find(|u| u.o365_id == guid(1))
            .unwrap()
            .clone();
        u.o365_id = guid(2);
        s.tenants[0].users.push(u);
    });
    let o = w.run(&["apply", "forged.json"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("does not match the state's records")
            && text(&o).contains("no record with that id"),
        "{}",
        text(&o)
    );
    assert_eq!(
        w.nimbus_users(),
        vec![guid(1), guid(2)],
        "nothing Roster does not manage is deleted"
    );
    let o = w.run(&["apply", "del.json"]).await;
    assert!(
        o.status.success(),
        "the genuine plan still applies: {}",
        text(&o)
    );
    assert_eq!(w.nimbus_users(), vec![guid(2)]);
}

/// A vendor asking for a longer wait than allowed fails that operation at once, saying so.
#[tokio::test]
async fn a_retry_after_beyond_the_cap_fails_fast() {
    let mut seed = NimbusSeed::demo();
    seed.rate_limit = RateLimit {
        operations: 1,
        window_ms: 600_000,
        mode: RateMode::Reject,
    };
    let w = World::new(seed).await;
    w.write(
        "rate_limit = { operations = 1000, per_seconds = 1 }",
        &[
            nimbus_user("a", &guid(1), nd::OU_SALES),
            nimbus_user("b", &guid(2), nd::OU_SALES),
        ]
        .concat(),
    );
    std::fs::write(
        w.path("roster.toml"),
        format!(
            "[settings]\nmax_retry_wait_secs = 5\nconcurrency = 1\n{}",
            std::fs::read_to_string(w.path("roster.toml")).unwrap()
        ),
    )
    .unwrap();
    let started = Instant::now();
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("the vendor asked to wait") && text(&o).contains("max_retry_wait_secs"),
        "{}",
        text(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "no long wait: {:?}",
        started.elapsed()
    );
    assert_eq!(w.nimbus_users().len(), 1);
}
