//! Rows from a CSV, plans within the budget, bulk import.

use super::*;

/// A `[rows.agents]` source over agents.csv: the key column `alias`, the id from `o365_id`, the
/// OU chosen by `team` through a mapping table.
fn agents_rows() -> String {
    nd::agents_rows()
}

fn agents_csv(range: std::ops::Range<usize>) -> String {
    let mut csv = String::from("alias,o365_id,team\r\n");
    for i in range {
        csv.push_str(&format!(
            "agent{i:04},{},{}\r\n",
            guid(i),
            if i % 2 == 0 { "sales" } else { "\"support\"" }
        ));
    }
    csv
}

/// A CSV roster converges: plan, apply, "No changes"; an edited row plans exactly its change;
/// a bad row is refused naming the CSV file, line and column, and changes nothing.
#[tokio::test]
async fn a_csv_roster_converges_against_the_sim() {
    let w = World::new(open_seed()).await;
    std::fs::write(w.path("agents.csv"), agents_csv(1..41)).unwrap();
    w.write(fast(), &agents_rows());
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains("Plan: 40 to add, 0 to replace, 0 to destroy."),
        "{t}"
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.nimbus_users(), (1..41).map(guid).collect::<Vec<_>>());
    let ou = w.nimbus.update(|s| {
        s.tenants[0]
            .users
            .iter()
            .find(|u| u.o365_id == guid(3))
            .map(|u| u.organization_unit_id.clone())
    });
    assert_eq!(
        ou.as_deref(),
        Some(nd::OU_SUPPORT),
        "the team column chose the OU through the map"
    );
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("No changes."), "{}", text(&o));
    assert!(w.state()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["address"] == "nimbus_user.agent0007"));

    // A row removed is one delete; a team changed is one (guarded) replacement.
    let edited = agents_csv(1..40).replace(
        &format!("agent0002,{},sales", guid(2)),
        &format!("agent0002,{},support", guid(2)),
    );
    std::fs::write(w.path("agents.csv"), edited).unwrap();
    let t = text(&w.run(&["plan"]).await);
    assert!(
        t.contains("Plan: 0 to add, 1 to replace, 1 to destroy."),
        "{t}"
    );
    assert!(
        t.contains("# nimbus_user.agent0040 will be deleted")
            && t.contains("# nimbus_user.agent0002 must be replaced"),
        "{t}"
    );

    // A bad row: an unmapped team on line 5 (the header is line 1).
    let bad = agents_csv(1..41).replace(
        &format!("agent0004,{},sales", guid(4)),
        &format!("agent0004,{},marketing", guid(4)),
    );
    std::fs::write(w.path("agents.csv"), bad).unwrap();
    let before = std::fs::read_to_string(w.path("roster.state.json")).unwrap();
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("agents.csv:5: column team:") && text(&o).contains("marketing"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(w.path("roster.state.json")).unwrap(),
        before,
        "a refused roster changes nothing"
    );

    // One id declared by a block and by a row (line 6: agent0005), in another case: refused at the row.
    std::fs::write(w.path("agents.csv"), agents_csv(1..41)).unwrap();
    w.write(
        fast(),
        &format!(
            "{}\n{}",
            nimbus_user("extra", &guid(5).to_uppercase(), nd::OU_SALES),
            agents_rows()
        ),
    );
    let o = w.run(&["validate"]).await;
    assert!(!o.status.success());
    assert!(
        text(&o).contains("agents.csv:6: nimbus_user.agent0005.o365_id (column o365_id):")
            && text(&o).contains("is declared twice: here and as nimbus_user.extra at"),
        "{}",
        text(&o)
    );
}

/// Rows keyed by e-mail address: each is `nimbus_user."…"`, found again by `state show`,
/// `--target` and bulk import whether the address is typed quoted or as is.
#[tokio::test]
async fn e_mail_keys_are_addresses_quoted_or_typed_as_is() {
    let w = World::new(open_seed()).await;
    std::fs::write(
        w.path("agents.csv"),
        format!(
            "alias,o365_id,team\nada.b@example.com,{},sales\nbob@example.com,{},support\n",
            guid(1),
            guid(2)
        ),
    )
    .unwrap();
    w.write(fast(), &agents_rows());
    let t = text(
        &w.run(&["plan", "--target", "nimbus_user.bob@example.com"])
            .await,
    );
    assert!(
        t.contains("Plan: 1 to add, 0 to replace, 0 to destroy.")
            && t.contains("nimbus_user.\"bob@example.com\" will be created"),
        "{t}"
    );
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let addresses: Vec<String> = w.state()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        addresses,
        [
            "nimbus_user.\"ada.b@example.com\"",
            "nimbus_user.\"bob@example.com\""
        ]
    );
    for typed in [
        "nimbus_user.ada.b@example.com",
        "nimbus_user.\"ada.b@example.com\"",
    ] {
        let o = w.run(&["state", "show", typed]).await;
        assert!(
            o.status.success() && text(&o).contains(&guid(1)),
            "{typed}: {}",
            text(&o)
        );
    }
    let o = w.run(&["state", "show", "nimbus_user.\"ada"]).await;
    assert!(
        !o.status.success() && text(&o).contains("the quoted name does not end"),
        "{}",
        text(&o)
    );

    // Bulk import into the same rows keeps the e-mail key, and the next plan has nothing to do.
    let template = w.nimbus.update(|s| {
        s.tenants[0]
            .users
            .iter()
            .find(|u| u.o365_id == nd::TEMPLATE_USER)
            .cloned()
            .unwrap()
    });
    w.nimbus.update(|s| {
        s.tenants[0].users.push(nimbus::User {
            o365_id: guid(3),
            organization_unit_id: nd::OU_SALES.into(),
            ..template.clone()
        })
    });
    std::fs::write(
        w.path("ids.csv"),
        format!("o365_id,alias\n{},cy.d@example.com\n", guid(3)),
    )
    .unwrap();
    let o = w
        .run(&["import", "--csv", "ids.csv", "--rows", "agents"])
        .await;
    assert!(
        o.status.success() && text(&o).contains("as nimbus_user.\"cy.d@example.com\""),
        "{}",
        text(&o)
    );
    assert!(std::fs::read_to_string(w.path("agents.csv"))
        .unwrap()
        .contains(&format!("cy.d@example.com,{},sales", guid(3))));
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The vendor operations each way of planning costs, counted by the sim itself: a first apply
/// is creates and nothing else; `--refresh=false` reads nothing; `--refresh-stale` reads only
/// the stale records; a full plan reads every one. Plans say the cost before reading.
#[tokio::test]
async fn plans_cost_only_the_reads_they_need_by_the_sims_counters() {
    let mut seed = open_seed();
    seed.rate_limit = RateLimit {
        operations: 60,
        window_ms: 600,
        mode: RateMode::Reject,
    };
    let w = World::new(seed).await;
    let n = 120;
    std::fs::write(w.path("agents.csv"), agents_csv(1..n + 1)).unwrap();
    w.write(
        "rate_limit = { operations = 60, per_seconds = 0.6 }",
        &agents_rows(),
    );
    let routes = |w: &World| w.nimbus.stats().by_route;
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let first = routes(&w);
    assert_eq!(
        first.into_iter().collect::<Vec<_>>(),
        vec![("create".to_string(), n as u64)],
        "a first apply sends the creates and nothing else"
    );
    assert_eq!(w.nimbus.stats().rate_limited, 0);

    let ops = nimbus_ops(&w);
    let o = w
        .run(&["plan", "--refresh=false", "--detailed-exitcode"])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("planned from the state alone"),
        "{}",
        text(&o)
    );
    assert_eq!(nimbus_ops(&w), ops, "--refresh=false reads nothing");

    // Every record was learnt from its create just now: nothing is stale.
    let o = w
        .run(&["plan", "--refresh-stale", "1h", "--detailed-exitcode"])
        .await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        nimbus_ops(&w),
        ops,
        "nothing is stale an instant after the apply"
    );

    // Ten records last read two hours ago: a partial refresh reads exactly those.
    let mut state = w.state();
    let old = "2000-01-01T00:00:00Z";
    for r in state["resources"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .take(10)
    {
        r["read_at"] = serde_json::json!(old);
    }
    std::fs::write(
        w.path("roster.state.json"),
        serde_json::to_string_pretty(&state).unwrap(),
    )
    .unwrap();
    let o = w.run(&["plan", "--refresh-stale", "1h"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Reading 10 object(s): nimbus 10 at 60 per 0.6s"),
        "the cost is said first: {}",
        text(&o)
    );
    assert_eq!(nimbus_ops(&w) - ops, 10, "only the stale records are read");

    // A full plan reads all; its apply records the reads, so the next partial refresh reads none.
    let ops = nimbus_ops(&w);
    let o = w.run(&["apply", "--auto-approve"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("Reading {n} object(s)"))
            && text(&o).contains(&format!("Read {n}/{n}")),
        "{}",
        text(&o)
    );
    assert_eq!(nimbus_ops(&w) - ops, n as u64);
    assert!(
        w.state()["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["read_at"] != old),
        "apply recorded when each was read"
    );
    let ops = nimbus_ops(&w);
    assert!(w
        .run(&["plan", "--refresh-stale", "1h"])
        .await
        .status
        .success());
    assert_eq!(nimbus_ops(&w), ops);
    // A saved plan is applied without reading again.
    assert!(w
        .run(&["plan", "--refresh=false", "--out", "p.json"])
        .await
        .status
        .success());
    let o = w.run(&["apply", "p.json", "--refresh=false"]).await;
    assert!(
        !o.status.success() && text(&o).contains("without reading again"),
        "{}",
        text(&o)
    );
    assert_eq!(
        w.nimbus.stats().rate_limited,
        0,
        "every read was paced under the vendor's limit"
    );
}

/// Bulk import: the ids of a CSV are read (paced); those that exist are recorded and get rows
/// (or blocks) that plan as "No changes"; those that do not are listed, not recorded.
#[tokio::test]
async fn bulk_import_writes_declarations_that_plan_no_changes() {
    let w = World::new(open_seed()).await;
    let template = w.nimbus.update(|s| {
        s.tenants[0]
            .users
            .iter()
            .find(|u| u.o365_id == nd::TEMPLATE_USER)
            .cloned()
            .unwrap()
    });
    w.nimbus.update(|s| {
        for i in 1..=6 {
            let ou = if i % 2 == 0 {
                nd::OU_SALES
            } else {
                nd::OU_SUPPORT
            };
            s.tenants[0].users.push(nimbus::User {
                o365_id: guid(i),
                organization_unit_id: ou.into(),
                ..template.clone()
            });
        }
    });
    // Rows: agents.csv starts with its header only.
    std::fs::write(w.path("agents.csv"), "alias,o365_id,team\n").unwrap();
    w.write(fast(), &agents_rows());
    let missing = guid(99);
    std::fs::write(
        w.path("ids.csv"),
        format!(
            "o365_id,alias\n{},ada\n{},\n{},\n{missing},nobody\n",
            guid(1),
            guid(2).to_uppercase(),
            guid(3)
        ),
    )
    .unwrap();
    let o = w
        .run(&["import", "--csv", "ids.csv", "--rows", "agents"])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("3 imported, 0 already managed, 1 not found, 0 not imported."),
        "{t}"
    );
    assert!(
        t.contains(&format!("{missing} (ids.csv:5)")),
        "the missing id is listed: {t}"
    );
    let rows = std::fs::read_to_string(w.path("agents.csv")).unwrap();
    assert!(rows.contains(&format!("ada,{},support", guid(1))), "{rows}");
    assert!(!rows.contains(&missing), "{rows}");
    assert_eq!(w.state()["resources"].as_array().unwrap().len(), 3);
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("No changes."), "{}", text(&o));

    // Again with more ids: the managed ones are said so; blocks this time.
    std::fs::write(
        w.path("more.csv"),
        format!("id\n{}\n{}\n{}\n", guid(3), guid(4), guid(5)),
    )
    .unwrap();
    let o = w.run(&["import", "nimbus_user", "--csv", "more.csv"]).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2 imported, 1 already managed, 0 not found"),
        "{}",
        text(&o)
    );
    let roster = std::fs::read_to_string(w.path("roster.toml")).unwrap();
    assert!(
        roster.contains(&format!(
            "[resource.nimbus_user.{}]\no365_id = \"{}\"\norganization_unit_id = \"{}\"",
            guid(4),
            guid(4),
            nd::OU_SALES
        )),
        "{roster}"
    );
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Symbee cannot read a user's names back: the input gives them (rows in the source format);
    // a row without them is reported, not recorded.
    std::fs::write(w.path("symbee.csv"), format!("login_user_id,first_name,last_name,user_template_name\nvvenus@abc-gadgets.com,Vera,Venus,{}\n", sd::TEMPLATE)).unwrap();
    let o = w
        .run(&[
            "import",
            "symbee_user",
            "--csv",
            "symbee.csv",
            "--name-column",
            "first_name",
        ])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Imported symbee_user vvenus@abc-gadgets.com as symbee_user.Vera."),
        "{}",
        text(&o)
    );
    let o = w.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(w.path("nameless.csv"), "id\nmmars@abc-gadgets.com\n").unwrap();
    w.symbee.update(|s| {
        let env = &mut s.companies[0].environments[0];
        let mut mike = env.users[0].clone();
        mike.login_user_id = "mmars@abc-gadgets.com".into();
        env.users.push(mike);
    });
    let o = w
        .run(&["import", "symbee_user", "--csv", "nameless.csv"])
        .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(
            "mmars@abc-gadgets.com: the vendor does not report `first_name`, `last_name`"
        ),
        "{}",
        text(&o)
    );

    // A duplicate id in the input is refused before anything is read or written.
    std::fs::write(
        w.path("dup.csv"),
        format!("id\n{}\n{}\n", guid(6), guid(6).to_uppercase()),
    )
    .unwrap();
    let ops = nimbus_ops(&w);
    let o = w.run(&["import", "nimbus_user", "--csv", "dup.csv"]).await;
    assert!(
        !o.status.success() && text(&o).contains("dup.csv:3") && text(&o).contains("is also at"),
        "{}",
        text(&o)
    );
    assert_eq!(nimbus_ops(&w), ops);
}
