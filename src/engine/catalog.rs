//! The set of workflow definitions: the current version of each workflow (from files) and
//! every pinned version a case may refer to (by content hash).

use super::definition::{Definition, content_hash};
use super::form::FormSchema;
use super::validate::{self, Problem};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// A definition together with its compiled form schema and both sources.
#[derive(Debug)]
pub struct Workflow {
    /// The validated definition.
    pub definition: Definition,
    /// The compiled form schema.
    pub form: FormSchema,
    /// YAML source, kept so the exact version can be stored and rebuilt.
    pub yaml: String,
    /// Form schema source.
    pub schema_json: String,
}

impl Workflow {
    /// Validates a definition and compiles its form schema.
    pub fn build(file: &str, yaml: &str, schema_json: &str) -> Result<Self, Vec<Problem>> {
        let mut definition = validate::load(file, yaml)?;
        let problem = |message: String| {
            vec![Problem {
                file: file.to_owned(),
                line: None,
                item: format!("form_schema {}", definition.form_schema),
                code: "bad_form_schema",
                message,
            }]
        };
        let schema: serde_json::Value =
            serde_json::from_str(schema_json).map_err(|e| problem(e.to_string()))?;
        let form = FormSchema::compile(&schema).map_err(|e| problem(e.to_string()))?;
        definition.hash = content_hash(yaml, schema_json);
        Ok(Self {
            definition,
            form,
            yaml: yaml.to_owned(),
            schema_json: schema_json.to_owned(),
        })
    }

    /// Reads a workflow file and the schema it names from `schemas_dir`.
    pub fn read(path: &Path, schemas_dir: &Path) -> Result<Self, Vec<Problem>> {
        let file = path.display().to_string();
        let io_problem = |item: String, e: std::io::Error| {
            vec![Problem {
                file: file.clone(),
                line: None,
                item,
                code: "unreadable_file",
                message: e.to_string(),
            }]
        };
        let yaml = std::fs::read_to_string(path).map_err(|e| io_problem("file".into(), e))?;
        let schema_name = validate::load(&file, &yaml)?.form_schema;
        if schema_name.contains('/') || schema_name.contains('\\') || schema_name.starts_with('.') {
            return Err(vec![Problem {
                file: file.clone(),
                line: None,
                item: format!("form_schema {schema_name}"),
                code: "bad_form_schema",
                message: "form_schema must be a file name inside the schemas directory".into(),
            }]);
        }
        let schema_json = std::fs::read_to_string(schemas_dir.join(&schema_name))
            .map_err(|e| io_problem(format!("form_schema {schema_name}"), e))?;
        Self::build(&file, &yaml, &schema_json)
    }
}

/// All workflows known to a running server.
#[derive(Debug, Default)]
pub struct Catalog {
    current: BTreeMap<String, Arc<Workflow>>,
    reasons: super::reasons::Reasons,
    pinned: RwLock<HashMap<String, Arc<Workflow>>>,
}

/// The `*.yaml` files of a directory, sorted.
pub fn workflow_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

impl Catalog {
    /// Loads and validates the given files; any problem in any file refuses the whole set.
    pub fn load(files: &[PathBuf], schemas_dir: &Path) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut current: BTreeMap<String, Arc<Workflow>> = BTreeMap::new();
        for path in files {
            match Workflow::read(path, schemas_dir) {
                Ok(w) => match current.entry(w.definition.id.clone()) {
                    std::collections::btree_map::Entry::Occupied(e) => problems.push(Problem {
                        file: path.display().to_string(),
                        line: None,
                        item: format!("id {}", e.key()),
                        code: "duplicate_workflow",
                        message: "another file already defines this workflow".into(),
                    }),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(Arc::new(w));
                    }
                },
                Err(mut p) => problems.append(&mut p),
            }
        }
        if !problems.is_empty() {
            problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(problems);
        }
        let pinned = current
            .values()
            .map(|w| (w.definition.hash.clone(), Arc::clone(w)))
            .collect();
        Ok(Self {
            current,
            reasons: super::reasons::Reasons::default(),
            pinned: RwLock::new(pinned),
        })
    }

    /// Loads the workflows and the catalogue of rejection reasons of `workflows_dir`
    /// ([`super::reasons::FILE`]), every workflow that needs a reason from it finding one.
    pub fn load_with_reasons(
        files: &[PathBuf],
        schemas_dir: &Path,
        workflows_dir: &Path,
    ) -> Result<Self, Vec<Problem>> {
        let loaded = Self::load(files, schemas_dir);
        let reasons = super::reasons::Reasons::read_dir(workflows_dir);
        let (mut catalog, reasons) = match (loaded, reasons) {
            (Ok(c), Ok(r)) => (c, r),
            (c, r) => {
                let mut problems = c.err().unwrap_or_default();
                problems.extend(r.err().unwrap_or_default());
                return Err(problems);
            }
        };
        let mut problems = Vec::new();
        for w in catalog.current.values() {
            let def = &w.definition;
            let needs = def
                .transitions
                .iter()
                .any(|t| t.guards.iter().any(|g| g == "reasons_given"));
            if needs && reasons.for_workflow(&def.id).next().is_none() {
                problems.push(Problem {
                    file: super::reasons::FILE.to_owned(),
                    line: None,
                    item: format!("workflow {}", def.id),
                    code: "no_rejection_reasons",
                    message: format!(
                        "a transition needs a reason from {}, which has none for this workflow",
                        super::reasons::FILE
                    ),
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        catalog.reasons = reasons;
        Ok(catalog)
    }

    /// The catalogue of rejection reasons.
    pub fn reasons(&self) -> &super::reasons::Reasons {
        &self.reasons
    }

    /// The version new cases of workflow `id` start with.
    pub fn current(&self, id: &str) -> Option<Arc<Workflow>> {
        self.current.get(id).cloned()
    }

    /// The ids of the workflows whose cases `audience` sees (by their current versions).
    pub fn seen_by(&self, audience: super::visibility::Audience) -> Vec<String> {
        self.current
            .values()
            .filter(|w| w.definition.visible_to.contains(&audience))
            .map(|w| w.definition.id.clone())
            .collect()
    }

    /// Current versions of all workflows, by id.
    pub fn list(&self) -> impl Iterator<Item = &Arc<Workflow>> {
        self.current.values()
    }

    /// A pinned version already in memory.
    pub fn pinned(&self, hash: &str) -> Option<Arc<Workflow>> {
        self.pinned.read().ok()?.get(hash).cloned()
    }

    /// Remembers a pinned version rebuilt from storage.
    pub fn remember(&self, workflow: Workflow) -> Arc<Workflow> {
        let w = Arc::new(workflow);
        if let Ok(mut map) = self.pinned.write() {
            map.insert(w.definition.hash.clone(), Arc::clone(&w));
        }
        w
    }
}
