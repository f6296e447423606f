//! Releases in git: version tags, labels with their history, and approvals.
//!
//! - `refs/tags/prompts/NAME@vN`: an annotated tag per promoted version, on the commit that holds
//!   it; its message carries the promotion's record (verdict, reasons, run, report digest).
//! - `refs/prompts/NAME@LABEL`: the label, pointing at the tag of the version it serves.
//! - `refs/promptgate/history/NAME@LABEL`: a chain of commits (empty tree), one per label move
//!   (promotion or rollback), authored by who moved it, with the move's record as the message.
//! - `refs/promptgate/approvals/CONTENT/ID`: one approval of exact prompt content by `ID`.
//!
//! Everything is a ref, so `git push origin 'refs/prompts/*' 'refs/promptgate/*' 'refs/tags/*'`
//! publishes the whole audit trail. A label and its history move together in one ref
//! transaction, checked against the values read before the gate ran (compare-and-swap): of two
//! racing promotions one wins and the other changes nothing.

use git2::{ObjectType, Oid, Signature};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::errors::{Error, Result};
use crate::ids::{ContentHash, PromptName};
use crate::vocabulary::Verdict;

/// The line prefix under which tag and history messages carry their JSON record.
const RECORD_PREFIX: &str = "promptgate-record: ";

/// What moved a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseAction {
    /// A new version was promoted (`promote`).
    Promote,
    /// The label went back to an earlier version (`rollback`).
    Rollback,
}

/// One move of a label, as recorded in the version tag (promotions) and the label's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelEvent {
    /// Promotion or rollback.
    pub action: ReleaseAction,
    /// The prompt.
    pub prompt: String,
    /// The label moved.
    pub label: String,
    /// The version the label points at afterwards.
    pub version: u32,
    /// The version it pointed at before, if any.
    pub from: Option<u32>,
    /// The commit holding the version's content.
    pub commit: String,
    /// The version's content hash (prompt and partials).
    pub content: String,
    /// Who moved it (`Name <email>` from git's identity).
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    /// Why (required for rollbacks and forced promotions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A promotion past a gate that did not allow it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// The gate's verdict (promotions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The gate's reasons (promotions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The check's run id (promotions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// SHA-256 of the run's report.json (promotions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_digest: Option<String>,
    /// Who approved this exact content (promotions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<String>,
    /// What the version showed before release, for `monitor` to hold production to
    /// (promotions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Baseline>,
    /// A rollback `monitor --rollback-on-breach` made on its own, the breach as its reason.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
}

/// A version's monitoring baseline, recorded with its promotion: what its outputs showed in
/// the run it was released on (a shadow run on production traffic when there is one, else the
/// gate's run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// `shadow` or `gate`: the kind of run it was measured on.
    pub source: String,
    /// That run's id.
    pub run: String,
    /// The reference-free checks of the prompt's shadow suite the outputs were held to, by
    /// kind (none without a shadow suite: then quality is not measured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// The content id of the shadow suite those checks came from, as it was at the promotion:
    /// a monitor holds production to the same checks, or does not judge quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks_digest: Option<String>,
    /// What the outputs measured.
    #[serde(flatten)]
    pub measured: Measures,
}

/// What a set of outputs measured, at release or in a window of production: the share that
/// passed the checks, the error rate, the median latency, cost and tokens per call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// Observations.
    pub records: usize,
    /// Outputs checked.
    pub checked: usize,
    /// Of those, outputs that passed every check.
    pub passed: usize,
    /// `passed / checked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<f64>,
    /// Failed calls.
    pub errors: usize,
    /// `errors / records`.
    pub error_rate: f64,
    /// Median latency, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Mean cost per call, when every record has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_call: Option<f64>,
    /// Mean tokens per call, when every record has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_call: Option<f64>,
}

/// A promoted version: its tag and its record.
#[derive(Debug, Clone, Serialize)]
pub struct Promoted {
    /// N in `vN`.
    pub version: u32,
    /// The tag's name (`prompts/NAME@vN`).
    pub tag: String,
    /// The tag object's id.
    #[serde(skip)]
    pub tag_id: Oid,
    /// The promotion's record.
    pub record: LabelEvent,
}

/// An approval of exact prompt content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approves (the `--as` id).
    pub id: String,
    /// The prompt.
    pub prompt: String,
    /// The revision it was approved at, as named.
    pub rev: String,
    /// The approved content hash (prompt and partials).
    pub content: String,
    /// The git identity that recorded it.
    pub recorded_by: String,
    /// When (RFC 3339).
    pub at: String,
    /// A note for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where a label move points the label.
#[derive(Debug, Clone, Copy)]
pub enum LabelTarget<'a> {
    /// A new version: its tag is created on this commit.
    NewVersion {
        /// The commit holding the version.
        commit: &'a str,
    },
    /// An existing version's tag (a rollback).
    Existing(Oid),
}

/// A label move planned against the refs as they were read: it happens only if neither the
/// label nor its history moved in between.
pub struct LabelMove<'a> {
    /// The prompt.
    pub name: &'a PromptName,
    /// The label.
    pub label: &'a str,
    /// What the label pointed at when read (`None`: it did not exist).
    pub expected_label: Option<Oid>,
    /// What the history pointed at when read.
    pub expected_history: Option<Oid>,
    /// The record to append.
    pub event: &'a LabelEvent,
}

/// The command that fetches the release refs from `remote` (a clone fetches none of them).
pub(crate) fn fetch_command(remote: &str) -> String {
    format!(
        "git fetch {remote} '+refs/prompts/*:refs/prompts/*' '+refs/promptgate/*:refs/promptgate/*' 'refs/tags/prompts/*:refs/tags/prompts/*'"
    )
}

impl Store {
    /// The remote this clone has fetched no release refs from, when there is one: no label ref
    /// is here and no remote's fetch refspecs carry `refs/prompts/*`, as after a plain `git
    /// clone`. Such a clone reads every prompt as never promoted.
    pub fn unfetched_release_refs(&self) -> Option<String> {
        let repo = &self.repo;
        if repo
            .references_glob("refs/prompts/*")
            .is_ok_and(|mut refs| refs.next().is_some())
        {
            return None;
        }
        let remotes = repo.remotes().ok()?;
        let names: Vec<&str> = remotes.iter().flatten().flatten().collect();
        let carries = |name: &&str| {
            repo.find_remote(name).is_ok_and(|remote| {
                remote.fetch_refspecs().is_ok_and(|specs| {
                    specs
                        .iter()
                        .flatten()
                        .flatten()
                        .any(|s| s.contains("refs/prompts/"))
                })
            })
        };
        match names.iter().any(carries) {
            true => None,
            false => names.first().map(|name| (*name).to_string()),
        }
    }

    /// The tag name of version `n` of `name`.
    pub fn version_tag(&self, name: &PromptName, n: u32) -> String {
        format!("prompts/{}@v{n}", self.ref_name(name))
    }

    fn history_ref(&self, name: &PromptName, label: &str) -> String {
        format!("refs/promptgate/history/{}@{label}", self.ref_name(name))
    }

    fn approvals_prefix(content: &ContentHash) -> String {
        format!("refs/promptgate/approvals/{}/", content.as_str())
    }

    /// Who is acting: git's configured identity.
    pub fn signature(&self) -> Result<Signature<'static>> {
        self.repo.signature().map_err(|_| {
            Error::Usage(
                "git has no identity to record who did this: set `git config user.name` and `git config user.email`"
                    .into(),
            )
        })
    }

    /// Every promoted version of `name`, oldest first.
    pub fn promoted(&self, name: &PromptName) -> Result<Vec<Promoted>> {
        let prefix = format!("refs/tags/prompts/{}@v", self.ref_name(name));
        let mut out = Vec::new();
        for reference in self.repo.references_glob(&format!("{prefix}*"))? {
            let reference = reference?;
            let Ok(full) = reference.name() else {
                continue;
            };
            let Some(n) = full
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Some(tag_id) = reference.target() else {
                continue;
            };
            let Ok(tag) = self.repo.find_tag(tag_id) else {
                continue;
            };
            let Some(record) = tag
                .message()
                .ok()
                .flatten()
                .and_then(parse_record::<LabelEvent>)
            else {
                continue;
            };
            out.push(Promoted {
                version: n,
                tag: self.version_tag(name, n),
                tag_id,
                record,
            });
        }
        out.sort_by_key(|p| p.version);
        Ok(out)
    }

    /// Where `name@label` points (the raw ref target), if the label exists.
    pub fn label_target(&self, name: &PromptName, label: &str) -> Option<Oid> {
        self.repo
            .find_reference(&self.label_ref(name, label))
            .ok()
            .and_then(|r| r.target())
    }

    /// The labels `name` has, sorted.
    pub fn labels(&self, name: &PromptName) -> Result<Vec<String>> {
        let prefix = format!("refs/prompts/{}@", self.ref_name(name));
        let mut labels = Vec::new();
        for reference in self.repo.references_glob(&format!("{prefix}*"))? {
            if let Some(label) = reference?.name().ok().and_then(|n| n.strip_prefix(&prefix)) {
                labels.push(label.to_string());
            }
        }
        labels.sort();
        Ok(labels)
    }

    /// The tip of `name@label`'s history, if it has one.
    pub fn history_tip(&self, name: &PromptName, label: &str) -> Option<Oid> {
        self.repo
            .find_reference(&self.history_ref(name, label))
            .ok()
            .and_then(|r| r.target())
    }

    /// Every move of `name@label`, oldest first.
    pub fn history(&self, name: &PromptName, label: &str) -> Result<Vec<LabelEvent>> {
        let mut events = Vec::new();
        let mut next = self.history_tip(name, label);
        while let Some(id) = next {
            let commit = self.repo.find_commit(id)?;
            if let Some(event) = commit.message().ok().and_then(parse_record::<LabelEvent>) {
                events.push(event);
            }
            next = commit.parent_id(0).ok();
        }
        events.reverse();
        Ok(events)
    }

    /// Moves the label and appends the move to its history; for a promotion (`tag_commit`),
    /// also creates the version's annotated tag on that commit and points the label at it.
    /// All of it happens in one ref transaction, and only if neither the label nor its history
    /// moved since `m` was planned and the version's tag does not exist yet: a promotion that
    /// loses a race changes nothing. `to` is the tag to point at for a rollback. Returns the tag
    /// the label now points at.
    pub fn move_label(
        &self,
        m: &LabelMove<'_>,
        to: LabelTarget<'_>,
        signature: &Signature<'_>,
    ) -> Result<Oid> {
        let e = m.event;
        let label_ref = self.label_ref(m.name, m.label);
        let history_ref = self.history_ref(m.name, m.label);
        let tag_name = self.version_tag(m.name, e.version);
        let tag_ref = format!("refs/tags/{tag_name}");
        let race = || {
            Error::refused(format!(
                "{}@{} moved while this ran (another promotion or rollback); nothing was changed",
                m.name, m.label
            ))
        };
        let mut tx = self.repo.transaction()?;
        let mut locked = vec![&label_ref, &history_ref];
        if matches!(to, LabelTarget::NewVersion { .. }) {
            locked.push(&tag_ref);
        }
        for r in locked {
            tx.lock_ref(r).map_err(|err| match err.code() {
                git2::ErrorCode::Locked => race(),
                _ => err.into(),
            })?;
        }
        let current = |r: &str| self.repo.find_reference(r).ok().and_then(|r| r.target());
        if current(&label_ref) != m.expected_label || current(&history_ref) != m.expected_history {
            return Err(race());
        }
        let target = match to {
            LabelTarget::Existing(tag) => tag,
            LabelTarget::NewVersion { commit } => {
                if current(&tag_ref).is_some() {
                    return Err(Error::refused(format!(
                        "another promotion of {} created {tag_name} first; nothing was changed (rerun to promote on top of it)",
                        m.name
                    )));
                }
                let object = self
                    .repo
                    .find_object(Oid::from_str(commit)?, Some(ObjectType::Commit))?;
                let message = format!(
                    "{} {tag_name} to {}{}\n\n{}",
                    if e.forced { "force-promote" } else { "promote" },
                    e.label,
                    e.verdict
                        .map(|v| format!(" (gate: {})", v.as_str()))
                        .unwrap_or_default(),
                    record_line(e)?
                );
                let tag = self
                    .repo
                    .tag_annotation_create(&tag_name, &object, signature, &message)?;
                tx.set_target(&tag_ref, tag, Some(signature), "promptgate promote")?;
                tag
            }
        };
        let tree = self.repo.find_tree(self.repo.treebuilder(None)?.write()?)?;
        let parents: Vec<git2::Commit<'_>> = m
            .expected_history
            .map(|id| self.repo.find_commit(id))
            .transpose()?
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let summary = match e.action {
            ReleaseAction::Promote => format!(
                "{}@{}: {}promote v{}",
                e.prompt,
                e.label,
                if e.forced { "force-" } else { "" },
                e.version
            ),
            ReleaseAction::Rollback => format!(
                "{}@{}: rollback v{} -> v{}",
                e.prompt,
                e.label,
                e.from.unwrap_or_default(),
                e.version
            ),
        };
        let message = format!("{summary}\n\n{}", record_line(e)?);
        let entry = self
            .repo
            .commit(None, signature, signature, &message, &tree, &parents)?;
        tx.set_target(&history_ref, entry, Some(signature), &summary)?;
        tx.set_target(&label_ref, target, Some(signature), &summary)?;
        tx.commit().map_err(|err| match err.code() {
            git2::ErrorCode::Locked => race(),
            _ => err.into(),
        })?;
        Ok(target)
    }

    /// Records `approval` (one ref per approver and content: approving twice changes nothing).
    pub fn approve(&self, content: &ContentHash, approval: &Approval) -> Result<()> {
        let name = format!("{}{}", Self::approvals_prefix(content), approval.id);
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._-@".contains(c);
        // One ref per id: a `/` would let one approver write several.
        if !approval.id.chars().all(allowed) || !git2::Reference::is_valid_name(&name) {
            return Err(Error::Usage(format!(
                "`{}` cannot name an approver: use letters, digits, `.`, `_`, `-` or `@`",
                approval.id
            )));
        }
        let blob = self.repo.blob(record_line(approval)?.as_bytes())?;
        self.repo
            .reference(&name, blob, true, "promptgate approve")?;
        Ok(())
    }

    /// The approvals of exactly `content`, by approver id.
    pub fn approvals(&self, content: &ContentHash) -> Result<Vec<Approval>> {
        let mut out = Vec::new();
        for reference in self
            .repo
            .references_glob(&format!("{}*", Self::approvals_prefix(content)))?
        {
            let Some(id) = reference?.target() else {
                continue;
            };
            let blob = self.repo.find_blob(id)?;
            if let Some(a) = std::str::from_utf8(blob.content())
                .ok()
                .and_then(parse_record::<Approval>)
            {
                out.push(a);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

fn record_line(record: &impl Serialize) -> Result<String> {
    let json = serde_json::to_string(record).map_err(Error::encode("a release record"))?;
    Ok(format!("{RECORD_PREFIX}{json}"))
}

fn parse_record<T: for<'de> Deserialize<'de>>(message: &str) -> Option<T> {
    message
        .lines()
        .find_map(|l| l.strip_prefix(RECORD_PREFIX))
        .and_then(|json| serde_json::from_str(json).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::exit;

    fn repo_with_commit() -> (tempfile::TempDir, Store, String) {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let mut config = repo.config().unwrap();
        config.set_str("user.name", "T").unwrap();
        config.set_str("user.email", "t@example.test").unwrap();
        let tree = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let sig = repo.signature().unwrap();
        let commit = repo
            .commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
            .unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store, commit.to_string())
    }

    fn event(version: u32, commit: &str) -> LabelEvent {
        LabelEvent {
            action: ReleaseAction::Promote,
            prompt: "p".into(),
            label: "production".into(),
            version,
            from: None,
            commit: commit.into(),
            content: "c".into(),
            by: "T <t@example.test>".into(),
            at: "2026-11-21T00:00:00Z".into(),
            reason: None,
            forced: false,
            verdict: Some(Verdict::Pass),
            reasons: vec![],
            run: None,
            report_digest: None,
            approvals: vec![],
            baseline: None,
            automatic: false,
        }
    }

    #[test]
    fn a_label_moves_only_from_the_state_it_was_read_in() {
        let (_dir, store, commit) = repo_with_commit();
        let name = PromptName::new("p");
        let sig = store.signature().unwrap();
        let (first, second) = (event(1, &commit), event(2, &commit));
        // Both were planned against a label that did not exist yet.
        let plan = |event| LabelMove {
            name: &name,
            label: "production",
            expected_label: None,
            expected_history: None,
            event,
        };
        let new = LabelTarget::NewVersion { commit: &commit };
        let tag1 = store.move_label(&plan(&first), new, &sig).unwrap();
        let lost = store.move_label(&plan(&second), new, &sig).unwrap_err();
        assert_eq!(lost.exit_code(), exit::REFUSED);
        assert!(lost.to_string().contains("moved while this ran"), "{lost}");
        assert_eq!(store.label_target(&name, "production"), Some(tag1));
        assert_eq!(
            store.history(&name, "production").unwrap(),
            vec![first.clone()]
        );
        // Planned on the current state, but the number is taken: refused, nothing changed.
        let current = LabelMove {
            expected_label: Some(tag1),
            expected_history: store.history_tip(&name, "production"),
            ..plan(&first)
        };
        let taken = store.move_label(&current, new, &sig).unwrap_err();
        assert_eq!(taken.exit_code(), exit::REFUSED);
        assert!(
            taken.to_string().contains("created prompts/p@v1 first"),
            "{taken}"
        );
        assert_eq!(store.history(&name, "production").unwrap().len(), 1);
        let versions: Vec<u32> = store
            .promoted(&name)
            .unwrap()
            .iter()
            .map(|p| p.version)
            .collect();
        assert_eq!(versions, [1]);
    }

    #[test]
    fn approvals_are_per_content_and_per_approver() {
        let (_dir, store, _) = repo_with_commit();
        let content = ContentHash::of("prompt text");
        let approval = |id: &str| Approval {
            id: id.into(),
            prompt: "p".into(),
            rev: "HEAD".into(),
            content: content.as_str().into(),
            recorded_by: "T".into(),
            at: "now".into(),
            note: None,
        };
        store.approve(&content, &approval("alice")).unwrap();
        store.approve(&content, &approval("alice")).unwrap();
        store.approve(&content, &approval("bob")).unwrap();
        let ids: Vec<String> = store
            .approvals(&content)
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["alice", "bob"]);
        assert!(
            store
                .approvals(&ContentHash::of("other text"))
                .unwrap()
                .is_empty()
        );
        assert!(store.approve(&content, &approval("a..b")).is_err());
        assert!(store.approve(&content, &approval("alice/again")).is_err());
    }
}
