//! Integration tests: the real `promptgate` binary against real git repositories in temp dirs
//! and real HTTP servers on 127.0.0.1.

mod adversarial;
mod agents;
mod architecture;
mod batch;
mod check;
mod conversations;
mod durability;
mod errors;
mod gate;
mod hardening;
mod judges;
mod messages;
mod mock;
mod mock_batches;
mod newcomer;
mod production;
mod project;
mod providers;
mod release;
mod report;
mod shards;
mod shared_cache;
mod support;
mod wire;
