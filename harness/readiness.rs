//! Production readiness: governance, infrastructure, observability and data quality, each
//! scored 1 to 5 from facts about the prompt and its repository. Each dimension starts at 1
//! and gains a point per fact that holds (four facts each); every score comes with the facts
//! that earned it and what would raise it. Pure: the facts are gathered by `ops`.

use serde::{Deserialize, Serialize};

/// The four dimensions, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    /// Who owns it, who is called, its tier, its approvals.
    Governance,
    /// Timeouts, retries, cost control, CI.
    Infrastructure,
    /// A baseline to watch, thresholds, a scheduled monitor.
    Observability,
    /// The suites: size, kinds, coverage, fresh traffic.
    DataQuality,
}

impl Dimension {
    /// The dimension as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "governance",
            Self::Infrastructure => "infrastructure",
            Self::Observability => "observability",
            Self::DataQuality => "data-quality",
        }
    }
}

/// One fact about the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// The dimension it counts for.
    pub dimension: Dimension,
    /// Whether it holds.
    pub holds: bool,
    /// What was found.
    pub found: String,
    /// What would make it hold (empty when it does).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub raise: String,
}

/// One dimension's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The dimension.
    pub dimension: Dimension,
    /// 1 to 5.
    pub score: u32,
    /// The facts that decided it.
    pub facts: Vec<Fact>,
}

/// A prompt's readiness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// The prompt.
    pub prompt: String,
    /// Each dimension's score.
    pub scores: Vec<Score>,
    /// Their sum, 4 to 20.
    pub total: u32,
    /// The minimum the prompt's tier requires: (total, every dimension), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<(u32, u32)>,
    /// Why it falls short of that minimum (empty when it meets it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short: Vec<String>,
}

/// Scores `facts`, and holds them to `required` (total, each dimension).
pub(crate) fn assess(prompt: &str, facts: Vec<Fact>, required: Option<(u32, u32)>) -> Assessment {
    let dimensions = [
        Dimension::Governance,
        Dimension::Infrastructure,
        Dimension::Observability,
        Dimension::DataQuality,
    ];
    let scores: Vec<Score> = dimensions
        .iter()
        .map(|&dimension| {
            let facts: Vec<Fact> = facts
                .iter()
                .filter(|f| f.dimension == dimension)
                .cloned()
                .collect();
            let held = facts.iter().filter(|f| f.holds).count() as u32;
            Score {
                dimension,
                score: (1 + held).min(5),
                facts,
            }
        })
        .collect();
    let total = scores.iter().map(|s| s.score).sum();
    let mut short = Vec::new();
    if let Some((min_total, min_each)) = required {
        if total < min_total {
            short.push(format!("total {total} is under the {min_total} required"));
        }
        for s in scores.iter().filter(|s| s.score < min_each) {
            short.push(format!(
                "{} scores {}, under the {min_each} required of every dimension",
                s.dimension.as_str(),
                s.score
            ));
        }
    }
    Assessment {
        prompt: prompt.to_string(),
        scores,
        total,
        required,
        short,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(dimension: Dimension, holds: bool) -> Fact {
        Fact {
            dimension,
            holds,
            found: String::new(),
            raise: String::new(),
        }
    }

    #[test]
    fn each_fact_that_holds_raises_its_dimension_and_the_minimum_is_enforced() {
        let facts = vec![
            fact(Dimension::Governance, true),
            fact(Dimension::Governance, true),
            fact(Dimension::Governance, false),
            fact(Dimension::Infrastructure, true),
            fact(Dimension::DataQuality, true),
            fact(Dimension::DataQuality, true),
            fact(Dimension::DataQuality, true),
            fact(Dimension::DataQuality, true),
        ];
        let a = assess("p", facts, Some((14, 3)));
        let scores: Vec<u32> = a.scores.iter().map(|s| s.score).collect();
        assert_eq!(scores, [3, 2, 1, 5]);
        assert_eq!(a.total, 11);
        assert_eq!(a.short.len(), 3, "{:?}", a.short);
        assert!(assess("p", vec![], None).short.is_empty());
    }
}
