//! `rocketmq-client-rust` 1.0.0 (crates.io) against
//! `bolide-broker --standalone`: sync, oneway, async and batch sends, push
//! consumers (concurrent and orderly), tag and SQL92 filters. `slave_failover` runs against a
//! SYNC_MASTER and its slave instead: the client's pulls fall back to the
//! slave's address once the route lists no master
//! (`MQClientInstance::find_broker_address_in_subscribe`,
//! `src/factory/mq_client_instance.rs:2512`, called with
//! `only_this_broker = false` by
//! `src/consumer/consumer_impl/pull_api_wrapper.rs:313`).
//! `transactions` drives the crate's `TransactionMQProducer` (a
//! `TransactionListener` answering local execution and check-backs).

use bolide_compat::clients::Client;
use bolide_compat::scenarios;

#[test]
fn send_and_receive() {
    scenarios::send_and_receive(Client::Rust);
}

#[test]
fn tag_filter() {
    scenarios::tag_filter(Client::Rust);
}

#[test]
fn sql92_filter() {
    scenarios::sql92_filter(Client::Rust);
}

#[test]
fn two_consumers_split() {
    scenarios::two_consumers_split(Client::Rust);
}

#[test]
fn restart_resumes() {
    scenarios::restart_resumes(Client::Rust);
}

#[test]
fn orderly() {
    scenarios::orderly(Client::Rust);
}

#[test]
fn consumer_lag() {
    scenarios::consumer_lag(Client::Rust);
}

#[test]
fn lookup() {
    scenarios::lookup(Client::Rust);
}

#[test]
fn slave_failover() {
    scenarios::slave_failover(Client::Rust);
}

#[test]
fn transactions() {
    scenarios::transactions(Client::Rust);
}
