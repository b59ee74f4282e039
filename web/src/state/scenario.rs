//! What the scenario card shows and what a finished run keeps for the report: plain state
//! (the driver that fills it is `crate::sim::scenario`).

use otalab_sim::{ExpectationResult, Expectations};

/// Where a scenario run is.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStatus {
    /// Loaded, not run.
    Loaded,
    /// Preparing the firmware and the fleet, connecting.
    Preparing,
    /// The actions and the upgrades are under way.
    Running {
        /// Milliseconds since the devices connected.
        elapsed_ms: u64,
    },
    /// Ended with every expectation held.
    Passed,
    /// Ended with some expectation broken.
    Failed,
    /// Could not run.
    Error(String),
}

/// What the scenario card shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioView {
    /// The scenario's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The file's text (run again from it).
    pub text: String,
    /// Where the run is.
    pub status: RunStatus,
    /// The expectations, judged (live while running).
    pub results: Vec<ExpectationResult>,
}

/// The scenario of the last finished run, kept for the report export.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// Scenario name.
    pub name: String,
    /// Its expectations.
    pub expect: Expectations,
    /// The run hit its time limit.
    pub timed_out: bool,
}
