//! The messages users meet most, asserted in full: what is wrong, where, and how to fix it.
//! A change to any of them is a change to the product, and shows up here.

use crate::support::{Project, TRIAGE_PROMPT, TRIAGE_SUITE};

#[test]
fn a_front_matter_that_never_closes() {
    Project::triage()
        .with(
            "prompts/support/triage.prompt",
            "---\nmodel: x\n\nHello {{message}}\n",
        )
        .promptgate(&["validate"])
        .exits(2)
        .stderr_is(
            "error: prompts/support/triage.prompt:1:1: the front matter opened with `---` on line 1 is never closed\n  help: end it with a line of `---` before the template\n",
        );
}

#[test]
fn a_tolerance_written_as_a_percentage() {
    Project::triage()
        .with(
            "suites/triage.yaml",
            &TRIAGE_SUITE.replace("cases:", "tolerance: { max_pass_rate_drop: 7 }\ncases:"),
        )
        .promptgate(&["validate"])
        .exits(2)
        .stderr_is(
            "error: suites/triage.yaml:3:12: tolerance `max_pass_rate_drop: 7` is a fraction of 1 (0.02 is two points); write 0.07\n",
        );
}

#[test]
fn a_misspelt_suite_on_the_command_line() {
    Project::triage()
        .promptgate(&["check", "--all", "--suite", "traige"])
        .exits(2)
        .stderr_is("error: unknown suite `traige`; did you mean `triage`? suites: triage\n");
}

#[test]
fn a_provider_without_a_model_and_a_pasted_key() {
    let key = "sk-live-0123456789abcdef";
    Project::triage()
        .with(
            "promptgate.yaml",
            &format!("providers:\n  gpt:\n    kind: openai\n    api_key_env: \"{key}\"\n"),
        )
        .promptgate(&["validate"])
        .exits(2)
        .stderr_is(
            "error: promptgate.yaml:3:5: provider `gpt` of kind openai has no `model`\n  help: add `model: NAME` (the model the server serves)\n",
        )
        .never_shows(key);
}

#[test]
fn an_unknown_prompt_with_a_near_name() {
    Project::new()
        .with("prompts/support/triage.prompt", TRIAGE_PROMPT)
        .committed("add triage")
        .promptgate(&["show", "support/traige"])
        .exits(2)
        .stderr_has(&["no prompt named `support/traige`", "support/triage"]);
}
