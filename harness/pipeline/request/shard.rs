//! One shard of a check, as the command line or the CI engine's environment names it.

use sha2::{Digest, Sha256};

use crate::pipeline::project::Env;

/// One shard of a check: `index` of `total`, counted from 1 (as nextest, Playwright and GitLab
/// count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    /// 1 to `total`.
    pub index: u32,
    /// How many shards.
    pub total: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, with 1 ≤ I ≤ N.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let (index, total) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: a shard is I/N (for example 2/4), or `auto`"))?;
        let number = |n: &str| {
            n.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}`: `{n}` is not a whole number"))
        };
        Self::new(number(index)?, number(total)?)
    }
}

impl Shard {
    fn new(index: u32, total: u32) -> std::result::Result<Self, String> {
        if total == 0 || index == 0 || index > total {
            return Err(format!(
                "shard {index}/{total}: the index counts from 1 to the total"
            ));
        }
        Ok(Self { index, total })
    }

    /// The shard the CI engine's environment names (`--shard auto`): GitLab's
    /// `CI_NODE_INDEX`/`CI_NODE_TOTAL`, a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`
    /// (0-based) with `PROMPTGATE_SHARD_TOTAL`, or `PROMPTGATE_SHARD_INDEX` (1-based) with
    /// `PROMPTGATE_SHARD_TOTAL`.
    pub fn from_env(env: &Env) -> std::result::Result<Self, String> {
        let get = |key: &str| env.get(key).filter(|v| !v.trim().is_empty());
        let number = |key: &str, value: &String| {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("{key}={value} is not a whole number"))
        };
        let total = |key: &str| -> std::result::Result<u32, String> {
            let value = get(key).ok_or_else(|| format!("{key} is not set"))?;
            number(key, value)
        };
        if let Some(index) = get("PROMPTGATE_SHARD_INDEX") {
            return Self::new(
                number("PROMPTGATE_SHARD_INDEX", index)?,
                total("PROMPTGATE_SHARD_TOTAL")?,
            );
        }
        if let Some(index) = get("CI_NODE_INDEX") {
            return Self::new(number("CI_NODE_INDEX", index)?, total("CI_NODE_TOTAL")?);
        }
        if let Some(index) = get("JOB_COMPLETION_INDEX") {
            let total = total("PROMPTGATE_SHARD_TOTAL").map_err(|e| {
                format!("{e}: a Kubernetes Indexed Job names its index, not its completions")
            })?;
            return Self::new(number("JOB_COMPLETION_INDEX", index)? + 1, total);
        }
        Err("`--shard auto` found no shard in the environment: set CI_NODE_INDEX and CI_NODE_TOTAL (GitLab `parallel:`), JOB_COMPLETION_INDEX and PROMPTGATE_SHARD_TOTAL (a Kubernetes Indexed Job), or PROMPTGATE_SHARD_INDEX and PROMPTGATE_SHARD_TOTAL".into())
    }

    /// Whether the case `case` of suite `suite` is this shard's. All of a case's samples, on
    /// both versions, go with it; a new case moves no other.
    pub(crate) fn holds(&self, suite: &str, case: &str) -> bool {
        let digest = Sha256::new()
            .chain_update(suite.as_bytes())
            .chain_update([0])
            .chain_update(case.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.total) == u64::from(self.index - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_is_in_exactly_one_shard_and_new_cases_move_no_other() {
        let shards: Vec<Shard> = (1..=4).map(|i| Shard::new(i, 4).unwrap()).collect();
        let mut counts = [0; 4];
        for i in 0..400 {
            let id = format!("case-{i}");
            let holders: Vec<usize> = (0..4).filter(|&s| shards[s].holds("triage", &id)).collect();
            assert_eq!(holders.len(), 1, "{id}");
            counts[holders[0]] += 1;
        }
        assert!(counts.iter().all(|&c| c > 60), "balanced: {counts:?}");
        // The shard of a case depends on nothing but its suite and id.
        assert!(shards.iter().any(|s| s.holds("triage", "case-7")));
        assert_eq!(
            shards.iter().position(|s| s.holds("triage", "case-7")),
            shards.iter().position(|s| s.holds("triage", "case-7"))
        );
    }

    #[test]
    fn shards_are_read_from_the_flag_and_from_each_engine() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, total: 4 }));
        for bad in ["0/4", "5/4", "2", "a/4", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let env = |pairs: &[(&str, &str)]| -> Env {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let gitlab = env(&[("CI_NODE_INDEX", "3"), ("CI_NODE_TOTAL", "5")]);
        assert_eq!(Shard::from_env(&gitlab), Ok(Shard { index: 3, total: 5 }));
        let k8s = env(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("PROMPTGATE_SHARD_TOTAL", "4"),
        ]);
        assert_eq!(Shard::from_env(&k8s), Ok(Shard { index: 1, total: 4 }));
        let own = env(&[
            ("PROMPTGATE_SHARD_INDEX", "4"),
            ("PROMPTGATE_SHARD_TOTAL", "4"),
        ]);
        assert_eq!(Shard::from_env(&own), Ok(Shard { index: 4, total: 4 }));
        let half = env(&[("JOB_COMPLETION_INDEX", "1")]);
        assert!(
            Shard::from_env(&half)
                .unwrap_err()
                .contains("PROMPTGATE_SHARD_TOTAL is not set")
        );
        assert!(
            Shard::from_env(&env(&[]))
                .unwrap_err()
                .contains("found no shard")
        );
    }
}
