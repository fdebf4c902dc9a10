//! Diesel table definitions shared by both backends (the migrations keep them equal).

diesel::table! {
    users (id) {
        id -> Text,
        subject -> Text,
        display_name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Text,
        role -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        consent_pending -> Bool,
    }
}

diesel::table! {
    consents (user_id) {
        user_id -> Text,
        granted -> Bool,
        decided_at -> Timestamp,
    }
}

diesel::table! {
    workflow_definitions (hash) {
        hash -> Text,
        workflow_id -> Text,
        version -> Integer,
        yaml -> Text,
        form_schema -> Text,
        loaded_at -> Timestamp,
    }
}

diesel::table! {
    cases (id) {
        id -> Text,
        workflow_id -> Text,
        definition_hash -> Text,
        owner_id -> Text,
        state -> Text,
        form_data -> Text,
        version -> BigInt,
        audit_seq -> BigInt,
        audit_head -> Text,
        submitted_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        prefilled -> Text,
        step_started_at -> Nullable<Timestamp>,
        due_on -> Nullable<Date>,
        due_provisional -> Bool,
        breached_at -> Nullable<Timestamp>,
        procedure_due_on -> Nullable<Date>,
        procedure_due_provisional -> Bool,
        procedure_breached_at -> Nullable<Timestamp>,
        number -> Nullable<Text>,
        specialty -> Nullable<Text>,
        region -> Nullable<Text>,
        applicant_name -> Nullable<Text>,
        name_key -> Nullable<Text>,
        snils -> Nullable<Text>,
        assignee_id -> Nullable<Text>,
        step_transition -> Nullable<Text>,
        attributes -> Text,
    }
}

diesel::table! {
    case_state_counts (workflow_id, specialty, state, due_on, shard) {
        workflow_id -> Text,
        specialty -> Text,
        state -> Text,
        due_on -> Date,
        shard -> SmallInt,
        n -> BigInt,
    }
}

diesel::table! {
    case_steps (case_id, seq) {
        case_id -> Text,
        seq -> BigInt,
        workflow_id -> Text,
        specialty -> Nullable<Text>,
        state -> Text,
        started_by -> Nullable<Text>,
        started_at -> Timestamp,
        ended_at -> Timestamp,
        working_days -> BigInt,
        sla_working_days -> Nullable<Integer>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        recipient_id -> Text,
        case_id -> Nullable<Text>,
        event -> Text,
        channel -> Text,
        subject -> Text,
        body -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        read_at -> Nullable<Timestamp>,
        address -> Nullable<Text>,
        html -> Nullable<Text>,
    }
}

diesel::table! {
    notification_preferences (user_id, channel) {
        user_id -> Text,
        channel -> Text,
        enabled -> Bool,
        address -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    reminders (user_id, accreditation, offset_days) {
        user_id -> Text,
        accreditation -> Text,
        offset_days -> Integer,
        valid_until -> Date,
        case_id -> Nullable<Text>,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    timers (id) {
        id -> Text,
        case_id -> Text,
        scope -> Text,
        action -> Text,
        transition -> Nullable<Text>,
        reason -> Nullable<Text>,
        state -> Text,
        due_at -> Timestamp,
        status -> Text,
        created_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        fired_at -> Nullable<Timestamp>,
        lateness_ms -> Nullable<BigInt>,
        outcome -> Nullable<Text>,
        attempts -> Integer,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> Text,
        idem_key -> Text,
        request_hash -> Text,
        case_id -> Text,
        response -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        chain -> Text,
        seq -> BigInt,
        kind -> Text,
        actor_id -> Nullable<Text>,
        case_id -> Nullable<Text>,
        at -> Timestamp,
        payload -> Text,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_checkpoints (id) {
        id -> BigInt,
        first_event_id -> BigInt,
        last_event_id -> BigInt,
        event_count -> BigInt,
        merkle_root -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    calendar_overrides (day) {
        day -> Date,
        working -> Bool,
        reason -> Text,
        decided_at -> Timestamp,
    }
}

diesel::table! {
    login_attempts (state) {
        state -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        browser_hash -> Text,
        client -> Text,
    }
}

diesel::table! {
    registry_persons (register_id) {
        register_id -> Text,
        snils -> Text,
        last_name -> Text,
        first_name -> Text,
        middle_name -> Nullable<Text>,
        birth_date -> Date,
        inn -> Nullable<Text>,
        gender -> Nullable<Text>,
        employments -> Text,
        educations -> Text,
        accreditations -> Text,
        source_updated_at -> Nullable<Timestamp>,
        record_hash -> Text,
        removed_at -> Nullable<Timestamp>,
        last_seen_run -> BigInt,
        synced_at -> Timestamp,
    }
}

diesel::table! {
    registry_runs (id) {
        id -> BigInt,
        source -> Text,
        full_export -> Bool,
        status -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        read_count -> BigInt,
        inserted -> BigInt,
        updated -> BigInt,
        unchanged -> BigInt,
        removed -> BigInt,
        rejected -> BigInt,
        report -> Text,
        resume_offset -> Nullable<BigInt>,
    }
}

diesel::table! {
    registry_sync_seen (run_id, register_id) {
        run_id -> BigInt,
        register_id -> Text,
    }
}

diesel::table! {
    registry_rejections (run_id, line) {
        run_id -> BigInt,
        line -> BigInt,
        code -> Text,
        reason -> Text,
    }
}

diesel::table! {
    registry_lock (name) {
        name -> Text,
        run_id -> BigInt,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    person_profiles (user_id) {
        user_id -> Text,
        snils -> Nullable<Text>,
        last_name -> Nullable<Text>,
        first_name -> Nullable<Text>,
        middle_name -> Nullable<Text>,
        birth_date -> Nullable<Date>,
        inn -> Nullable<Text>,
        registry_result -> Text,
        registry_detail -> Text,
        checked_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    case_registry_checks (case_id) {
        case_id -> Text,
        result -> Text,
        detail -> Text,
        register_id -> Nullable<Text>,
        checked_at -> Timestamp,
    }
}

diesel::table! {
    documents (id) {
        id -> Text,
        case_id -> Text,
        doc_type -> Text,
        sha256 -> Text,
        size_bytes -> BigInt,
        content_type -> Text,
        file_name -> Text,
        status -> Text,
        inspection -> Text,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
        replaced_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    case_signatures (id) {
        id -> Text,
        case_id -> Text,
        case_version -> BigInt,
        transition -> Text,
        payload_sha256 -> Text,
        signature -> Binary,
        certificate -> Binary,
        certificate_sha256 -> Text,
        subject -> Text,
        issuer -> Text,
        serial -> Text,
        algorithm -> Text,
        signing_time -> Timestamp,
        verified_at -> Timestamp,
    }
}

diesel::table! {
    receipt_counters (year, region) {
        year -> Integer,
        region -> Text,
        last_value -> BigInt,
    }
}

diesel::table! {
    case_numbers (case_id) {
        case_id -> Text,
        number -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    receipts (case_id, seq) {
        case_id -> Text,
        seq -> Integer,
        number -> Text,
        signature_id -> Text,
        pdf -> Binary,
        xml -> Binary,
        created_at -> Timestamp,
    }
}

diesel::table! {
    subcommissions (code) {
        code -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    subcommission_specialties (subcommission, specialty) {
        subcommission -> Text,
        specialty -> Text,
    }
}

diesel::table! {
    subcommission_members (subcommission, user_id) {
        subcommission -> Text,
        user_id -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    case_decisions (id) {
        id -> Text,
        case_id -> Text,
        transition -> Text,
        decided_by -> Nullable<Text>,
        decided_at -> Timestamp,
        reasons -> Text,
        recommendations -> Nullable<Text>,
        fixes -> Text,
    }
}

diesel::table! {
    case_messages (id) {
        id -> Text,
        case_id -> Text,
        author_id -> Text,
        side -> Text,
        author_role -> Text,
        body -> Text,
        attachments -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    accreditation_records (case_id) {
        case_id -> Text,
        number -> Text,
        holder_id -> Text,
        kind -> Text,
        specialty_code -> Text,
        specialty_name -> Text,
        decided_at -> Timestamp,
        decision_date -> Date,
        valid_until -> Date,
        pdf -> Binary,
        xml -> Binary,
    }
}

diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(cases -> users (owner_id));
diesel::joinable!(timers -> cases (case_id));
diesel::table! {
    support_agents (user_id) {
        user_id -> Text,
        line -> SmallInt,
        lead -> Bool,
        added_at -> Timestamp,
    }
}

diesel::table! {
    support_requests (case_id) {
        case_id -> Text,
        line -> SmallInt,
        category -> Text,
        linked_case_id -> Nullable<Text>,
        repeat_of -> Nullable<Text>,
        reply_token -> Text,
        first_response_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(notifications -> users (recipient_id));
diesel::joinable!(subcommission_specialties -> subcommissions (subcommission));
diesel::joinable!(subcommission_members -> subcommissions (subcommission));
diesel::allow_tables_to_appear_in_same_query!(
    case_state_counts,
    case_steps,
    users,
    user_roles,
    sessions,
    workflow_definitions,
    cases,
    idempotency_keys,
    audit_events,
    audit_checkpoints,
    login_attempts,
    calendar_overrides,
    consents,
    registry_persons,
    registry_runs,
    registry_lock,
    registry_sync_seen,
    registry_rejections,
    person_profiles,
    case_registry_checks,
    documents,
    case_signatures,
    receipt_counters,
    case_numbers,
    receipts,
    timers,
    notifications,
    notification_preferences,
    reminders,
    subcommissions,
    subcommission_specialties,
    subcommission_members,
    case_decisions,
    case_messages,
    accreditation_records,
    support_agents,
    support_requests,
);
