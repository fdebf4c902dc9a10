//! Workflow definitions: validation reports file, line and item; cases pin their version.

use crate::support::{TestApp, TestDb, catalog_from, complete_form, json_of, repo};
use accredo::domain::role::Role;
use accredo::engine::validate::{Problem, load};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

const GOOD: &str = "id: wf
version: 1
title: Тест
form_schema: f.json
initial: draft
states:
  - name: draft
    label: Черновик
  - name: done
    label: Готово
    final: true
transitions:
  - name: finish
    label: Завершить
    from: [draft]
    to: done
    roles: [specialist]
";

fn problems(yaml: &str) -> Vec<Problem> {
    match load("wf.yaml", yaml) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    }
}

fn only(yaml: &str) -> Problem {
    let p = problems(yaml);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.into_iter().next().expect("one problem")
}

#[test]
fn good_definition_loads() {
    assert!(problems(GOOD).is_empty());
}

#[test]
fn unknown_state_is_reported_with_line() {
    let all = problems(&GOOD.replace("to: done", "to: dne"));
    // The misspelt target also leaves `done` unreachable and `draft` without a way out.
    let p = all
        .iter()
        .find(|p| p.code == "unknown_state")
        .expect("unknown_state")
        .clone();
    assert_eq!((p.line, p.item.as_str()), (Some(16), "transition finish"));
    assert!(p.message.contains("`dne`"));
    assert_eq!(p.file, "wf.yaml");
    assert!(
        p.to_string().starts_with("wf.yaml:16: transition finish:"),
        "{p}"
    );
}

#[test]
fn unreachable_and_dead_end_states_are_reported() {
    let yaml = GOOD.replace(
        "  - name: done\n",
        "  - name: limbo\n    label: Нигде\n  - name: done\n",
    );
    let p = problems(&yaml);
    let codes: Vec<_> = p
        .iter()
        .map(|p| (p.code, p.item.as_str(), p.line))
        .collect();
    assert!(
        codes.contains(&("unreachable_state", "state limbo", Some(9))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("no_path_to_final", "state limbo", Some(9))),
        "{codes:?}"
    );
    assert_eq!(p.len(), 2);
}

#[test]
fn dead_end_reachable_state_is_reported() {
    let yaml = GOOD.replace("to: done", "to: stuck").replace(
        "  - name: done\n",
        "  - name: stuck\n    label: Тупик\n  - name: done\n",
    );
    let p = problems(&yaml);
    let codes: Vec<_> = p.iter().map(|p| (p.code, p.item.as_str())).collect();
    assert!(
        codes.contains(&("no_path_to_final", "state stuck")),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("unreachable_state", "state done")),
        "{codes:?}"
    );
}

#[test]
fn duplicates_are_reported() {
    let p = only(&GOOD.replace(
        "  - name: done\n    label: Готово\n",
        "  - name: draft\n    label: Снова\n  - name: done\n    label: Готово\n",
    ));
    assert_eq!((p.code, p.line), ("duplicate_state", Some(9)));
    let twice = format!(
        "{GOOD}  - name: finish\n    label: Ещё\n    from: [draft]\n    to: done\n    roles: [specialist]\n"
    );
    let p = only(&twice);
    assert_eq!(
        (p.code, p.item.as_str(), p.line),
        ("duplicate_transition", "transition finish", Some(18))
    );
}

#[test]
fn unknown_effects_and_effects_without_their_prerequisites_are_reported() {
    let p = only(&GOOD.replace(
        "roles: [specialist]",
        "roles: [specialist]\n    effects: [send_flowers]",
    ));
    assert_eq!((p.code, p.line), ("unknown_effect", Some(18)));
    let p = only(&GOOD.replace(
        "roles: [specialist]",
        "roles: [specialist]\n    effects: [issue_receipt]",
    ));
    assert_eq!(p.code, "effect_prerequisite_missing", "{p:?}");
    let p = only(&GOOD.replace(
        "roles: [specialist]",
        "roles: [specialist]\n    effects: [issue_receipt, assign_number]\n    guards: [signature_valid]",
    ));
    assert_eq!(
        p.code, "effect_prerequisite_missing",
        "the number comes first: {p:?}"
    );
    assert!(
        problems(&GOOD.replace(
            "roles: [specialist]",
            "roles: [specialist]\n    effects: [assign_number, issue_receipt]\n    guards: [signature_valid]",
        ))
        .is_empty()
    );
}

#[test]
fn unknown_guard_and_role_are_reported() {
    let p = only(&GOOD.replace(
        "roles: [specialist]",
        "roles: [specialist]\n    guards: [crystal_ball]",
    ));
    assert_eq!((p.code, p.line), ("unknown_guard", Some(18)));
    let p = only(&GOOD.replace("roles: [specialist]", "roles: [janitor]"));
    assert_eq!(
        (p.code, p.line, p.item.as_str()),
        ("unknown_role", Some(17), "transition finish")
    );
}

#[test]
fn bad_yaml_is_reported_with_line() {
    let p = only("id: wf\nversion: [1\ntitle: x\n");
    assert_eq!(p.code, "bad_yaml");
    assert!(p.line.is_some(), "{p}");
    let p = only(&GOOD.replace("version: 1", "version: one"));
    assert_eq!((p.code, p.line), ("bad_yaml", Some(2)));
    let p = only(&format!("{GOOD}colour: blue\n"));
    assert_eq!(p.code, "bad_yaml");
    let p = only(&GOOD.replace("title: Тест", "title: Тест\ntitle: Снова"));
    assert_eq!((p.code, p.line), ("bad_yaml", Some(4)));
}

#[test]
fn shipped_workflows_are_valid() {
    let catalog = catalog_from(&repo().join("workflows"));
    let ids: Vec<_> = catalog.list().map(|w| w.definition.id.clone()).collect();
    assert_eq!(
        ids,
        [
            "periodic_accreditation",
            "primary_accreditation",
            "support_request"
        ]
    );
    let def = &catalog
        .current("periodic_accreditation")
        .expect("periodic")
        .definition;
    let labels: Vec<_> = def.states.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Черновик",
            "В обработке",
            "На рассмотрении",
            "На доработке",
            "Одобрено",
            "Отклонено",
            "Отозвано"
        ]
    );
}

#[test]
fn a_number_prefix_is_capital_latin() {
    for bad in ["accredo", "1ACC", "АККР", "ACC-1", "ABCDEFGHIJKLMNOPQ"] {
        let p = only(&GOOD.replace(
            "initial: draft\n",
            &format!("initial: draft\nnumber_prefix: {bad}\n"),
        ));
        assert_eq!((p.code, p.line), ("bad_number_prefix", Some(6)), "{bad}");
    }
    let good = GOOD.replace(
        "initial: draft\n",
        "initial: draft\nnumber_prefix: ACCREDO\n",
    );
    let def = load("wf.yaml", &good).expect("good");
    assert_eq!(def.number_prefix.as_deref(), Some("ACCREDO"));
}

#[test]
fn audiences_escalations_and_author_replies_are_names_the_engine_knows() {
    let p = only(&GOOD.replace(
        "initial: draft\n",
        "initial: draft\nvisible_to: [author, everyone]\n",
    ));
    assert_eq!((p.code, p.line), ("unknown_audience", Some(6)), "{p:?}");
    let p = only(&GOOD.replace(
        "    label: Черновик\n",
        "    label: Черновик\n    on_breach: call_the_minister\n",
    ));
    assert_eq!(p.code, "unknown_escalation", "{p:?}");
    // The author's reply runs a transition from that state open to the author.
    let p = only(&GOOD.replace(
        "    label: Черновик\n",
        "    label: Черновик\n    on_author_reply: finish\n",
    ));
    assert_eq!(p.code, "bad_author_reply", "{p:?}");
    let good = GOOD
        .replace(
            "    label: Черновик\n",
            "    label: Черновик\n    on_author_reply: finish\n",
        )
        .replace("roles: [specialist]", "roles: [author]")
        .replace(
            "initial: draft\n",
            "initial: draft\nvisible_to: [author, assignee]\n",
        );
    let def = load("wf.yaml", &good).expect("good");
    assert_eq!(
        def.state("draft")
            .and_then(|s| s.on_author_reply.as_deref()),
        Some("finish")
    );
    assert_eq!(
        def.state("draft").map(|s| s.on_breach.as_str()),
        Some("notify_secretaries")
    );
    use accredo::engine::visibility::Audience;
    assert_eq!(def.visible_to, [Audience::Author, Audience::Assignee]);
    // Without `visible_to`: the author and the commission.
    let def = load("wf.yaml", GOOD).expect("good");
    assert_eq!(def.visible_to, [Audience::Author, Audience::Commission]);
}

#[test]
fn a_state_has_one_deadline_unit() {
    let yaml = GOOD.replace(
        "    label: Черновик\n",
        "    label: Черновик\n    sla_working_days: 2\n    sla_working_hours: 4\n",
    );
    assert_eq!(only(&yaml).code, "two_deadlines");
    let yaml = GOOD.replace(
        "    label: Черновик\n",
        "    label: Черновик\n    sla_working_hours: 4\n",
    );
    let def = load("wf.yaml", &yaml).expect("hours alone");
    assert_eq!(
        def.state("draft").and_then(|s| s.sla_working_hours),
        Some(4)
    );
}

#[test]
fn creators_must_be_roles_of_people() {
    for role in ["janitor", "system", "author"] {
        let p = only(&GOOD.replace(
            "initial: draft\n",
            &format!("initial: draft\ncreators: [{role}]\n"),
        ));
        assert_eq!(
            (p.code, p.line, p.item.as_str()),
            ("unknown_role", Some(6), "creators"),
            "{role}"
        );
    }
    let def = load("wf.yaml", GOOD).expect("good");
    assert_eq!(def.creators, [Role::Specialist], "the default");
}

/// Who may open a case is the workflow's data: here primary accreditation declared open to
/// the help desk and not to the specialist, each refused with its own code and message, and
/// withdrawn by its author (a relation, whatever roles the author holds).
#[tokio::test]
async fn who_may_open_a_case_is_declared_by_the_workflow() {
    let dir = tempfile::tempdir().expect("dir");
    for name in ["periodic_accreditation.yaml", "primary_accreditation.yaml"] {
        let yaml = std::fs::read_to_string(repo().join("workflows").join(name)).expect("yaml");
        let yaml = if name.starts_with("primary") {
            yaml.replacen(
                "\ninitial: ",
                "\ncreators: [support]\nnumber_prefix: ACCREDO\ninitial: ",
                1,
            )
            .replacen(
                "    to: withdrawn\n    roles: [specialist]\n",
                "    to: withdrawn\n    roles: [author]\n",
                1,
            )
        } else {
            yaml
        };
        std::fs::write(dir.path().join(name), yaml).expect("write");
    }
    let app = TestApp::spawn_on(Arc::new(TestDb::new()), dir.path()).await;
    let agent = app.user("agent", &[Role::Support]);
    let me = app.specialist("creator-specialist");
    let create = |token: String, workflow: &'static str| {
        let app = &app;
        async move {
            let res = app
                .call(
                    Method::POST,
                    "/api/v1/cases",
                    Some(&token),
                    &[],
                    Some(json!({"workflow": workflow})),
                )
                .await;
            (res.status().as_u16(), json_of(res).await)
        }
    };
    // A workflow that numbers at creation: the number is shown at once, consecutive, on the
    // case and in its history.
    let (status, body) = create(agent.clone(), "primary_accreditation").await;
    assert_eq!(
        (status, body["number"].clone()),
        (201, json!("ACCREDO-1")),
        "{body}"
    );
    let (status, again) = create(agent.clone(), "primary_accreditation").await;
    assert_eq!((status, again["number"].clone()), (201, json!("ACCREDO-2")));
    let id = body["id"].as_str().expect("id");
    let case = json_of(app.get(&format!("/api/v1/cases/{id}"), &agent).await).await;
    assert_eq!(case["number"], "ACCREDO-1");
    let history = json_of(
        app.get(&format!("/api/v1/cases/{id}/history"), &agent)
            .await,
    )
    .await;
    assert_eq!(history[0]["number"], "ACCREDO-1", "{history}");
    // Its author withdraws it though not a specialist; another agent does not even see it.
    let other = app.user("other-agent", &[Role::Support]);
    let res = app.transition(&other, id, "withdraw", 1, json!({})).await;
    assert_eq!(res.status(), 404);
    let res = app.transition(&agent, id, "withdraw", 1, json!({})).await;
    assert_eq!(res.status(), 200, "{}", json_of(res).await);
    let (status, body) = create(me.clone(), "primary_accreditation").await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("creator_role_required"))
    );
    let message = body["message"].as_str().expect("message");
    assert!(message.contains("сотрудник поддержки"), "{message}");
    // The workflow that kept the default: the specialist, and the old code for others.
    let (status, body) = create(me, "periodic_accreditation").await;
    assert_eq!((status, body["number"].clone()), (201, Value::Null));
    let (status, body) = create(agent, "periodic_accreditation").await;
    assert_eq!(
        (status, body["code"].clone()),
        (403, json!("not_specialist"))
    );
}

#[tokio::test]
async fn cases_keep_the_definition_version_they_started_with() {
    let db = Arc::new(TestDb::new());
    let app = TestApp::spawn_on(db.clone(), &repo().join("workflows")).await;
    let me = app.specialist("pin-specialist");
    let (old_id, _) = app.create_case(&me, "periodic_accreditation").await;
    let old = json_of(app.get(&format!("/api/v1/cases/{old_id}"), &me).await).await;

    // A new version of the workflow: submitting now needs nothing, and states are relabelled.
    let dir = tempfile::tempdir().expect("dir");
    let original = std::fs::read_to_string(repo().join("workflows/periodic_accreditation.yaml"))
        .expect("yaml");
    let edited = original
        .replace("version: 5", "version: 6")
        .replace(
            "    effects: [assign_number, issue_receipt, start_procedure_timer, file_case]\n    guards: [form_valid, registry_match, documents_complete, signature_valid]\n  - name: start_review",
            "  - name: start_review",
        )
        .replace("label: В обработке", "label: Принято в обработку");
    std::fs::write(dir.path().join("periodic_accreditation.yaml"), edited).expect("write");
    std::fs::copy(
        repo().join("workflows/primary_accreditation.yaml"),
        dir.path().join("primary_accreditation.yaml"),
    )
    .expect("copy");
    let app2 = TestApp::spawn_on(db, dir.path()).await;
    let me2 = app2.user("pin-specialist", &[Role::Specialist]);

    let still_old = json_of(app2.get(&format!("/api/v1/cases/{old_id}"), &me2).await).await;
    assert_eq!(still_old["workflow_version"], 5);
    assert_eq!(still_old["definition_hash"], old["definition_hash"]);
    // The old version's guard still applies to the old case: an empty form cannot be submitted.
    let res = app2.transition(&me2, &old_id, "submit", 1, json!({})).await;
    assert_eq!(json_of(res).await["code"], "guards_failed");

    let (new_id, v) = app2.create_case(&me2, "periodic_accreditation").await;
    let new = json_of(app2.get(&format!("/api/v1/cases/{new_id}"), &me2).await).await;
    assert_eq!(new["workflow_version"], 6);
    assert_ne!(new["definition_hash"], old["definition_hash"]);
    let res = app2.transition(&me2, &new_id, "submit", v, json!({})).await;
    let body = json_of(res).await;
    assert_eq!(body["state_label"], "Принято в обработку", "{body}");

    // And the old case, completed, moves under its own labels.
    let res = app2.patch_form(&me2, &old_id, 1, complete_form()).await;
    assert_eq!(res.status(), 200);
    let v = app2.attach_required(&me2, &old_id).await;
    let signed = app2.signed(&me2, &old_id).await;
    let res = app2
        .call(
            Method::POST,
            &format!("/api/v1/cases/{old_id}/transitions/submit"),
            Some(&me2),
            &[("If-Match", format!("\"{v}\""))],
            Some(signed),
        )
        .await;
    assert_eq!(json_of(res).await["state_label"], "В обработке");
}

#[test]
fn signatures_are_refused_until_they_are_supported() {
    let p = only(&GOOD.replace(
        "roles: [specialist]",
        "roles: [specialist]\n    requires_signature: true",
    ));
    assert_eq!(
        (p.code, p.item.as_str()),
        ("unsupported_feature", "transition finish")
    );
}

/// The seeds' document set for periodic accreditation (`../shared/seeds`, «Особенности
/// периодической аккредитации»): diploma, certificates of advanced training, the absence of
/// disciplinary sanctions and a valid insurance policy, with the cabinet's own required papers.
#[test]
fn periodic_accreditation_requires_the_seeds_document_set() {
    let catalog = crate::support::catalog_from(&crate::support::repo().join("workflows"));
    let workflow = catalog.current("periodic_accreditation").expect("workflow");
    let required: Vec<&str> = workflow
        .definition
        .document_types
        .iter()
        .filter(|t| t.required)
        .map(|t| t.code.as_str())
        .collect();
    assert_eq!(
        required,
        [
            "identity_document",
            "diploma",
            "accreditation_certificate",
            "professional_activity_report",
            "continuing_education_certificate",
            "employment_record",
            "disciplinary_record",
            "insurance_policy",
            "personal_data_consent",
        ]
    );
}

/// A workflow with a waiting state whose deadline runs the system transition `lapse`.
const TIMED: &str = "id: wf
version: 1
title: Тест
form_schema: f.json
initial: draft
states:
  - name: draft
    label: Черновик
  - name: waiting
    label: Ожидание
    sla_working_days: 5
    on_enter: [start_timer]
    on_exit: [cancel_timers]
    on_deadline:
      transition: lapse
      reason: срок истёк
  - name: done
    label: Готово
    final: true
    on_enter: [cancel_timers]
transitions:
  - name: wait
    label: Ждать
    from: [draft]
    to: waiting
    roles: [specialist]
  - name: finish
    label: Завершить
    from: [waiting]
    to: done
    roles: [specialist]
  - name: lapse
    label: Истекло
    from: [waiting]
    to: done
    roles: [system]
";

#[test]
fn timers_are_checked_where_they_are_declared() {
    assert!(problems(TIMED).is_empty(), "{:#?}", problems(TIMED));
    // A deadline transition the timer cannot run: not open to the system role.
    let p = only(&TIMED.replace("    roles: [system]", "    roles: [reviewer]"));
    assert_eq!(
        (p.code, p.line),
        ("deadline_transition_invalid", Some(15)),
        "{p:?}"
    );
    // ... or not from this state.
    let p = only(&TIMED.replace("transition: lapse", "transition: wait"));
    assert_eq!(p.code, "deadline_transition_invalid", "{p:?}");
    // A state that would leave its timer running.
    let p = problems(&TIMED.replace("    on_exit: [cancel_timers]\n", ""));
    let codes: Vec<&str> = p.iter().map(|p| p.code).collect();
    assert_eq!(
        codes,
        ["timer_not_cancelled", "deadline_transition_invalid"],
        "{p:?}"
    );
    // ... also without a deadline transition (an escalating timer).
    let escalating = TIMED.replace(
        "    on_deadline:\n      transition: lapse\n      reason: срок истёк\n",
        "",
    );
    assert!(
        problems(&escalating).is_empty(),
        "{:?}",
        problems(&escalating)
    );
    let p = only(&escalating.replace("    on_exit: [cancel_timers]\n", ""));
    assert_eq!(p.code, "timer_not_cancelled", "{p:?}");
    // A deadline transition without its reason.
    let p = only(&TIMED.replace("reason: срок истёк", "reason: \"  \""));
    assert_eq!(p.code, "deadline_reason_missing", "{p:?}");
    // The procedure's timer without the procedure's norm.
    let p = only(&TIMED.replace(
        "to: waiting\n    roles: [specialist]",
        "to: waiting\n    roles: [specialist]\n    effects: [start_procedure_timer]",
    ));
    assert_eq!(p.code, "timer_without_deadline", "{p:?}");
    // A timer without a deadline.
    let p = only(&TIMED.replace("    sla_working_days: 5\n", ""));
    assert_eq!(p.code, "timer_without_deadline", "{p:?}");
    // ... unless every transition into the state brings one.
    assert!(
        problems(&TIMED.replace("    sla_working_days: 5\n", "").replace(
            "to: waiting\n    roles: [specialist]",
            "to: waiting\n    roles: [specialist]\n    sla_working_days: 3"
        ))
        .is_empty()
    );
    // Effects in a place they cannot run.
    let p = only(&TIMED.replace(
        "on_exit: [cancel_timers]",
        "on_exit: [cancel_timers, assign_number]",
    ));
    assert_eq!((p.code, p.line), ("effect_misplaced", Some(13)), "{p:?}");
    let p = only(&TIMED.replace(
        "to: waiting\n    roles: [specialist]",
        "to: waiting\n    roles: [specialist]\n    effects: [start_timer]",
    ));
    assert_eq!(p.code, "effect_misplaced", "{p:?}");
    let p = only(&TIMED.replace(
        "on_enter: [start_timer]",
        "on_enter: [start_timer, ring_bell]",
    ));
    assert_eq!(p.code, "unknown_effect", "{p:?}");
}

/// [`GOOD`] with a `priority` attribute and a draft whose norm depends on it.
fn classed(attribute: &str, sla_by: &str) -> String {
    GOOD.replace(
        "initial: draft\n",
        &format!("initial: draft\nattributes:\n{attribute}"),
    )
    .replace(
        "    label: Черновик\n",
        &format!(
            "    label: Черновик\n    sla_working_hours: 1\n{sla_by}    on_enter: [start_timer]\n    on_exit: [cancel_timers]\n"
        ),
    )
}

const PRIORITY: &str = "  - name: priority\n    label: Приоритет\n    values: {normal: Обычный, urgent: Срочный}\n    default: normal\n    set_by: [support]\n";

#[test]
fn a_norm_by_an_attribute_names_a_declared_attribute_its_values_and_one_unit() {
    let by = "    sla_by:\n      attribute: priority\n      norms:\n        urgent: {working_minutes: 15}\n    warn_before: {working_minutes: 5}\n";
    let def = load("wf.yaml", &classed(PRIORITY, by)).expect("good");
    let values = |p: &str| {
        [("priority".to_owned(), p.to_owned())]
            .into_iter()
            .collect()
    };
    assert_eq!(
        def.norm_of("draft", &values("urgent")),
        Some(accredo::engine::definition::Sla::WorkingMinutes(15))
    );
    assert_eq!(
        def.norm_of("draft", &values("normal")),
        Some(accredo::engine::definition::Sla::WorkingMinutes(60))
    );
    assert_eq!(
        def.state("draft").and_then(|s| s.warn_before_minutes),
        Some(5)
    );

    let p = only(&classed(
        PRIORITY,
        &by.replace("attribute: priority", "attribute: colour"),
    ));
    assert_eq!(p.code, "unknown_attribute", "{p:?}");
    let p = only(&classed(
        PRIORITY,
        &by.replace("urgent: {working_minutes", "asap: {working_minutes"),
    ));
    assert_eq!(p.code, "bad_norm", "{p:?}");
    let p = only(&classed(
        PRIORITY,
        &by.replace(
            "{working_minutes: 15}",
            "{working_minutes: 15, working_days: 1}",
        ),
    ));
    assert_eq!(p.code, "bad_norm", "{p:?}");
    let p = only(&classed(
        PRIORITY,
        &by.replace("{working_minutes: 5}", "{working_days: 1}"),
    ));
    assert_eq!(p.code, "warning_without_timer", "{p:?}");
    let p = only(&classed(
        &PRIORITY.replace("default: normal", "default: low"),
        by,
    ));
    assert_eq!(p.code, "unknown_value", "{p:?}");
    let p = only(&classed(&PRIORITY.replace("[support]", "[janitor]"), by));
    assert_eq!(p.code, "unknown_role", "{p:?}");
    // A transition's notice is one the templates have.
    let p = only(&GOOD.replace(
        "    roles: [specialist]\n",
        "    roles: [specialist]\n    notice: fireworks\n",
    ));
    assert_eq!(p.code, "unknown_notice", "{p:?}");
    let good = GOOD.replace(
        "    roles: [specialist]\n",
        "    roles: [specialist]\n    notice: deadline_extended\n",
    );
    let def = load("wf.yaml", &good).expect("good");
    assert_eq!(
        def.transition("finish").and_then(|t| t.notice.as_deref()),
        Some("deadline_extended")
    );
}
